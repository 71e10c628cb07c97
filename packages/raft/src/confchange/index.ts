export {
  Changer,
  ConfChangeError,
  type ChangerTracker,
  checkInvariants,
  type ConfigAndProgress,
  describeConfChanges,
} from './confchange.js';
export { restore, toConfChangeSingle } from './restore.js';
export { confChangesFromString, confChangesToString } from './strings.js';

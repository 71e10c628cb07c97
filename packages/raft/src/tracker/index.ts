export { Inflights } from './inflights.js';
export {
  Progress,
  type ProgressInit,
  type ProgressMap,
  progressMapString,
  StateType,
  stateTypeString,
} from './progress.js';
export { ProgressTracker, TrackerConfig, type VoteTally } from './tracker.js';

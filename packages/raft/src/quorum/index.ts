export { JointConfig } from './joint.js';
export { MajorityConfig } from './majority.js';
export {
  type AckedIndexer,
  compareBigint,
  type Index,
  indexString,
  mapAckIndexer,
  MaxIndex,
  sortedIds,
  VoteResult,
  voteResultString,
} from './quorum.js';

// @kv/raft: the Raft consensus core as a deterministic state machine (see docs/raft.md).

// ---- raft core ----
export {
  BootstrapError,
  ErrCompacted,
  ErrProposalDropped,
  ErrSnapOutOfDate,
  ErrSnapshotTemporarilyUnavailable,
  ErrStepLocalMsg,
  ErrStepPeerNotFound,
  ErrUnavailable,
  RaftError,
  RaftPanic,
} from './errors.js';
export { maxIndex, maxTerm } from './limits.js';
export { MemoryStorage, type InitialState, type Storage } from './storage.js';
export { Unstable } from './log_unstable.js';
export { RaftLog } from './log.js';
export { ReadOnly, type ReadIndexStatus, type ReadState } from './read_only.js';
export { None, noLimit, RaftState, raftStateString, ReadOnlyOption, type SoftState } from './state.js';
export { seededRandom, type RandomSource } from './rand.js';
export { discardLogger, type Logger } from './logger.js';
export { CampaignType, Raft, type Config } from './raft.js';
export {
  mustSync,
  type Peer,
  ProgressType,
  RawNode,
  type Ready,
  readyContainsUpdates,
  SnapshotStatus,
} from './rawnode.js';
export { getBasicStatus, getStatus, statusToJSON, type BasicStatus, type Status } from './status.js';
export {
  confChangeAsV2,
  confChangeEnterJoint,
  confChangeLeaveJoint,
  type ConfChangeI,
  confStatesEquivalent,
  describeConfState,
  describeEntries,
  describeEntry,
  describeHardState,
  describeMessage,
  describeReady,
  describeSnapshot,
  describeSoftState,
  emptyConfState,
  emptyHardState,
  emptySnapshot,
  type EntryFormatter,
  entryConfChangeV2,
  entrySize,
  isEmptyHardState,
  isEmptySnap,
  isHardStateEqual,
  isLocalMsg,
  isResponseMsg,
  limitSize,
  marshalConfChange,
  newEntry,
  newMessage,
  payloadSize,
  voteRespMsgType,
} from './util.js';
// ---- end raft core ----

// ---- quorum/tracker/confchange ----
export {
  type AckedIndexer,
  type Index,
  indexString,
  JointConfig,
  MajorityConfig,
  mapAckIndexer,
  MaxIndex,
  VoteResult,
  voteResultString,
} from './quorum/index.js';
export {
  Inflights,
  Progress,
  type ProgressInit,
  type ProgressMap,
  progressMapString,
  ProgressTracker,
  StateType,
  stateTypeString,
  TrackerConfig,
  type VoteTally,
} from './tracker/index.js';
export {
  Changer,
  type ChangerTracker,
  ConfChangeError,
  type ConfigAndProgress,
  confChangesFromString,
  confChangesToString,
  describeConfChanges,
  restore,
} from './confchange/index.js';
// ---- end quorum/tracker/confchange ----

// The whole-cluster simulation (src/rafttest/) is test support: not part of the package or its
// dist; its tests import it by relative path.

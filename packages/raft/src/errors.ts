// Errors raised by the raft core and its storage. They are sentinel values: callers compare by
// identity (`err === ErrCompacted`), exactly as the texts below are compared in etcd.

/** Base class of every error this package throws on purpose. */
export class RaftError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftError';
  }
}

/** Storage: the requested index precedes the first retained entry (it was compacted away). */
export const ErrCompacted = new RaftError('requested index is unavailable due to compaction');

/** Storage: a snapshot at or below the requested index already exists. */
export const ErrSnapOutOfDate = new RaftError('requested index is older than the existing snapshot');

/** Storage: the requested entry lies past the last index held. */
export const ErrUnavailable = new RaftError('requested entry at index is unavailable');

/**
 * Storage: the snapshot is being produced and is not ready yet. Raft reacts by postponing the
 * snapshot send to the lagging follower and trying again later.
 */
export const ErrSnapshotTemporarilyUnavailable = new RaftError('snapshot is temporarily unavailable');

/**
 * A proposal was ignored (no leader known, forwarding disabled, a leadership transfer in
 * progress, the uncommitted-size budget exhausted, or this node was removed). The proposer may retry.
 */
export const ErrProposalDropped = new RaftError('raft proposal dropped');

/** RawNode.step was handed a message type that only the node itself may generate. */
export const ErrStepLocalMsg = new RaftError('raft: cannot step raft local message');

/** RawNode.step got a response from a node that has no progress entry (not in the config). */
export const ErrStepPeerNotFound = new RaftError('raft: cannot step as peer not found');

/** Returned by RawNode.bootstrap for misuse (non-empty storage, no peers). */
export class BootstrapError extends RaftError {
  constructor(message: string) {
    super(message);
    this.name = 'BootstrapError';
  }
}

/**
 * A broken internal invariant or a caller violating the contract (for example asking for a slice
 * outside the log). It corresponds to a panic in etcd: the node must not continue.
 */
export class RaftPanic extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'RaftPanic';
  }
}

/** Throws a RaftPanic; typed `never` so that it can end an expression branch. */
export function panic(message: string): never {
  throw new RaftPanic(message);
}

// The role a raft node plays, and its volatile (never persisted) view of leadership.

/** Role of a node. Numbering follows etcd so that dumps line up. */
export enum RaftState {
  Follower = 0,
  Candidate = 1,
  Leader = 2,
  PreCandidate = 3,
}

const stateNames: Record<RaftState, string> = {
  [RaftState.Follower]: 'StateFollower',
  [RaftState.Candidate]: 'StateCandidate',
  [RaftState.Leader]: 'StateLeader',
  [RaftState.PreCandidate]: 'StatePreCandidate',
};

/** "StateFollower", "StateLeader", ... (the names etcd prints). */
export function raftStateString(s: RaftState): string {
  return stateNames[s] ?? `RaftState(${s})`;
}

/**
 * Volatile state: who we think the leader is, and our own role. Not persisted; reported in a
 * Ready only when it changed.
 */
export interface SoftState {
  /** Leader id as known locally, 0n (None) when unknown. */
  lead: bigint;
  raftState: RaftState;
}

/** Placeholder id meaning "no node" (no leader, no vote). Real ids are never 0. */
export const None = 0n;

/** A size limit meaning "unbounded" (etcd's math.MaxUint64). */
export const noLimit = 0xffff_ffff_ffff_ffffn;

/** How read-only (ReadIndex) requests are confirmed. */
export enum ReadOnlyOption {
  /**
   * Each read index is confirmed by a heartbeat round acknowledged by a quorum, so it is
   * linearizable without any clock assumption. The default.
   */
  Safe = 0,
  /**
   * The leader answers from its commit index relying on its lease (check-quorum must be on);
   * unsafe under unbounded clock drift.
   */
  LeaseBased = 1,
}

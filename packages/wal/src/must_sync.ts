// raft's MustSync rule, kept here until @kv/raft exports it.
import { raftpb } from '@kv/api';

/**
 * Whether persisting (hardState, entries) must be fsynced before raft may act on it. Term and
 * vote must be durable before a vote is cast or a term is acted on, and appended entries before
 * they are acknowledged; a change of commit alone can be recomputed after a crash (the leader
 * tells us again), so it may sit in the page cache.
 */
export function mustSync(prev: raftpb.HardState, next: raftpb.HardState, entryCount: number): boolean {
  return entryCount !== 0 || next.vote !== prev.vote || next.term !== prev.term;
}

export function isEmptyHardState(s: raftpb.HardState): boolean {
  return s.term === 0n && s.vote === 0n && s.commit === 0n;
}

export const EMPTY_HARD_STATE: Readonly<raftpb.HardState> = Object.freeze({ term: 0n, vote: 0n, commit: 0n });

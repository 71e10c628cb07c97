// Hard-state helpers. Whether a write must be fsynced is raft's rule (`mustSync` from @kv/raft).
import type { raftpb } from '@kv/api';

export function isEmptyHardState(s: raftpb.HardState): boolean {
  return s.term === 0n && s.vote === 0n && s.commit === 0n;
}

export const EMPTY_HARD_STATE: Readonly<raftpb.HardState> = Object.freeze({ term: 0n, vote: 0n, commit: 0n });

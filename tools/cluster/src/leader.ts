// Waiting for a cluster to agree on its leader, for the tests and scripts that drive one.
import type { Client } from '@kv/client';
import { until } from './until.js';

export interface AgreedLeader {
  /** Index (into the clients given) of the member they all name as leader. */
  index: number;
  /** The raft term they report. */
  term: bigint;
}

/**
 * Polls Status through every client (one per member) until all name the same leader and it is one
 * of them; `until`'s deadline otherwise.
 */
export function agreedLeader(clients: readonly Client[], timeoutMs?: number): Promise<AgreedLeader> {
  return until(
    'one agreed leader',
    async () => {
      const st = await Promise.all(clients.map((c) => c.maintenance.status({ timeoutMs: 2_000 })));
      const lead = st[0]!.leader;
      if (lead === 0n || !st.every((s) => s.leader === lead)) return undefined;
      const index = st.findIndex((s) => s.header!.memberId === lead);
      return index >= 0 ? { index, term: st[index]!.raftTerm } : undefined;
    },
    timeoutMs,
  );
}

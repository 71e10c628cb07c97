// A proposal made while the leader transfers leadership is dropped by raft and answered at once
// with raft's error (etcd: gRPC Unknown, 'raft proposal dropped') — a definite failure: it never
// entered the log. kvd used to answer 'request timed out', which a client must treat as maybe done.
import { Client } from '@kv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, SERVER_KINDS, startCluster, unavailableReason } from './index.js';
import { agreedLeader } from './leader.js';

for (const server of SERVER_KINDS) {
  const skip = unavailableReason(server);
  describe.skipIf(skip !== undefined)(`${server} cluster of three: a proposal during a leader transfer`, () => {
    let cluster: Cluster;
    const clients: Client[] = [];

    beforeAll(async () => {
      cluster = await startCluster({ server, size: 3, readyTimeoutMs: 30_000, stopTimeoutMs: 5_000 });
      for (const m of cluster.members)
        clients.push(new Client({ endpoints: [m.endpoint], requestTimeoutMs: 10_000, retry: { maxAttempts: 1 } }));
    }, 60_000);

    afterAll(async () => {
      for (const c of clients) c.close();
      await cluster?.stop();
    });

    it("is refused with 'raft proposal dropped' and not applied", async () => {
      const { index: lead } = await agreedLeader(clients, 30_000);
      const target = (lead + 1) % 3;
      const targetId = (await clients[target]!.maintenance.status({ timeoutMs: 5_000 })).header!.memberId;
      await clients[lead]!.put('transfer/before', '1', { timeoutMs: 10_000 });
      // A paused transferee never takes over: the transfer stays pending for an election timeout,
      // and the leader drops every proposal meanwhile.
      cluster.members[target]!.kill('SIGSTOP');
      try {
        const move = clients[lead]!.maintenance.moveLeader(targetId, { timeoutMs: 10_000 }).catch((e: Error) => e);
        await new Promise((r) => setTimeout(r, 100));
        const err = await clients[lead]!.put('transfer/during', '1', { timeoutMs: 10_000 }).then(
          () => undefined,
          (e: { details?: string; message?: string }) => e.details ?? e.message,
        );
        expect(err).toBe('raft proposal dropped');
        await move;
      } finally {
        cluster.members[target]!.kill('SIGCONT');
      }
      await agreedLeader(clients, 30_000);
      const r = await clients[lead]!.get('transfer/during', { timeoutMs: 10_000 });
      expect(r.kvs).toEqual([]);
    }, 90_000);
  });
}

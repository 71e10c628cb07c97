// --auto-compaction-mode periodic on three real members, kvd beside etcd 3.4 with the same flags:
// with a 2 s retention the history older than about 2 s is compacted on every member (etcdctl's
// `get --rev` through each endpoint answers `required revision has been compacted`), the latest
// value is still served, and only the leader starts compactions (etcd pauses its compactor on
// followers). The sampling and retention rules themselves are table-tested on a manual clock in
// packages/server/src/compactor.test.ts.
import { Client } from '@kv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster, unavailableReason } from './index.js';
import { agreedLeader } from './leader.js';
import { etcdctl } from './testdata/auth_kit.js';
import { until } from './until.js';

// kvd logs "starting auto compaction"; etcd 3.4 "Starting auto-compaction at revision" (capnslog)
// or "starting auto periodic compaction" (zap).
const started = /starting auto[- ](periodic )?compaction/i;

for (const server of ['kvd', 'etcd'] as const) {
  const skip = unavailableReason(server);
  describe.skipIf(skip !== undefined)(`${server}: periodic auto-compaction, retention 2s, three members`, () => {
    let cluster: Cluster;
    const clients: Client[] = [];
    let lastRev = 0n;

    beforeAll(async () => {
      cluster = await startCluster({
        server,
        size: 3,
        extraArgs: ['--auto-compaction-mode=periodic', '--auto-compaction-retention=2s'],
        readyTimeoutMs: 60_000,
        stopTimeoutMs: 5_000,
      });
      for (const m of cluster.members) clients.push(new Client({ endpoints: [m.endpoint], requestTimeoutMs: 10_000 }));
      for (let i = 0; i < 5; i++) lastRev = (await clients[i % 3]!.put('ac/k', `v${i}`)).header!.revision;
    }, 120_000);

    afterAll(async () => {
      for (const c of clients) c.close();
      await cluster?.stop();
    });

    it('compacts the history older than the retention on every member, on the leader only', async () => {
      const older = (lastRev - 1n).toString();
      for (const m of cluster.members) {
        await until(
          `${m.endpoint} compacted past revision ${older}`,
          async () =>
            /required revision has been compacted/.test(await etcdctl([m.endpoint], undefined, ['get', 'ac/k', `--rev=${older}`]))
              ? true
              : undefined,
          60_000,
          500,
        );
        expect(await etcdctl([m.endpoint], undefined, ['get', 'ac/k', '--print-value-only'])).toBe('v4');
      }
      const { index } = await agreedLeader(clients);
      const logs = cluster.members.map((m) => m.logTail(5000));
      expect(logs[index], 'the leader compacts').toMatch(started);
      for (const [i, log] of logs.entries()) if (i !== index) expect(log, `follower ${i} starts no compaction`).not.toMatch(started);
    }, 120_000);
  });
}

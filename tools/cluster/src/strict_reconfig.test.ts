// --strict-reconfig-check on a real three-member cluster with one member stopped: removing a
// second, healthy member would leave one voter of two, so the member asked refuses it with etcd's
// text (`etcdserver: unhealthy cluster`); with --strict-reconfig-check=false it is accepted.
// Run against kvd and, where installed, real etcd 3.4.
import { Client } from '@kv/client';
import { afterEach, describe, expect, it } from 'vitest';
import { type Cluster, SERVER_KINDS, startCluster, unavailableReason } from './index.js';
import { until } from './until.js';

for (const server of SERVER_KINDS) {
  const skip = unavailableReason(server);
  describe.skipIf(skip !== undefined)(`${server}: --strict-reconfig-check with one of three members down`, () => {
    let cluster: Cluster | undefined;
    let client: Client | undefined;
    afterEach(async () => {
      client?.close();
      await cluster?.stop();
      cluster = client = undefined;
    });

    /** Stops m3, then asks m1 to remove m2 (healthy); resolves with the error text or 'ok'. */
    const removeHealthyWithOneDown = async (extraArgs: string[]) => {
      cluster = await startCluster({ server, size: 3, extraArgs, readyTimeoutMs: 30_000, stopTimeoutMs: 5_000 });
      client = new Client({ endpoints: [cluster.endpoints[0]!], requestTimeoutMs: 10_000 });
      const ids = new Map((await client.cluster.memberList()).members.map((m) => [m.name, m.ID]));
      // m1 must have been connected to m2 for longer than the 5 s health interval.
      await new Promise((r) => setTimeout(r, 6_000));
      await cluster.members[2]!.stop();
      return client.cluster.memberRemove(ids.get('m2')!, { timeoutMs: 10_000 }).then(
        () => 'ok',
        (e: { details?: string; message?: string }) => e.details ?? e.message,
      );
    };

    it('refuses removing a healthy member', async () => {
      expect(await removeHealthyWithOneDown([])).toBe('etcdserver: unhealthy cluster');
      // Still three members.
      expect((await client!.cluster.memberList()).members).toHaveLength(3);
    }, 90_000);

    it('accepts it with --strict-reconfig-check=false', async () => {
      expect(await removeHealthyWithOneDown(['--strict-reconfig-check=false'])).toBe('ok');
      await until('m2 gone from the list', async () => ((await client!.cluster.memberList()).members.length === 2 ? true : undefined));
    }, 90_000);
  });
}

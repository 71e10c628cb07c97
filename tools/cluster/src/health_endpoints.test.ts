// The client port's health endpoints on a real three-member cluster, kvd beside etcd 3.4: all
// healthy at first; then one member is cut off from its peers (kvd: SIGUSR2 with KVD_TEST_HOOKS=1
// drops its raft traffic; etcd: the two others are paused with SIGSTOP) and its /health turns 503
// with health "false" on both — on kvd with the reason, and `?serializable=true`, /livez stay 200
// (the member is up; the cluster is not), /readyz names the failed linearizable read. After the
// heal every member is healthy again. (etcd 3.4 has neither `reason`, `serializable`, /livez nor
// /readyz: those rows are checked on kvd only.)
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster, unavailableReason } from './index.js';
import { until } from './until.js';

interface Answer {
  status: number;
  body: string;
}

async function get(url: string, timeoutMs = 20_000): Promise<Answer> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, body: await res.text() };
}

for (const server of ['kvd', 'etcd'] as const) {
  const skip = unavailableReason(server);
  describe.skipIf(skip !== undefined)(`${server}: /health on a member cut off from its peers`, () => {
    let cluster: Cluster;
    let heal = (): void => undefined;

    beforeAll(async () => {
      if (server === 'kvd') process.env.KVD_TEST_HOOKS = '1';
      cluster = await startCluster({ server, size: 3, readyTimeoutMs: 60_000, stopTimeoutMs: 5_000 });
    }, 120_000);

    afterAll(async () => {
      heal();
      await cluster?.stop();
    });

    it('is healthy everywhere, 503 on the cut-off member, healthy again after the heal', async () => {
      for (const m of cluster.members) {
        const h = await until(`${m.name} healthy`, async () => {
          const a = await get(`${m.clientUrl}/health`);
          return a.status === 200 ? a : undefined;
        });
        expect(JSON.parse(h.body).health).toBe('true');
        if (server === 'kvd') expect(await get(`${m.clientUrl}/readyz`)).toEqual({ status: 200, body: 'ok\n' });
      }
      const cut = cluster.members[0];
      const others = cluster.members.slice(1);
      if (server === 'kvd') {
        cut.kill('SIGUSR2');
        let healed = false;
        heal = () => {
          if (!healed) cut.kill('SIGUSR2');
          healed = true;
        };
      } else {
        for (const m of others) m.kill('SIGSTOP');
        let healed = false;
        heal = () => {
          if (!healed) for (const m of others) m.kill('SIGCONT');
          healed = true;
        };
      }
      // Whether it was the leader or not, the member can no longer confirm a read through a quorum.
      const down = await until(
        `${cut.name} unhealthy`,
        async () => {
          const a = await get(`${cut.clientUrl}/health`);
          return a.status === 503 ? a : undefined;
        },
        60_000,
        500,
      );
      expect(JSON.parse(down.body).health).toBe('false');
      if (server === 'kvd') {
        expect(JSON.parse(down.body).reason).toMatch(/^(RAFT NO LEADER|RANGE ERROR:.+)$/);
        expect((await get(`${cut.clientUrl}/health?serializable=true`)).status).toBe(200);
        expect(await get(`${cut.clientUrl}/livez`)).toEqual({ status: 200, body: 'ok\n' });
        const ready = await get(`${cut.clientUrl}/readyz`);
        expect(ready.status).toBe(503);
        expect(ready.body).toMatch(/^\[\+\]data_corruption ok\n\[\+\]serializable_read ok\n\[-\]linearizable_read failed: .+\n\n$/);
      }
      heal();
      for (const m of cluster.members) {
        await until(
          `${m.name} healthy after the heal`,
          async () => ((await get(`${m.clientUrl}/health`)).status === 200 ? true : undefined),
          60_000,
          500,
        );
      }
    }, 240_000);
  });
}

// Require-leader (gRPC metadata `hasleader: true`) on a real three-member cluster, through etcd's
// own Go client (clientv3.WithRequireLeader, as Kubernetes' apiserver watches), on kvd and on
// etcd 3.4 as the oracle. One member is cut off from its peers — kvd: SIGUSR2 (KVD_TEST_HOOKS=1)
// drops its raft traffic; etcd, which has no such hook: the two others are paused (SIGSTOP) —
// and the probe, connected to that member only, sees:
// - its require-leader watch end with `etcdserver: no leader` (3 election timeouts after the member
//   lost its leader), and its require-leader keep-alive channel close;
// - a require-leader put fail with `etcdserver: no leader`;
// - a watch without require-leader stay open, and deliver what is written after the heal;
// and after the heal, require-leader calls and watches work again. The same through @kv/client's
// requireLeader option.
import { Client, NoLeaderError } from '@kv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster, unavailableReason } from './index.js';
import { agreedLeader } from './leader.js';
import { buildRlprobe, type ProbeEvent, Rlprobe, rlprobeUnavailable } from './rlprobe.js';
import { until } from './until.js';

/** kvd's and etcd's default --election-timeout. */
const electionMs = 1000;
const goSkip = rlprobeUnavailable();

for (const server of ['kvd', 'etcd'] as const) {
  const skip = unavailableReason(server) ?? goSkip;
  describe.skipIf(skip !== undefined)(`${server}: require-leader through a member cut off from its peers`, () => {
    let cluster: Cluster;
    let bin: string;
    let probe: Rlprobe | undefined;
    const clients: Client[] = [];
    /** Undoes the cut, whatever the test reached (idempotent). */
    let heal = (): void => undefined;

    beforeAll(async () => {
      bin = await buildRlprobe();
      if (server === 'kvd') process.env.KVD_TEST_HOOKS = '1'; // SIGUSR2 cuts a member off from its peers
      cluster = await startCluster({ server, size: 3, readyTimeoutMs: 30_000, stopTimeoutMs: 5_000 });
      for (const m of cluster.members) clients.push(new Client({ endpoints: [m.endpoint], requestTimeoutMs: 10_000 }));
    }, 660_000);

    afterAll(async () => {
      heal();
      await probe?.stop();
      for (const c of clients) c.close();
      await cluster?.stop();
    });

    /** Cuts member i off: kvd isolates it; for etcd the two others are paused. */
    const cut = (i: number): void => {
      if (server === 'kvd') {
        cluster.members[i].kill('SIGUSR2');
        let healed = false;
        heal = () => {
          if (!healed) cluster.members[i].kill('SIGUSR2');
          healed = true;
        };
      } else {
        const others = cluster.members.filter((_, j) => j !== i);
        for (const m of others) m.kill('SIGSTOP');
        heal = () => {
          for (const m of others) m.kill('SIGCONT');
        };
      }
    };

    const named = (ev: string, name: string) => (e: ProbeEvent) => e.ev === ev && e.name === name;

    it('ends require-leader streams with `etcdserver: no leader`, refuses require-leader puts, leaves other watches open', async () => {
      const lead = (await agreedLeader(clients)).index;
      const f = (lead + 1) % 3; // a follower: it loses its leader once cut off
      probe = await Rlprobe.start(bin, cluster.members[f].endpoint);
      probe.send('watch rl 1 rl/key');
      probe.send('watch plain 0 rl/key');
      await probe.next(named('created', 'rl'), 30_000);
      await probe.next(named('created', 'plain'), 30_000);
      const ka = await probe.request('keepalive ka 1 30', named('keepalive', 'ka'), 30_000);
      expect(ka.err).toBeUndefined();
      const ok = await probe.request('put 1 rl/key before 10000', (e) => e.ev === 'put', 30_000);
      expect(ok).toMatchObject({ ok: true });
      await probe.next((e) => e.ev === 'event' && e.name === 'plain' && e.value === 'before', 30_000);

      cut(f);
      try {
        // etcd: no leader for 3 election timeouts (after the member noticed it lost its leader,
        // within about 2 more); a generous bound, no timing is asserted.
        const closed = await probe.next(named('closed', 'rl'), 30 * electionMs);
        expect(closed.err).toBe('etcdserver: no leader');
        await probe.next(named('keepalive-closed', 'ka'), 30 * electionMs);
        const refused = await probe.request('put 1 rl/key during 10000', (e) => e.ev === 'put', 30_000);
        expect(refused).toMatchObject({ ok: false, err: 'etcdserver: no leader' });
        // The watch that did not ask for a leader is still open.
        expect(probe.events.find(named('closed', 'plain'))).toBeUndefined();
      } finally {
        heal();
      }

      await agreedLeader(clients, 60_000);
      const after = await until('require-leader put after the heal', async () => {
        const r = await probe!.request('put 1 rl/key after 10000', (e) => e.ev === 'put', 30_000);
        return r.ok ? r : undefined;
      });
      expect(after.ok).toBe(true);
      await probe.next((e) => e.ev === 'event' && e.name === 'plain' && e.value === 'after', 30_000);
      expect(probe.events.find(named('closed', 'plain'))).toBeUndefined();
      // A new require-leader watch works again.
      probe.send('watch rl2 1 rl/key');
      await probe.next(named('created', 'rl2'), 30_000);
      await probe.request('put 1 rl/key again 10000', (e) => e.ev === 'put', 30_000);
      await probe.next((e) => e.ev === 'event' && e.name === 'rl2' && e.value === 'again', 30_000);
    }, 240_000);

    it('@kv/client with requireLeader: the watch ends with NoLeaderError, a put is refused, both work after the heal', async () => {
      const lead = (await agreedLeader(clients)).index;
      const f = (lead + 1) % 3;
      const rl = new Client({
        endpoints: [cluster.members[f].endpoint],
        requireLeader: true,
        requestTimeoutMs: 10_000,
        retry: { maxAttempts: 1 },
      });
      clients.push(rl);
      const w = rl.watch('rl/js');
      await w.created;
      const ended = (async () => {
        try {
          for await (const _ of w) {
            // events before the cut are not what this test is about
          }
          return undefined;
        } catch (e) {
          return e;
        }
      })();
      cut(f);
      try {
        const err = await Promise.race([ended, new Promise((r) => setTimeout(() => r('still open'), 30 * electionMs))]);
        expect(err).toBeInstanceOf(NoLeaderError);
        await expect(rl.put('rl/js', 'during')).rejects.toBeInstanceOf(NoLeaderError);
      } finally {
        heal();
      }
      await agreedLeader(clients, 60_000);
      await until('require-leader put through @kv/client after the heal', async () => {
        try {
          return await rl.put('rl/js', 'after');
        } catch {
          return undefined;
        }
      });
      const w2 = rl.watch('rl/js');
      await w2.created;
      await rl.put('rl/js', 'again');
      for await (const r of w2) {
        if (r.events.some((e) => e.kv && Buffer.from(e.kv.value).toString() === 'again')) break;
      }
      w2.cancel();
    }, 240_000);
  });
}

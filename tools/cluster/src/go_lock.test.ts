// etcd's own clients hold a lock and a leadership over three members while the leader is killed,
// on kvd and on etcd 3.4 as the oracle; every client is given all three endpoints:
// - etcd's Go client (clientv3/concurrency 3.4: Session + Mutex, tools/cluster/go/src/lockprobe)
//   with a 5 s session: two TTLs after the kill its session is alive, its IsOwner-guarded txn
//   commits, its lock key and lease are still there;
// - `etcdctl lock --ttl 5` and `etcdctl elect` keep running and keep their keys; a second
//   `etcdctl lock` waits, and gets the lock once the first is interrupted (SIGINT unlocks through
//   a surviving member); the interrupted `etcdctl elect` resigns.
import { type ChildProcess, spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { Client } from '@kv/client';
import { ETCDCTL_BIN } from '@kv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster, unavailableReason } from './index.js';
import { agreedLeader } from './leader.js';
import { buildGoProbe, Rlprobe, rlprobeUnavailable } from './rlprobe.js';
import { until } from './until.js';

const TTL = 5;
const goSkip = rlprobeUnavailable();

/** One etcdctl process: its stdout lines as they come, its exit. */
class Ctl {
  readonly lines: string[] = [];
  readonly child: ChildProcess;
  readonly exit: Promise<number | null>;
  stderr = '';

  constructor(endpoints: readonly string[], args: string[]) {
    this.child = spawn(ETCDCTL_BIN, [`--endpoints=${endpoints.join(',')}`, ...args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    createInterface({ input: this.child.stdout! }).on('line', (l) => this.lines.push(l));
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    this.exit = new Promise((r) => this.child.once('exit', (code) => r(code)));
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  /** Waits until `n` lines were printed. */
  printed(n: number, what: string): Promise<string[]> {
    return until(
      what,
      async () =>
        this.lines.length >= n
          ? this.lines.slice(0, n)
          : this.running
            ? undefined
            : Promise.reject(new Error(`etcdctl exited: ${this.stderr}`)),
      60_000,
    );
  }

  /** SIGINT by PID (etcdctl unlocks / resigns on it); resolves with the exit code. */
  interrupt(): Promise<number | null> {
    if (this.running) this.child.kill('SIGINT');
    return this.exit;
  }

  kill(): void {
    if (this.running) this.child.kill('SIGKILL');
  }
}

for (const server of ['etcd', 'kvd'] as const) {
  const skip = unavailableReason(server) ?? goSkip;
  describe.skipIf(skip !== undefined)(`${server}: etcd's Go client and etcdctl hold a lock while the leader dies`, () => {
    let cluster: Cluster;
    let bin: string;
    let probe: Rlprobe | undefined;
    const ctls: Ctl[] = [];
    const clients: Client[] = [];

    beforeAll(async () => {
      bin = await buildGoProbe('lockprobe');
      cluster = await startCluster({ server, size: 3, readyTimeoutMs: 60_000, stopTimeoutMs: 5_000 });
    }, 660_000);

    afterAll(async () => {
      for (const c of ctls) c.kill();
      await probe?.stop();
      for (const c of clients) c.close();
      await cluster?.stop();
    });

    it('the lock, its session and the leadership survive; waiters follow after the holders stop', { timeout: 180_000 }, async () => {
      const endpoints = cluster.endpoints;
      const ctl = (...args: string[]) => {
        const c = new Ctl(endpoints, args);
        ctls.push(c);
        return c;
      };
      // Settled first: one leader that every member agrees on, and a write through all of them.
      const settle = cluster.members.map((m) => new Client({ endpoints: [m.endpoint], requestTimeoutMs: 10_000 }));
      clients.push(...settle);
      await agreedLeader(settle, 60_000);
      for (const c of settle) await until('a write through each member', () => c.put('go-lock-settle', 'x').catch(() => undefined), 60_000);
      probe = await Rlprobe.startWith(bin, ['--endpoints', endpoints.join(','), '--ttl', String(TTL)]);
      // A cluster just started on a loaded machine may still time a first proposal out (etcd's
      // `request timed out`, which etcd's Go client does not retry for a txn): asked again, bounded.
      // The failover below is what this test is about.
      let locked = await probe.request('lock go-lock', (e) => e.ev === 'locked', 60_000);
      for (let i = 0; i < 3 && locked.err === 'etcdserver: request timed out'; i++) {
        locked = await probe.request('lock go-lock', (e) => e.ev === 'locked', 60_000);
      }
      expect(locked.err ?? '').toBe('');
      const goKey = locked.key!;

      const holder = ctl('lock', `--ttl=${TTL}`, 'ctl-lock');
      const [ctlKey] = await holder.printed(1, 'etcdctl lock holds ctl-lock');
      const elect = ctl('elect', 'ctl-elect', 'p1');
      const [electKey, electValue] = await elect.printed(2, 'etcdctl elect leads ctl-elect');
      expect(electValue).toBe('p1');

      // Kill the raft leader (the primary lessor moves to another member).
      const single = cluster.members.map((m) => {
        const c = new Client({ endpoints: [m.endpoint], requestTimeoutMs: 10_000 });
        clients.push(c);
        return c;
      });
      const lead = await agreedLeader(single, 30_000);
      cluster.members[lead.index]!.kill('SIGKILL');
      await cluster.members[lead.index]!.exited();
      const live = new Client({ endpoints: endpoints.filter((_, i) => i !== lead.index), requestTimeoutMs: 10_000 });
      clients.push(live);

      // Two session TTLs later (plus the election) every holder is still the holder.
      await new Promise((r) => setTimeout(r, 2 * TTL * 1000 + 2000));
      const check = await probe.request('check 10000', (e) => e.ev === 'check', 30_000);
      expect(check).toMatchObject({ ok: true, err: '', done: false });
      expect(probe.events.some((e) => e.ev === 'session-done')).toBe(false);
      for (const key of [goKey, ctlKey!, electKey!]) {
        const kv = (await live.get(key)).kvs[0];
        expect(kv, key).toBeDefined();
        expect((await live.lease.timeToLive(kv!.lease)).TTL, key).toBeGreaterThan(0n);
      }
      expect(holder.running && elect.running).toBe(true);

      // A second etcdctl lock waits behind the first, and gets the lock once the first unlocks.
      const waiter = ctl('lock', `--ttl=${TTL}`, 'ctl-lock');
      await until('the waiter queued', async () => ((await live.getPrefix('ctl-lock/')).kvs.length === 2 ? true : undefined), 30_000);
      expect(waiter.lines).toEqual([]);
      expect(await holder.interrupt()).toBe(0);
      const [waiterKey] = await waiter.printed(1, 'the waiter holds ctl-lock');
      expect(waiterKey).not.toBe(ctlKey);
      expect((await live.get(ctlKey!)).kvs).toEqual([]);
      expect(await waiter.interrupt()).toBe(0);

      // The interrupted campaigner resigns: its key goes.
      expect(await elect.interrupt()).toBe(0);
      expect((await live.get(electKey!)).kvs).toEqual([]);

      const unlocked = await probe.request('unlock 10000', (e) => e.ev === 'unlocked', 30_000);
      expect(unlocked.err ?? '').toBe('');
      expect((await live.get(goKey)).kvs).toEqual([]);
    });
  });
}

// A real three-member kvd cluster (separate processes on 127.0.0.1) under faults: a killed
// leader, a paused leader and follower, all members killed at once. Every acknowledged write must
// survive, and the members must end with equal hashes.
import { Client } from '@kv/client';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './index.js';
import { agreedLeader } from './leader.js';
import { until } from './until.js';

const electionMs = 1000;

describe('kvd cluster of three under faults', () => {
  let cluster: Cluster;
  const clients: Client[] = [];
  /** Every write that was acknowledged: key → value. */
  const acked = new Map<string, string>();
  const one = (i: number) => clients[i];

  beforeAll(async () => {
    process.env.KVD_TEST_HOOKS = '1'; // lets SIGUSR2 cut a member off from its peers
    cluster = await startCluster({ server: 'kvd', size: 3, readyTimeoutMs: 30_000, stopTimeoutMs: 5_000 });
    for (const m of cluster.members)
      clients.push(new Client({ endpoints: [m.endpoint], requestTimeoutMs: 10_000, retry: { maxAttempts: 1 } })); // the server's own answers, not the client's retries
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  });

  /** Index of the member every running member names as leader. */
  const leader = async (running = [0, 1, 2]) => running[(await agreedLeader(running.map(one))).index];

  // Every test starts from the same state — three running, resumed members with an agreed
  // leader — whatever the tests before it did or where they failed, so each stands alone (a test
  // that cuts a member off or pauses one undoes it in a finally).
  beforeEach(async () => {
    for (const m of cluster.members) if (m.running) m.kill('SIGCONT');
    await Promise.all(cluster.members.filter((m) => !m.running).map((m) => m.restart()));
    await leader();
  }, 60_000);

  const write = async (i: number, key: string, value: string) => {
    await one(i).put(key, value, { timeoutMs: 10_000 });
    acked.set(key, value);
  };

  it('forms, and every member agrees on one leader and three members', async () => {
    await leader();
    for (let i = 0; i < 3; i++) {
      const ml = await one(i).cluster.memberList();
      expect(ml.members.map((m) => m.name).sort()).toEqual(['m1', 'm2', 'm3']);
    }
  });

  it('serves writes through any member, readable linearizably from every member', async () => {
    for (let i = 0; i < 3; i++) await write(i, `any/${i}`, `v${i}`);
    for (let i = 0; i < 3; i++) {
      const r = await one(i).get('any/', { prefix: true });
      expect(r.kvs.map((kv) => kv.value.toString())).toEqual(['v0', 'v1', 'v2']);
    }
  });

  it('elects a new leader when the leader is killed; the old one catches up after restart', async () => {
    const old = await leader();
    cluster.members[old].kill('SIGKILL');
    await cluster.members[old].exited();
    const others = [0, 1, 2].filter((i) => i !== old);
    const started = Date.now();
    const next = await leader(others);
    expect(Date.now() - started).toBeLessThan(10 * electionMs);
    await write(next, 'after-kill', 'yes');
    await cluster.members[old].restart();
    await until('restarted member has the write', async () => {
      const r = await one(old).get('after-kill', { serializable: true });
      return r.kvs.length === 1 ? true : undefined;
    });
  }, 60_000);

  it('a paused leader loses leadership; after it resumes it follows and catches up', async () => {
    const old = await leader();
    cluster.members[old].kill('SIGSTOP');
    try {
      const others = [0, 1, 2].filter((i) => i !== old);
      const next = await leader(others);
      await write(next, 'during-pause', '1');
    } finally {
      cluster.members[old].kill('SIGCONT');
    }
    await until('resumed member follows the new leader and has the write', async () => {
      const st = await one(old).maintenance.status({ timeoutMs: 2_000 });
      if (st.leader === st.header!.memberId || st.leader === 0n) return undefined;
      const r = await one(old).get('during-pause');
      return r.kvs.length === 1 ? true : undefined;
    });
  }, 60_000);

  it('a paused follower does not stop the others', async () => {
    const lead = await leader();
    const f = [0, 1, 2].find((i) => i !== lead)!;
    cluster.members[f].kill('SIGSTOP');
    try {
      await write(lead, 'follower-paused', '1');
    } finally {
      cluster.members[f].kill('SIGCONT');
    }
  }, 60_000);

  it('loses no acknowledged write when every member is killed at once, with writes in flight', async () => {
    const lead = await leader();
    let stop = false;
    let inFlight = 0;
    let next = 0;
    const burst: string[] = [];
    // Writers loop until the kill; each put is bounded by the client's request timeout, so every
    // writer ends within it once the members are gone.
    const writer = async () => {
      while (!stop) {
        const n = next++;
        inFlight++;
        try {
          await write(lead, `burst/${n}`, `b${n}`);
          burst.push(`burst/${n}`);
        } catch {
          // not acknowledged: its outcome is unknown, so it is not checked
        } finally {
          inFlight--;
        }
      }
    };
    const writers = Array.from({ length: 4 }, writer);
    await until('writes acknowledged before the kill', async () => (burst.length >= 20 ? true : undefined), 30_000, 10);
    // Between two puts a writer runs synchronously, so at this (timer) moment every writer is
    // waiting on a put: the kill lands with writes in flight.
    const inFlightAtKill = inFlight;
    for (const m of cluster.members) m.kill('SIGKILL');
    stop = true;
    await Promise.all(cluster.members.map((m) => m.exited()));
    await Promise.all(writers);
    expect(inFlightAtKill).toBeGreaterThan(0);
    expect(burst.length).toBeGreaterThan(0);
    await Promise.all(cluster.members.map((m) => m.restart()));
    await leader();
    // Every write acknowledged by this test and the earlier ones, on every member.
    for (let i = 0; i < 3; i++) {
      for (const [k, v] of acked) {
        const r = await one(i).get(k);
        expect(r.kvs[0]?.value.toString(), `${k} on ${cluster.members[i].name}`).toBe(v);
      }
    }
  }, 120_000);

  it('a member cut off from the others serves no linearizable reads or writes', async () => {
    const lead = await leader();
    // Cut off the leader: it must step down (check quorum) and stop serving; the others elect.
    cluster.members[lead].kill('SIGUSR2');
    try {
      const others = [0, 1, 2].filter((i) => i !== lead);
      const next = await leader(others);
      await write(next, 'during-partition', '1');
      await expect(one(lead).get('during-partition', { timeoutMs: 3 * electionMs })).rejects.toThrow();
      await expect(one(lead).put('from-isolated', 'x', { timeoutMs: 3 * electionMs })).rejects.toThrow();
      // A serializable read is still served, from its (stale) local state.
      const stale = await one(lead).get('during-partition', { serializable: true });
      expect(stale.kvs).toHaveLength(0);
    } finally {
      cluster.members[lead].kill('SIGUSR2');
    }
    await until('healed member catches up', async () => {
      const r = await one(lead).get('during-partition');
      return r.kvs.length === 1 ? true : undefined;
    });
    expect((await one(0).get('from-isolated')).kvs).toHaveLength(0);
  }, 60_000);

  it('moves leadership on request (move-leader)', async () => {
    const lead = await leader();
    const target = [0, 1, 2].find((i) => i !== lead)!;
    const st = await one(target).maintenance.status();
    await one(lead).maintenance.moveLeader(st.header!.memberId);
    expect(await leader()).toBe(target);
  }, 60_000);

  it('ends with equal hashes on every member', async () => {
    const hashes = await until('equal revisions', async () => {
      const st = await Promise.all([0, 1, 2].map((i) => one(i).maintenance.status()));
      const rev = st[0].header!.revision;
      if (!st.every((s) => s.header!.revision === rev)) return undefined;
      return Promise.all([0, 1, 2].map((i) => one(i).maintenance.hashKV(rev)));
    });
    expect(new Set(hashes.map((h) => h.hash)).size).toBe(1);
  });
});

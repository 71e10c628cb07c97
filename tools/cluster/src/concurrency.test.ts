// @kv/client's Mutex and Election, and the server-side Lock service, on a real three-member
// cluster while the member the lock holder talks to is killed: the holder keeps its lease alive
// through another member and stays the owner (its isOwner-guarded txn still commits), waiters get
// the lock and the leadership in order afterwards, an observer on another member sees every value.
// The same script runs on etcd 3.4 and on kvd.
import { Client, Election, LockClient, Mutex, Op, Session } from '@kv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '@kv/testkit';
import { agreedLeader, startCluster, unavailableReason, type Cluster, type ServerKind } from './index.js';

function track<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false;
  const mark = () => {
    done = true;
  };
  p.then(mark, mark);
  return { p, settled: () => done };
}

/**
 * The sessions' TTL (s). Generous: on a loaded 2-core machine a killed leader's replacement, the
 * keep-alive's failover and the event loops' lag together took more than 5 s once (a waiter got
 * the lock early); the test is about the failover working, not about how fast.
 */
const sessionTtl = 10;

/** Retries `fn` (a request that may meet the dead member first) until it answers. */
const eventually = <T>(what: string, fn: () => Promise<T>) =>
  until(
    async () => {
      const v = await fn();
      return { v };
    },
    { what, timeoutMs: 60_000, intervalMs: 200 },
  ).then((r) => r.v);

for (const kind of ['etcd', 'kvd'] as ServerKind[]) {
  // On kvd this needs every link of the keep-alive's failover: the client re-opens its stream on
  // another member and resends (packages/client/src/lease.ts), that member ends a stream it cannot
  // serve with a status and keeps forwarding the renew until the new leader answers
  // (lease/expiry.ts), and the new leader gives every lease a fresh TTL on promotion.
  const skip = unavailableReason(kind);
  describe.skipIf(skip !== undefined)(`concurrency recipes on three ${kind} members, one killed`, () => {
    let cluster: Cluster;
    const clients: Client[] = [];
    const client = (...members: number[]) => {
      const c = new Client({ endpoints: members.map((i) => cluster.members[i].endpoint), requestTimeoutMs: 10_000, dialTimeoutMs: 1000 });
      clients.push(c);
      return c;
    };

    beforeAll(async () => {
      cluster = await startCluster({ server: kind, size: 3, readyTimeoutMs: 60_000, stopTimeoutMs: 5_000 });
    }, 90_000);
    afterAll(async () => {
      for (const c of clients) c.close();
      await cluster?.stop();
    });

    it('lock holder and leader survive the loss of their member; waiters follow in order', { timeout: 180_000 }, async () => {
      // A talks to member 1 first and may fail over; B and C each talk to one other member.
      const a = client(0, 1, 2);
      const b = client(1);
      const c = client(2);
      const [sa, sb, sc] = [
        await Session.create(a, { ttl: sessionTtl }),
        await Session.create(b, { ttl: sessionTtl }),
        await Session.create(c, { ttl: sessionTtl }),
      ];
      const ma = new Mutex(sa, 'job');
      await ma.lock();
      const mb = new Mutex(sb, 'job');
      const waitB = track(mb.lock());
      await until(async () => (await c.getPrefix('job/')).kvs.length === 2, { what: 'B queued' });

      const ea = new Election(sa, 'boss');
      await ea.campaign('a1');
      const ec = new Election(sc, 'boss');
      const waitC = track(ec.campaign('c1'));
      await until(async () => (await b.getPrefix('boss/')).kvs.length === 2, { what: 'C queued' });
      const seen: string[] = [];
      const stop = new AbortController();
      const observing = (async () => {
        for await (const r of new Election(sb, 'boss').observe({ signal: stop.signal })) seen.push(r.kvs[0].value.toString());
      })();
      await until(() => seen.length === 1, { what: 'observer saw a1' });

      // The server-side Lock service too: a lock held through member 1.
      const lockA = new LockClient({ endpoints: [cluster.members[0].endpoint, cluster.members[1].endpoint] });
      const leaseL = (await a.lease.grant(30)).ID;
      const held = await lockA.lock('svc', leaseL);

      // The hardest case: member 1 is also the raft leader (so the lessor moves too).
      const single = [0, 1, 2].map((i) => client(i));
      const lead = await agreedLeader(single, 30_000);
      if (lead.index !== 0) {
        const target = (await single[0].maintenance.status()).header!.memberId;
        await single[lead.index].maintenance.moveLeader(target, { endpoint: cluster.members[lead.index].endpoint });
        await until(async () => (await agreedLeader(single, 10_000)).index === 0, { what: 'member 1 leads' });
      }
      cluster.members[0].kill('SIGKILL');
      await cluster.members[0].exited();

      // A is still the owner, and proves it with a guarded write through another member. Its
      // session lives on: a read after two TTLs still finds its key.
      const guarded = await eventually('guarded txn', () => a.txn().if(ma.isOwner()).then(Op.put('job-output', 'by A')).commit());
      expect(guarded.succeeded).toBe(true);
      await eventually('proclaim a2', () => ea.proclaim('a2'));
      await until(() => seen.length === 2, { what: 'observer saw a2' });
      // Two session TTLs later the key is still there: the keep-alive moved to a live member.
      await new Promise((r) => setTimeout(r, 2 * sessionTtl * 1000));
      expect((await b.get(ma.key)).kvs.length).toBe(1);
      expect((await b.lease.timeToLive(sa.lease)).TTL).toBeGreaterThan(0n);
      expect(waitB.settled()).toBe(false);
      expect(waitC.settled()).toBe(false);

      await eventually('unlock A', () => ma.unlock());
      await waitB.p;
      expect((await b.txn().if(mb.isOwner()).commit()).succeeded).toBe(true);
      await eventually('resign A', () => ea.resign());
      await waitC.p;
      await until(() => seen.length === 3, { what: 'observer saw c1' });
      expect(seen).toEqual(['a1', 'a2', 'c1']);
      // The service lock is still held; its unlock fails over to member 2.
      expect((await b.get(held.key)).kvs.length).toBe(1);
      await lockA.unlock(held.key);
      expect((await b.get(held.key)).kvs.length).toBe(0);
      lockA.close();

      stop.abort();
      await observing;
      await mb.unlock();
      await ec.resign();
      for (const s of [sa, sb, sc]) await s.close().catch(() => undefined);
    });
  });
}

// The concurrency recipes (Session, Mutex, Election) and the Lock/Election service clients,
// the same script against real etcd 3.4 and kvd. Where etcd 3.4's server differs on purpose
// (a Lock whose own lease is revoked while waiting), each kind's behaviour is asserted.
import { mvccpb } from '@kv/api';
import { serverKinds, startServer, until, type RunningServer } from '@kv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Client,
  Election,
  ElectionClient,
  ElectionNoLeaderError,
  ElectionNotLeaderError,
  LockClient,
  Mutex,
  MutexLockedError,
  Session,
  SessionExpiredError,
} from '../index.js';

/** A promise and whether it has settled (to check that a waiter still waits). */
function track<T>(p: Promise<T>): { p: Promise<T>; settled: () => boolean } {
  let done = false;
  p.then(
    () => {
      done = true;
    },
    () => {
      done = true;
    },
  );
  return { p, settled: () => done };
}

async function failure(p: Promise<unknown>): Promise<Error & { code?: number; details?: string }> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err as Error,
  );
  if (!e) throw new Error('expected a failure');
  return e;
}

for (const { kind, skip } of serverKinds()) {
  describe.skipIf(skip !== undefined)(`concurrency against ${kind}`, { timeout: 60_000 }, () => {
    let server: RunningServer;
    let client: Client;
    const count = async (prefix: string) => (await client.getPrefix(prefix, { countOnly: true })).count;
    const keysUnder = (prefix: string, n: number) =>
      until(async () => (await count(prefix)) === BigInt(n), { what: `${n} keys under ${prefix}` });

    beforeAll(async () => {
      server = await startServer(kind);
      client = new Client({ endpoints: [server.endpoint], requestTimeoutMs: 10_000 });
    }, 60_000);
    afterAll(async () => {
      client?.close();
      await server?.stop();
    });

    it('Session: a 60 s lease by default, kept alive; close revokes it', async () => {
      const s = await Session.create(client);
      expect((await client.lease.timeToLive(s.lease)).grantedTTL).toBe(60n);
      const s5 = await Session.create(client, { ttl: 5 });
      expect((await client.lease.timeToLive(s5.lease)).grantedTTL).toBe(5n);
      await s.close();
      await s5.close();
      expect((await client.lease.timeToLive(s.lease)).TTL).toBe(-1n);
      await s.done;
    });

    it('Mutex: owners in create-revision order; isOwner guards a txn; tryLock refuses a held lock', async () => {
      const sessions = await Promise.all([1, 2, 3].map(() => Session.create(client, { ttl: 30 })));
      const [m1, m2, m3] = sessions.map((s) => new Mutex(s, 'mu'));
      await m1.lock();
      expect(m1.key).toBe(`mu/${sessions[0].lease.toString(16)}`);
      const w2 = track(m2.lock());
      await keysUnder('mu/', 2);
      const w3 = track(m3.lock());
      await keysUnder('mu/', 3);
      const probe = new Mutex(await Session.create(client, { ttl: 30 }), 'mu');
      expect(await failure(probe.tryLock())).toBeInstanceOf(MutexLockedError);
      expect(await count('mu/')).toBe(3n);
      const guarded = await client.txn().if(m1.isOwner()).then().commit();
      expect(guarded.succeeded).toBe(true);
      expect(w2.settled()).toBe(false);
      await m1.unlock();
      await w2.p;
      expect(w3.settled()).toBe(false);
      expect((await client.txn().if(m1.isOwner()).commit()).succeeded).toBe(false);
      // Closing the owner's session (lease revoked) passes the lock on.
      await sessions[1].close();
      await w3.p;
      expect((await client.txn().if(m3.isOwner()).commit()).succeeded).toBe(true);
      await m3.unlock();
      await probe.tryLock();
      await probe.unlock();
      for (const s of sessions) await s.close().catch(() => undefined);
    });

    it('Mutex: a waiter whose session lease is revoked ends with SessionExpiredError; an aborted one removes its key', async () => {
      const [s1, s2, s3] = await Promise.all([1, 2, 3].map(() => Session.create(client, { ttl: 30 })));
      const holder = new Mutex(s1, 'mx');
      await holder.lock();
      const lost = track(new Mutex(s2, 'mx').lock());
      await keysUnder('mx/', 2);
      await client.lease.revoke(s2.lease);
      expect(await failure(lost.p)).toBeInstanceOf(SessionExpiredError);
      const ac = new AbortController();
      const aborted = track(new Mutex(s3, 'mx').lock({ signal: ac.signal }));
      await keysUnder('mx/', 2);
      ac.abort(new Error('gave up'));
      expect((await failure(aborted.p)).message).toBe('gave up');
      await keysUnder('mx/', 1);
      await holder.unlock();
      await s1.close();
      await s3.close();
    });

    it('Election: campaign, proclaim, resign, leader; observe sees each leader and value', async () => {
      const [s1, s2] = await Promise.all([1, 2].map(() => Session.create(client, { ttl: 30 })));
      const e1 = new Election(s1, 'el');
      const e2 = new Election(s2, 'el');
      expect(await failure(e1.leader())).toBeInstanceOf(ElectionNoLeaderError);
      const ac = new AbortController();
      const seen: string[] = [];
      const observing = (async () => {
        for await (const r of new Election(s1, 'el').observe({ signal: ac.signal })) seen.push(r.kvs[0].value.toString());
      })();
      await e1.campaign('a1');
      expect(e1.key).toBe(`el/${s1.lease.toString(16)}`);
      const c2 = track(e2.campaign('b1'));
      await keysUnder('el/', 2);
      await e1.proclaim('a2');
      expect((await e2.leader()).kvs[0].value.toString()).toBe('a2');
      expect(c2.settled()).toBe(false);
      // A stale handle (wrong create revision) is not the leader.
      const stale = Election.resume(s1, 'el', e1.key!, e1.rev + 1000n);
      expect(await failure(stale.proclaim('x'))).toBeInstanceOf(ElectionNotLeaderError);
      // A waiting candidate may update its own value (etcd: the compare is on its own key).
      await e2.proclaim('b1');
      await e1.resign();
      await c2.p;
      // Observe fetches the new leader after the old key's delete; a proclaim before that fetch
      // would be seen instead of 'b1' (etcd's Observe too), so let it see 'b1' first.
      await until(() => seen.length === 3, { what: "the new leader's first value observed" });
      await e2.proclaim('b2');
      await until(() => seen.length === 4, { what: 'four observed values' });
      expect(seen).toEqual(['a1', 'a2', 'b1', 'b2']);
      ac.abort();
      await observing;
      await e2.resign();
      await s1.close();
      await s2.close();
    });

    it('LockClient and ElectionClient: the server-side services, same answers as etcd', async () => {
      const locks = new LockClient(client);
      const elections = new ElectionClient(client);
      try {
        const [l1, l2] = [(await client.lease.grant(30)).ID, (await client.lease.grant(30)).ID];
        const r1 = await locks.lock('svc', l1);
        expect(r1.key.toString()).toBe(`svc/${l1.toString(16)}`);
        const r2 = track(locks.lock('svc', l2));
        await keysUnder('svc/', 2);
        expect(r2.settled()).toBe(false);
        await locks.unlock(r1.key);
        expect((await r2.p).key.toString()).toBe(`svc/${l2.toString(16)}`);
        // Lease 0: the server grants a 60 s lease of its own.
        const r0 = await locks.lock('svc0', 0);
        const kv0 = (await client.get(r0.key)).kvs[0];
        expect((await client.lease.timeToLive(kv0.lease)).grantedTTL).toBe(60n);
        const nf = await failure(locks.lock('svc1', 0x77n));
        expect([nf.code, nf.details]).toEqual([2, 'etcdserver: requested lease not found']);

        expect((await failure(elections.leader('svcel'))).details).toBe('election: no leader');
        const c = await elections.campaign('svcel', l1, 'v1');
        const stream = elections.observe('svcel');
        const observed: mvccpb.KeyValue[] = [];
        stream.on('data', (r) => observed.push(r.kv));
        stream.on('error', () => undefined);
        await until(() => observed.length === 1, { what: 'observe' });
        await elections.proclaim(c.leader!, 'v2');
        expect((await elections.leader('svcel')).kv!.value.toString()).toBe('v2');
        const nl = await failure(elections.proclaim({ ...c.leader!, rev: c.leader!.rev + 1n }, 'v3'));
        expect([nl.code, nl.details]).toEqual([2, 'election: not leader']);
        await elections.resign(c.leader!);
        await elections.resign(c.leader!); // no longer leader: no error
        await until(() => observed.length === 2, { what: 'observe proclaim' });
        expect(observed.map((kv) => kv.value.toString())).toEqual(['v1', 'v2']);
        stream.cancel();

        // A Lock waiter whose own lease is revoked: kvd fails it at once (etcd 3.5's
        // ErrSessionExpired); etcd 3.4's server waits for the holder and then answers with a key
        // that no longer exists.
        const l3 = (await client.lease.grant(30)).ID;
        const w = track(locks.lock('svc', l3));
        await keysUnder('svc/', 2);
        await client.lease.revoke(l3);
        if (kind === 'kvd') {
          const se = await failure(w.p);
          expect([se.code, se.details]).toEqual([2, 'mutex: session is expired']);
        } else {
          await keysUnder('svc/', 1);
          expect(w.settled()).toBe(false);
          await client.lease.revoke(l2);
          expect((await w.p).key.toString()).toBe(`svc/${l3.toString(16)}`);
        }
      } finally {
        locks.close();
        elections.close();
      }
    });
  });
}

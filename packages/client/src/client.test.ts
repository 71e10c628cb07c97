// The client against real servers: every test runs against real etcd and, when it is built,
// against kvd (same flags, same expectations).
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { etcdserverpb, mvccpb } from '@kv/api';
import {
  Client,
  CompactedError,
  DeadlineExceededError,
  EmptyKeyError,
  FutureRevisionError,
  LeaseNotFoundError,
  Op,
  UnavailableError,
  Watcher,
} from './index.js';
import { freePort, serverKinds, startServer, type RunningServer } from '@kv/testkit';

/** Next item of an async iterator, failing the test instead of hanging. */
async function next<T>(it: AsyncIterator<T>, ms = 10_000): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`no item within ${ms}ms`)), ms);
  });
  try {
    return await Promise.race([it.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Collect `n` events from a watcher. */
async function takeEvents(w: Watcher, n: number): Promise<mvccpb.Event[]> {
  const it = w[Symbol.asyncIterator]();
  const out: mvccpb.Event[] = [];
  while (out.length < n) {
    const r = await next(it);
    if (r.done) throw new Error(`watcher ended after ${out.length} events`);
    expect(r.value.fragment).toBe(false);
    out.push(...r.value.events);
  }
  return out;
}

const str = (b: Buffer | undefined) => b?.toString('utf8');

for (const { kind, skip } of serverKinds()) {
  if (skip) console.warn(`@kv/client tests: skipping ${kind}: ${skip}`);
  describe.skipIf(skip !== undefined)(`client against ${kind}`, () => {
    let server: RunningServer;
    let client: Client;

    beforeAll(async () => {
      server = await startServer(kind);
      client = new Client({ endpoints: [server.endpoint], requestTimeoutMs: 10_000 });
    }, 60_000);

    afterAll(async () => {
      client?.close();
      await server?.stop();
    });

    describe('kv', () => {
      it('puts, gets and deletes single keys (string and Buffer)', async () => {
        const p = await client.put('kv/a', 'va');
        expect(p.header!.revision > 0n).toBe(true);
        await client.put(Buffer.from('kv/b'), Buffer.from([0, 1, 2, 255]));
        const a = await client.get('kv/a');
        expect(a.kvs.map((kv) => str(kv.key))).toEqual(['kv/a']);
        expect(str(a.kvs[0]!.value)).toBe('va');
        expect(a.kvs[0]!.version).toBe(1n);
        const b = await client.get('kv/b');
        expect(b.kvs[0]!.value).toEqual(Buffer.from([0, 1, 2, 255]));
        const missing = await client.get('kv/missing');
        expect(missing.kvs).toEqual([]);
        expect(missing.count).toBe(0n);
        const d = await client.delete('kv/a', { prevKv: true });
        expect(d.deleted).toBe(1n);
        expect(str(d.prevKvs[0]!.value)).toBe('va');
        expect((await client.get('kv/a')).kvs).toEqual([]);
      });

      it('put returns the previous value and honours ignoreValue', async () => {
        await client.put('kv/p', 'one');
        const r = await client.put('kv/p', 'two', { prevKv: true });
        expect(str(r.prevKv!.value)).toBe('one');
        await client.put('kv/p', '', { ignoreValue: true });
        expect(str((await client.get('kv/p')).kvs[0]!.value)).toBe('two');
      });

      it('reads ranges: prefix, fromKey, rangeEnd, limit, sort, keysOnly, countOnly', async () => {
        for (const k of ['r/a', 'r/b', 'r/c', 'r/d']) await client.put(k, `v-${k}`);
        await client.put('s', 'after');
        const pre = await client.getPrefix('r/');
        expect(pre.kvs.map((kv) => str(kv.key))).toEqual(['r/a', 'r/b', 'r/c', 'r/d']);
        expect(pre.count).toBe(4n);
        const rng = await client.getRange('r/b', 'r/d');
        expect(rng.kvs.map((kv) => str(kv.key))).toEqual(['r/b', 'r/c']);
        const from = await client.getFromKey('r/c');
        expect(from.kvs.map((kv) => str(kv.key))).toEqual(['r/c', 'r/d', 's']);
        const lim = await client.getPrefix('r/', { limit: 2 });
        expect(lim.kvs.length).toBe(2);
        expect(lim.more).toBe(true);
        expect(lim.count).toBe(4n);
        const desc = await client.getPrefix('r/', { sortTarget: 'key', sortOrder: 'descend' });
        expect(desc.kvs.map((kv) => str(kv.key))).toEqual(['r/d', 'r/c', 'r/b', 'r/a']);
        const keys = await client.getPrefix('r/', { keysOnly: true });
        expect(keys.kvs.every((kv) => kv.value.length === 0)).toBe(true);
        const cnt = await client.getPrefix('r/', { countOnly: true });
        expect(cnt.kvs).toEqual([]);
        expect(cnt.count).toBe(4n);
        const del = await client.delete('r/', { prefix: true });
        expect(del.deleted).toBe(4n);
      });

      it('reads at a past revision, then fails with CompactedError once compacted', async () => {
        const r1 = await client.put('h/k', 'old');
        await client.put('h/k', 'new');
        const past = await client.get('h/k', { revision: r1.header!.revision });
        expect(str(past.kvs[0]!.value)).toBe('old');
        const cur = await client.put('h/other', 'x');
        await client.compact(cur.header!.revision, { physical: true });
        const err = await client.get('h/k', { revision: r1.header!.revision }).catch((e) => e);
        expect(err).toBeInstanceOf(CompactedError);
        const future = await client.get('h/k', { revision: cur.header!.revision + 1000n }).catch((e) => e);
        expect(future).toBeInstanceOf(FutureRevisionError);
      });

      it('maps etcd errors to typed classes', async () => {
        const err = await client.put('', 'x').catch((e) => e);
        expect(err).toBeInstanceOf(EmptyKeyError);
        expect(err.code).toBe(3);
        expect(err.details).toBe('etcdserver: key is not provided');
      });

      it('runs transactions with compares, both branches and nesting', async () => {
        await client.put('t/x', '1');
        const ok = await client
          .txn()
          .if('t/x', 'value', '=', '1')
          .if('t/x', 'version', '>', 0)
          .then(Op.put('t/y', 'yes'), Op.get('t/x'))
          .else(Op.put('t/y', 'no'))
          .commit();
        expect(ok.succeeded).toBe(true);
        expect(ok.responses.length).toBe(2);
        expect(ok.responses[0]!.responsePut).toBeDefined();
        expect(str(ok.responses[1]!.responseRange!.kvs[0]!.value)).toBe('1');
        const bad = await client.txn().if('t/x', 'value', '!=', '1').then(Op.put('t/y', 'yes')).else(Op.delete('t/y')).commit();
        expect(bad.succeeded).toBe(false);
        expect(bad.responses[0]!.responseDeleteRange!.deleted).toBe(1n);
        const nested = await client
          .txn()
          .if('t/x', 'create', '>', 0)
          .then(client.txn().if('t/x', 'mod', '<', 0).then(Op.put('t/z', 'a')).else(Op.put('t/z', 'b')))
          .commit();
        expect(nested.succeeded).toBe(true);
        expect(nested.responses[0]!.responseTxn!.succeeded).toBe(false);
        expect(str((await client.get('t/z')).kvs[0]!.value)).toBe('b');
      });
    });

    describe('watch', () => {
      it('delivers puts and deletes on a prefix, with prevKv', async () => {
        const w = client.watch('w1/', { prefix: true, prevKv: true });
        await w.created;
        await client.put('w1/a', '1');
        await client.put('w1/a', '2');
        await client.delete('w1/a');
        const evs = await takeEvents(w, 3);
        expect(evs.map((e) => e.type)).toEqual([mvccpb.Event_EventType.PUT, mvccpb.Event_EventType.PUT, mvccpb.Event_EventType.DELETE]);
        expect(str(evs[1]!.prevKv!.value)).toBe('1');
        expect(str(evs[2]!.prevKv!.value)).toBe('2');
        w.cancel();
        const after = await next(w[Symbol.asyncIterator]());
        expect(after.done).toBe(true);
      });

      it('multiplexes several watchers and replays history from startRevision', async () => {
        const first = await client.put('w2/a', 'a1');
        await client.put('w2/b', 'b1');
        const wa = client.watch('w2/a', { startRevision: first.header!.revision });
        const wb = client.watch('w2/b');
        const wall = client.watch('w2/', { prefix: true, noDelete: true });
        const [ida, idb, idall] = await Promise.all([wa.created, wb.created, wall.created]);
        expect(new Set([ida, idb, idall]).size).toBe(3);
        await client.put('w2/b', 'b2');
        await client.delete('w2/b');
        await client.put('w2/a', 'a2');
        const a = await takeEvents(wa, 2);
        expect(a.map((e) => str(e.kv!.value))).toEqual(['a1', 'a2']);
        const b = await takeEvents(wb, 2);
        expect(b.map((e) => e.type)).toEqual([mvccpb.Event_EventType.PUT, mvccpb.Event_EventType.DELETE]);
        const all = await takeEvents(wall, 2);
        expect(all.map((e) => str(e.kv!.key))).toEqual(['w2/b', 'w2/a']);
        for (const w of [wa, wb, wall]) w.cancel();
      });

      it('keeps other watchers working after one is cancelled', async () => {
        const w1 = client.watch('w3/one');
        const w2 = client.watch('w3/two');
        await Promise.all([w1.created, w2.created]);
        w1.cancel();
        await client.put('w3/one', 'x');
        await client.put('w3/two', 'y');
        const evs = await takeEvents(w2, 1);
        expect(str(evs[0]!.kv!.key)).toBe('w3/two');
        w2.cancel();
      });

      it('reports a compacted start revision as CompactedError with the compact revision', async () => {
        const r1 = await client.put('w4/k', '1');
        const r2 = await client.put('w4/k', '2');
        await client.compact(r2.header!.revision);
        const w = client.watch('w4/k', { startRevision: r1.header!.revision });
        const err = await next(w[Symbol.asyncIterator]()).catch((e) => e);
        expect(err).toBeInstanceOf(CompactedError);
        expect((err as CompactedError).compactRevision).toBe(r2.header!.revision);
      });

      it('returns every event of a large batch whole (fragment)', async () => {
        // A server whose request limit is small enough that the batch below must be split (etcd
        // fragments past max-request-bytes plus 512 KiB of gRPC allowance).
        const small = kind === 'etcd' ? await startServer(kind, { extraArgs: ['--max-request-bytes', '65536'] }) : server;
        const c = small === server ? client : new Client({ endpoints: [small.endpoint] });
        try {
          const big = 'x'.repeat(50_000);
          const n = 16;
          const first = await c.put('w5/00', big);
          for (let i = 1; i < n; i++) await c.put(`w5/${String(i).padStart(2, '0')}`, big);
          const spy = vi.spyOn(Watcher.prototype, 'onResponse');
          const w = c.watch('w5/', { prefix: true, startRevision: first.header!.revision, fragment: true });
          const evs = await takeEvents(w, n);
          const fragments = spy.mock.calls.filter(([r]) => r.fragment).length;
          spy.mockRestore();
          if (kind === 'etcd') expect(fragments).toBeGreaterThan(0);
          expect(evs.map((e) => str(e.kv!.key))).toEqual(Array.from({ length: n }, (_, i) => `w5/${String(i).padStart(2, '0')}`));
          w.cancel();
        } finally {
          if (small !== server) {
            c.close();
            await small.stop();
          }
        }
      }, 60_000);

      it('iterates events() and stops on break', async () => {
        const w = client.watch('w6/k');
        await w.created;
        await client.put('w6/k', 'v');
        for await (const ev of w.events()) {
          expect(str(ev.kv!.value)).toBe('v');
          break;
        }
        expect(w.state).toBe('finished');
      });
    });

    describe('lease', () => {
      it('grants, lists, reports time to live with keys, and revokes', async () => {
        const g = await client.lease.grant(60);
        expect(g.TTL).toBe(60n);
        await client.put('l/k', 'v', { lease: g.ID });
        const ttl = await client.lease.timeToLive(g.ID, { keys: true });
        expect(ttl.grantedTTL).toBe(60n);
        expect(ttl.TTL > 0n && ttl.TTL <= 60n).toBe(true);
        expect(ttl.keys.map((k) => str(k))).toEqual(['l/k']);
        const list = await client.lease.leases();
        expect(list.leases.map((l) => l.ID)).toContain(g.ID);
        const once = await client.lease.keepAliveOnce(g.ID);
        expect(once.ID).toBe(g.ID);
        expect(once.TTL).toBe(60n);
        await client.lease.revoke(g.ID);
        expect((await client.get('l/k')).kvs).toEqual([]);
        const gone = await client.lease.timeToLive(g.ID);
        expect(gone.TTL).toBe(-1n);
        expect(await client.lease.revoke(g.ID).catch((e) => e)).toBeInstanceOf(LeaseNotFoundError);
        expect(await client.lease.keepAliveOnce(g.ID).catch((e) => e)).toBeInstanceOf(LeaseNotFoundError);
      });

      it('grants a chosen id', async () => {
        const g = await client.lease.grant(30, { id: 0x1234abcdn });
        expect(g.ID).toBe(0x1234abcdn);
        await client.lease.revoke(g.ID);
      });

      it('keeps a lease alive and ends when it is revoked', async () => {
        const g = await client.lease.grant(3);
        const ka = client.lease.keepAlive(g.ID);
        const it = ka[Symbol.asyncIterator]();
        const r1 = await next(it);
        expect(r1.value!.ID).toBe(g.ID);
        const r2 = await next(it); // the renewal after ~1s (TTL/3)
        expect(r2.value!.TTL).toBe(3n);
        await client.lease.revoke(g.ID);
        // Iteration ends: the next renewal is answered with TTL <= 0.
        for (;;) {
          const r = await next(it, 15_000);
          if (r.done) break;
        }
        ka.stop();
      }, 30_000);
    });

    describe('maintenance and cluster', () => {
      it('reports status, hashes, alarms, defragments and snapshots', async () => {
        const st = await client.maintenance.status();
        expect(st.version).toMatch(/^\d+\.\d+\.\d+/);
        expect(st.header!.memberId).not.toBe(0n);
        const hkv = await client.maintenance.hashKV(0);
        expect(typeof hkv.hash).toBe('number');
        const al = await client.maintenance.alarms();
        expect(al.alarms).toEqual([]);
        await client.maintenance.defragment();
        let size = 0;
        for await (const chunk of client.maintenance.snapshot()) size += chunk.length;
        expect(size).toBeGreaterThan(0);
        const pinned = await client.maintenance.status({ endpoint: server.endpoint });
        expect(pinned.header!.memberId).toBe(st.header!.memberId);
      });

      it('lists members', async () => {
        const m = await client.cluster.memberList();
        expect(m.members.length).toBe(1);
        expect(m.members[0]!.name).toBe('t');
        expect(m.members[0]!.clientURLs).toEqual([server.clientUrl]);
        expect(m.members[0]!.peerURLs).toEqual([server.peerUrl]);
      });
    });

    describe('endpoints', () => {
      it('fails over from a refused endpoint to the next one', async () => {
        const dead = `127.0.0.1:${await freePort()}`;
        const c = new Client({ endpoints: [dead, `http://${server.endpoint}`] });
        try {
          await c.put('ep/k', 'v', { timeoutMs: 10_000 });
          const r = await c.get('ep/k');
          expect(str(r.kvs[0]!.value)).toBe('v');
        } finally {
          c.close();
        }
      });

      it('gives up with UnavailableError, or DeadlineExceededError when a deadline was set', async () => {
        const dead = `127.0.0.1:${await freePort()}`;
        const c = new Client({ endpoints: [dead] });
        try {
          expect(await c.get('k').catch((e) => e)).toBeInstanceOf(UnavailableError);
          expect(await c.get('k', { timeoutMs: 300 }).catch((e) => e)).toBeInstanceOf(DeadlineExceededError);
        } finally {
          c.close();
        }
      });
    });

    it('sends ready-made requests', async () => {
      const r = await client.txnRequest(etcdserverpb.TxnRequest.fromPartial({ success: [Op.put('raw/k', 'v')] }));
      expect(r.succeeded).toBe(true);
    });
  });
}

// Namespaces and STM on a real server, kvd and etcd 3.4 alike (etcd is the oracle: every
// expectation here holds on both).
import type { mvccpb } from '@kv/api';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverKinds, startServer, type RunningServer } from '@kv/testkit';
import { Client, EmptyKeyError, Op, stm, type Isolation } from './index.js';

const str = (b: Buffer | Uint8Array) => Buffer.from(b).toString();

async function next<T>(it: AsyncIterator<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`no item within ${ms}ms`)), ms);
  });
  try {
    const r = await Promise.race([it.next(), timeout]);
    if (r.done) throw new Error('iteration ended');
    return r.value;
  } finally {
    clearTimeout(timer);
  }
}

for (const { kind, skip } of serverKinds()) {
  describe.skipIf(skip !== undefined)(`namespaces and STM on ${kind}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let server: RunningServer;
    let client: Client;

    beforeAll(async () => {
      server = await startServer(kind);
      client = new Client({ endpoints: [server.endpoint], requestTimeoutMs: 15_000 });
    }, 60_000);

    afterAll(async () => {
      client?.close();
      await server?.stop();
    });

    describe('namespace', () => {
      it('prefixes keys on the way out and strips them on the way back', async () => {
        const ns = client.namespace('ns/');
        // Neighbours just outside the namespace on both sides.
        await client.put('nr', 'before');
        await client.put('ns0', 'after');
        const p = await ns.put('a', '1');
        expect(p.header!.revision).toBeGreaterThan(0n);
        await ns.put('b', '2');
        await ns.put('c', '3');
        expect(str((await client.get('ns/a')).kvs[0]!.value)).toBe('1');
        expect((await ns.get('a')).kvs.map((kv) => str(kv.key))).toEqual(['a']);
        expect((await ns.getPrefix('')).kvs.map((kv) => str(kv.key))).toEqual(['a', 'b', 'c']);
        expect((await ns.getFromKey('b')).kvs.map((kv) => str(kv.key))).toEqual(['b', 'c']);
        expect((await ns.getRange('a', 'c')).kvs.map((kv) => str(kv.key))).toEqual(['a', 'b']);
        expect((await ns.get('b', { countOnly: true, prefix: true })).count).toBe(1n);
        const put = await ns.put('a', '1b', { prevKv: true });
        expect(str(put.prevKv!.key)).toBe('a');
        const del = await ns.delete('b', { fromKey: true, prevKv: true });
        expect(del.prevKvs.map((kv) => str(kv.key))).toEqual(['b', 'c']);
        expect((await client.get('ns0')).kvs.length).toBe(1); // untouched: outside the namespace
        expect(await ns.put('', 'x').catch((e) => e)).toBeInstanceOf(EmptyKeyError);
        expect(await ns.get('').catch((e) => e)).toBeInstanceOf(EmptyKeyError);
        await ns.delete('', { prefix: true });
        expect((await client.get('nr')).kvs.length + (await client.get('ns0')).kvs.length).toBe(2);
      });

      it('translates txn compares, ops and nested txns', async () => {
        const ns = client.namespace('tx/');
        await ns.put('k', 'v');
        const r = await ns
          .txn()
          .if('k', 'value', '=', 'v')
          .if('k', 'version', '>', 0, { prefix: true })
          .then(Op.put('k2', 'w', { prevKv: true }), Op.get('k', { prefix: true }), ns.txn().then(Op.delete('k', { prevKv: true })))
          .commit();
        expect(r.succeeded).toBe(true);
        expect(r.responses[1]!.responseRange!.kvs.map((kv) => str(kv.key))).toEqual(['k', 'k2']);
        expect(r.responses[2]!.responseTxn!.responses[0]!.responseDeleteRange!.prevKvs.map((kv) => str(kv.key))).toEqual(['k']);
        await ns.put('k', 'v');
        const miss = await ns.txn().if('k', 'value', '=', 'nope').else(Op.get('k')).commit();
        expect(miss.succeeded).toBe(false);
        expect(str(miss.responses[0]!.responseRange!.kvs[0]!.key)).toBe('k');
        // The compare really looked at tx/k, not at k.
        await client.put('k', 'nope');
        expect((await ns.txn().if('k', 'value', '=', 'nope').commit()).succeeded).toBe(false);
      });

      it('watches inside the namespace only, with stripped keys and prevKv', async () => {
        const ns = client.namespace('w/');
        const w = ns.watch('', { prefix: true, prevKv: true });
        await w.created;
        const it = w[Symbol.asyncIterator]();
        await client.put('w', 'outside');
        await client.put('wx', 'outside');
        await ns.put('a', '1');
        await ns.put('a', '2');
        const evs: mvccpb.Event[] = [];
        while (evs.length < 2) evs.push(...(await next(it)).events);
        expect(evs.map((e) => [str(e.kv!.key), str(e.kv!.value)])).toEqual([
          ['a', '1'],
          ['a', '2'],
        ]);
        expect(str(evs[1]!.prevKv!.key)).toBe('a');
        w.cancel();
        const one = ns.watch('a');
        await one.created;
        const it1 = one[Symbol.asyncIterator]();
        await ns.put('b', 'x');
        await ns.put('a', '3');
        expect((await next(it1)).events.map((e) => str(e.kv!.key))).toEqual(['a']);
        one.cancel();
      });

      it('lists only the namespace keys of a lease, nests namespaces', async () => {
        const ns = client.namespace('l/');
        const g = await ns.lease.grant(30);
        await ns.put('k', 'v', { lease: g.ID });
        await client.put('other', 'v', { lease: g.ID });
        const ttl = await ns.lease.timeToLive(g.ID, { keys: true });
        expect(ttl.keys.map(str)).toEqual(['k']);
        await ns.lease.revoke(g.ID);
        const inner = ns.namespace('in/');
        await inner.put('x', '1');
        expect((await client.get('l/in/x')).kvs.length).toBe(1);
        expect((await ns.getPrefix('in/')).kvs.map((kv) => str(kv.key))).toEqual(['in/x']);
      });
    });

    describe('stm', () => {
      it.each<Isolation>(['serializable-snapshot', 'serializable', 'repeatable-read'])(
        'concurrent increments under %s add up exactly',
        async (isolation) => {
          const key = `stm/counter/${isolation}`;
          const workers = 4;
          const each = 8;
          let runs = 0;
          await Promise.all(
            Array.from({ length: workers }, async () => {
              for (let i = 0; i < each; i++) {
                await stm(
                  client,
                  async (s) => {
                    runs++;
                    const v = Number((await s.get(key)) || '0');
                    s.put(key, String(v + 1));
                  },
                  { isolation },
                );
              }
            }),
          );
          expect(str((await client.get(key)).kvs[0]!.value)).toBe(String(workers * each));
          expect(runs).toBeGreaterThanOrEqual(workers * each);
        },
        60_000,
      );

      /** Runs `apply` once more after `between` changed the store in the middle of its first run. */
      async function race(isolation: Isolation, reads: string[], between: () => Promise<unknown>, writes: string[]) {
        let runs = 0;
        const seen: string[][] = [];
        await stm(
          client,
          async (s) => {
            runs++;
            const got = [await s.get(reads[0]!)];
            if (runs === 1) await between();
            for (const k of reads.slice(1)) got.push(await s.get(k));
            seen.push(got);
            for (const k of writes) s.put(k, `w${runs}`);
          },
          { isolation },
        );
        return { runs, seen };
      }

      it('serializable-snapshot also guards the keys it writes; serializable does not', async () => {
        for (const [iso, runs] of [
          ['serializable-snapshot', 2],
          ['serializable', 1],
        ] as const) {
          await client.put(`ws/${iso}/a`, 'a0');
          const r = await race(iso, [`ws/${iso}/a`], () => client.put(`ws/${iso}/b`, 'other'), [`ws/${iso}/b`]);
          expect([iso, r.runs]).toEqual([iso, runs]);
          expect(str((await client.get(`ws/${iso}/b`)).kvs[0]!.value)).toBe(`w${runs}`);
        }
      });

      it('serializable reads one snapshot; repeatable-read reads the latest value once; read-committed checks nothing', async () => {
        const cases: [Isolation, string, number][] = [
          ['serializable', 'x0', 2], // x read at the first read's revision, then found stale at commit
          ['repeatable-read', 'x1', 1], // x read after the change: current at commit
        ];
        for (const [iso, firstSeen, runs] of cases) {
          await client.put(`rr/${iso}/a`, 'a0');
          await client.put(`rr/${iso}/x`, 'x0');
          const r = await race(iso, [`rr/${iso}/a`, `rr/${iso}/x`], () => client.put(`rr/${iso}/x`, 'x1'), [`rr/${iso}/out`]);
          expect([iso, r.seen[0]![1], r.runs]).toEqual([iso, firstSeen, runs]);
          expect(r.seen[r.seen.length - 1]![1]).toBe('x1');
        }
        // A read key changed before commit: repeatable-read runs again, read-committed does not.
        for (const [iso, runs] of [
          ['repeatable-read', 2],
          ['read-committed', 1],
        ] as const) {
          await client.put(`rc/${iso}/a`, 'a0');
          const r = await race(iso, [`rc/${iso}/a`], () => client.put(`rc/${iso}/a`, 'a1'), [`rc/${iso}/out`]);
          expect([iso, r.runs]).toEqual([iso, runs]);
        }
      });

      it('reads its own writes, deletes, reports revisions, prefetches, works in a namespace', async () => {
        const ns = client.namespace('stmns/');
        await ns.put('a', '1');
        const modA = (await ns.get('a')).kvs[0]!.modRevision;
        const resp = await stm(
          ns,
          async (s) => {
            expect(await s.rev('a')).toBe(modA);
            expect(await s.rev('missing')).toBe(0n);
            s.put('b', 'new');
            expect(await s.get('b')).toBe('new');
            s.del('a');
            expect(await s.get('a')).toBe('');
          },
          { prefetch: ['a', 'b'] },
        );
        expect(resp.succeeded).toBe(true);
        expect((await client.getPrefix('stmns/')).kvs.map((kv) => [str(kv.key), str(kv.value)])).toEqual([['stmns/b', 'new']]);
      });

      it('ends with the error apply throws (nothing written), and on abort', async () => {
        const boom = new Error('boom');
        const err = await stm(client, (s) => {
          s.put('stm/err', 'x');
          throw boom;
        }).catch((e) => e);
        expect(err).toBe(boom);
        expect((await client.get('stm/err')).kvs.length).toBe(0);
        const ac = new AbortController();
        let runs = 0;
        const e2 = await stm(
          client,
          async (s) => {
            runs++;
            await s.get('stm/abort');
            await client.put('stm/abort', String(runs)); // always conflicts
            if (runs === 3) ac.abort();
            s.put('stm/abort-out', 'x');
          },
          { signal: ac.signal },
        ).catch((e) => e);
        expect(e2.constructor.name).toBe('CancelledError');
        expect(runs).toBe(3);
        expect((await client.get('stm/abort-out')).kvs.length).toBe(0);
      });
    });
  });
}

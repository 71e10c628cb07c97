// The watchable store on the real LevelDB-backed KVStore: history catch-up with writes going on,
// prevKv through real reads, compaction, and a seeded randomized run compared with store.history.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { mvccpb } from '@kv/api';
import { Backend } from './backend.js';
import { KVStore, type TxnWrite } from './kvstore.js';
import { WatchableStore, type WatchResponse, type WatchSource } from './watchable_store.js';
import { targetContains } from './watcher_group.js';
import { manualScheduler, prng, tick } from './testdata/watch_mem_source.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const { PUT } = mvccpb.Event_EventType;

// KVStore is usable wherever the watchable store wants its source (compile-time check).
// biome-ignore lint/correctness/noUnusedVariables: never called; its type is the assertion
const asSource = (s: KVStore): WatchSource => s;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function open() {
  const dir = await mkdtemp(join(tmpdir(), 'kv-mvcc-watch-'));
  const backend = await Backend.open(dir);
  const store = await KVStore.open(backend, { compactionPauseMs: 0 });
  cleanups.push(async () => {
    await store.close();
    await backend.close();
    await rm(dir, { recursive: true, force: true });
  });
  let ci = store.consistentIndex();
  // one write transaction at a time, like the server's apply loop
  let chain: Promise<unknown> = Promise.resolve();
  const write = (fn: (w: TxnWrite) => Promise<unknown>): Promise<void> => {
    const p = chain.then(async () => {
      const tx = backend.newBatch();
      const w = store.write(tx);
      try {
        await fn(w);
      } finally {
        w.end();
        ci += 1n;
        store.setConsistentIndex(tx, ci);
        await backend.commit(tx, { sync: false });
        store.publish(ci, [w]);
      }
    });
    chain = p.catch(() => {});
    return p;
  };
  const put = (k: string, v: string) => write((w) => w.put(b(k), b(v), 0n));
  const del = (k: string, end?: string) => write((w) => w.deleteRange(b(k), end === undefined ? undefined : b(end)));
  const compact = async (rev: bigint) => {
    const tx = backend.newBatch();
    const done = store.compact(rev, tx);
    await backend.commit(tx, { sync: false });
    await done;
  };
  return { store, backend, put, del, compact, write };
}

const sig = (e: mvccpb.Event) => `${e.type}:${e.kv!.key.toString('latin1')}@${e.kv!.modRevision}:${e.kv!.value.toString()}`;

async function historyOf(store: KVStore, from: bigint): Promise<mvccpb.Event[]> {
  const out: mvccpb.Event[] = [];
  for await (const c of store.history(from, store.currentRev())) out.push(...c.events);
  return out;
}

describe('WatchableStore on KVStore', () => {
  it('delivers live puts/deletes and catches up from history while writes continue', async () => {
    const { store, put, del } = await open();
    // The store as the watchable store sees it, except that every history read is interrupted by
    // a write: it is published while the round awaits the rest of its read.
    let writesInReads = 0;
    let lostWrites = 0;
    const source: WatchSource = {
      currentRev: () => store.currentRev(),
      compactRev: () => store.compactRev(),
      range: (key, end, o) => store.range(key, end, o),
      onPublished: (listener) => store.onPublished(listener),
      history: (fromRev, toRev) => {
        const inner = store.history(fromRev, toRev);
        return (async function* () {
          let first = true;
          for await (const change of inner) {
            yield change;
            if (first) {
              first = false;
              const before = store.currentRev();
              await put('k', `w${++writesInReads}`);
              if (store.currentRev() !== before + 1n) lostWrites++;
            }
          }
        })();
      },
    };
    const m = manualScheduler();
    const errors: unknown[] = [];
    const ws = new WatchableStore(source, { scheduler: m.scheduler, maxRevisionsPerSync: 5, onError: (e) => errors.push(e) });
    const got: WatchResponse[] = [];
    const stream = ws.newWatchStream((r) => {
      got.push(r);
    });
    const live = stream.watch({ key: b('k'), startRev: 0n });
    for (let i = 0; i < 30; i++) await put(i % 3 ? 'k' : 'x', `${i}`);
    await del('k');
    const old = stream.watch({ key: b('a'), end: b('z'), startRev: 2n });
    const lag = store.currentRev() - 2n + 1n; // 31 revisions to catch up
    // Every round's history read sees a write land in it; the watcher still becomes synced, in
    // the round whose read reaches the revision current when catch-up began (ceil(lag / 5)).
    let rounds = 0;
    while (ws.unsyncedCount() > 0 && rounds < 100) {
      await ws.syncOnce();
      rounds++;
    }
    expect(errors).toEqual([]);
    expect(ws.unsyncedCount()).toBe(0);
    expect(rounds).toBe(Math.ceil(Number(lag) / 5));
    expect(writesInReads).toBe(rounds);
    expect(lostWrites).toBe(0);
    await put('k', 'end');
    const events = (id: bigint) => got.filter((r) => r.watchId === id).flatMap((r) => r.events.map(sig));
    const all = await historyOf(store, 2n);
    expect(events(old)).toEqual(all.filter((e) => targetContains({ key: b('a'), end: b('z') }, e.kv!.key)).map(sig));
    expect(events(live)).toEqual(all.filter((e) => e.kv!.key.equals(b('k'))).map(sig));
    // the writes made during the reads reached the catching-up watcher too, and in order
    expect(events(old).filter((x) => x.includes(':w'))).toHaveLength(writesInReads);
    let last = 0n;
    for (const r of got.filter((x) => x.watchId === old)) {
      expect(r.events[0].kv!.modRevision > last).toBe(true);
      last = r.revision;
    }
    ws.close();
  });

  it('prevKv comes from the store at modRevision - 1', async () => {
    const { store, put, del } = await open();
    const ws = new WatchableStore(store, { scheduler: manualScheduler().scheduler });
    const got: WatchResponse[] = [];
    const stream = ws.newWatchStream((r) => {
      got.push(r);
    });
    stream.watch({ key: b('a'), startRev: 0n, prevKv: true });
    await put('a', '1');
    await put('a', '2');
    await del('a');
    for (let i = 0; i < 20 && got.length < 3; i++) await tick();
    expect(got.map((r) => r.events[0].prevKv?.value.toString() ?? null)).toEqual([null, '1', '2']);
    expect(got[2].events[0].prevKv!.modRevision).toBe(3n);
    ws.close();
  });

  it('a start revision below the compaction revision is answered with it', async () => {
    const { store, put, compact } = await open();
    const ws = new WatchableStore(store, { scheduler: manualScheduler().scheduler });
    const got: WatchResponse[] = [];
    const stream = ws.newWatchStream((r) => {
      got.push(r);
    });
    for (let i = 0; i < 5; i++) await put('a', `${i}`); // 2..6
    await compact(4n);
    const id = stream.watch({ key: b('a'), startRev: 2n });
    const ok = stream.watch({ key: b('a'), startRev: 4n });
    while (ws.unsyncedCount() > 0) await ws.syncOnce();
    expect(got.filter((r) => r.watchId === id)).toEqual([{ watchId: id, events: [], revision: 0n, compactRevision: 4n }]);
    expect(got.filter((r) => r.watchId === ok).flatMap((r) => r.events.map((e) => e.kv!.modRevision))).toEqual([4n, 5n, 6n]);
    ws.close();
  });

  it('randomized (seeded): each watcher sees exactly the history after its start revision', async () => {
    const { store, write } = await open();
    const m = manualScheduler();
    const ws = new WatchableStore(store, { scheduler: m.scheduler, maxRevisionsPerSync: 3, maxWatchersPerSync: 2, maxPendingPerStream: 4 });
    const rnd = prng(2024);
    const int = (n: number) => Math.floor(rnd() * n);
    const keys = ['a', 'b', 'ba', 'c', 'd'];
    const recs: { id: bigint; stream: number; key: Buffer; end: Buffer | undefined; start: bigint; got: mvccpb.Event[] }[] = [];
    const acc = [true, true];
    const streams = [0, 1].map((si) =>
      ws.newWatchStream((r) => {
        recs.find((x) => x.stream === si && x.id === r.watchId)!.got.push(...r.events);
        return acc[si];
      }),
    );
    const pending: Promise<unknown>[] = [];
    for (let step = 0; step < 250; step++) {
      const x = int(10);
      const k = keys[int(keys.length)];
      if (x < 5) pending.push(write((w) => w.put(b(k), b(`v${step}`), 0n)));
      else if (x < 6) pending.push(write((w) => w.deleteRange(b(k), int(2) ? undefined : b('\0'))));
      else if (x < 7) {
        const si = int(2);
        const cur = store.currentRev();
        const startRev = int(3) === 0 ? 0n : 1n + BigInt(int(Number(cur) + 1));
        const end = int(2) ? undefined : b(k + '\xff');
        const id = streams[si].watch({ key: b(k), end, startRev });
        recs.push({ id, stream: si, key: b(k), end, start: startRev === 0n ? cur + 1n : startRev, got: [] });
      } else if (x < 8) {
        const si = int(2);
        acc[si] = !acc[si];
        if (acc[si]) streams[si].resume();
      } else if (x < 9) pending.push(ws.syncOnce());
      else await tick();
    }
    await Promise.all(pending);
    acc[0] = acc[1] = true;
    for (const s of streams) s.resume();
    for (let i = 0; i < 10_000 && ws.unsyncedCount() > 0; i++) await ws.syncOnce();
    expect(ws.unsyncedCount()).toBe(0);
    const all = await historyOf(store, 1n);
    for (const r of recs) {
      const want = all.filter((e) => e.kv!.modRevision >= r.start && targetContains(r, e.kv!.key)).map(sig);
      expect(r.got.map(sig)).toEqual(want);
    }
    expect(recs.length).toBeGreaterThan(10);
    expect(all.filter((e) => e.type === PUT).length).toBeGreaterThan(50);
    ws.close();
  });
});

import { describe, expect, it } from 'vitest';
import { mvccpb } from '@kv/api';
import {
  MergedResponseEvents,
  PROGRESS_WATCH_ID,
  WatchError,
  WatchErrorText,
  WatchableStore,
  type WatchableStoreOptions,
  type WatchResponse,
} from './watchable_store.js';
import { MemSource, manualScheduler, tick } from './testdata/watch_mem_source.js';

const { PUT, DELETE } = mvccpb.Event_EventType;
const b = (s: string) => Buffer.from(s, 'latin1');

function setup(opts: WatchableStoreOptions = {}) {
  const src = new MemSource();
  const m = manualScheduler();
  const ws = new WatchableStore(src, { scheduler: m.scheduler, ...opts });
  const got: WatchResponse[] = [];
  const stream = ws.newWatchStream((r) => {
    got.push(r);
  });
  /** Runs catch-up rounds until nobody is unsynced, then lets prevKv reads finish. */
  const settle = async () => {
    for (let i = 0; i < 10_000 && ws.unsyncedCount() > 0; i++) await ws.syncOnce();
    expect(ws.unsyncedCount()).toBe(0);
    for (let i = 0; i < 5; i++) await tick();
  };
  return { src, ws, m, got, stream, settle };
}

/** Compact summary of a response's events: "PUT a=1@2", "DELETE a@4". */
const show = (r: WatchResponse) =>
  r.events.map((e) =>
    e.type === PUT
      ? `PUT ${e.kv!.key.toString('latin1')}=${e.kv!.value.toString()}@${e.kv!.modRevision}`
      : `DELETE ${e.kv!.key.toString('latin1')}@${e.kv!.modRevision}`,
  );
const allEvents = (rs: WatchResponse[], id?: bigint) => rs.filter((r) => id === undefined || r.watchId === id).flatMap(show);

describe('WatchableStore', () => {
  it('watches a key from now: put and delete, one response per revision', async () => {
    const { src, got, stream, ws } = setup();
    const id = stream.watch({ key: b('a'), startRev: 0n });
    expect(id).toBe(0n);
    expect(ws.syncedCount()).toBe(1);
    src.put('a', '1');
    src.put('b', 'x');
    src.del('a');
    expect(got.map((r) => [r.watchId, r.revision, r.compactRevision])).toEqual([
      [0n, 2n, 0n],
      [0n, 4n, 0n],
    ]);
    expect(got.map(show)).toEqual([['PUT a=1@2'], ['DELETE a@4']]);
    expect(got[1].events[0].type).toBe(DELETE);
  });

  it('a future start revision delivers nothing before it', () => {
    const { src, got, stream } = setup();
    stream.watch({ key: b('a'), startRev: 4n });
    src.put('a', '1'); // 2
    src.put('a', '2'); // 3
    src.put('a', '3'); // 4
    expect(allEvents(got)).toEqual(['PUT a=3@4']);
  });

  it('catches up from history in chunks while writes continue, with no gap and no duplicate', async () => {
    const { src, ws, got, stream } = setup({ maxRevisionsPerSync: 7 });
    for (let i = 0; i < 30; i++) src.put(i % 2 ? 'k' : 'other', `v${i}`); // revs 2..31
    const id = stream.watch({ key: b('k'), startRev: 3n });
    expect(ws.unsyncedCount()).toBe(1);
    // write twice in the middle of every history read
    src.historyStep = async (rev) => {
      if (rev % 3n === 0n) {
        src.put('k', `during-${rev}`);
        src.put('other', 'x');
      }
    };
    let rounds = 0;
    while (ws.unsyncedCount() > 0 && rounds < 1000) {
      await ws.syncOnce();
      rounds++;
    }
    src.historyStep = () => Promise.resolve();
    expect(ws.unsyncedCount()).toBe(0);
    expect(rounds).toBeGreaterThan(3);
    src.put('k', 'after');

    const want = src.log
      .filter((c) => c.rev >= 3n)
      .flatMap((c) => c.events.filter((e) => e.kv!.key.toString() === 'k'))
      .map((e) => `PUT k=${e.kv!.value.toString()}@${e.kv!.modRevision}`);
    expect(allEvents(got, id)).toEqual(want);
    // response revisions strictly increase, and each covers only revisions after the previous one
    let last = 0n;
    for (const r of got) {
      for (const e of r.events) {
        expect(e.kv!.modRevision > last).toBe(true);
        expect(e.kv!.modRevision <= r.revision).toBe(true);
      }
      last = r.revision;
    }
    // every history read spans at most 7 revisions
    for (const [from, to] of src.historyCalls) expect(to - from + 1n <= 7n).toBe(true);
  });

  it('a write lands in every history read: the watcher still syncs, in ceil(lag / max) rounds', async () => {
    const { src, ws, got, stream } = setup({ maxRevisionsPerSync: 3 });
    for (let i = 0; i < 20; i++) src.put(i % 2 ? 'k' : 'other', `v${i}`); // revs 2..21
    const id = stream.watch({ key: b('k'), startRev: 2n, prevKv: true });
    const noDel = stream.watch({ key: b('k'), startRev: 5n, noDelete: true });
    let writes = 0;
    src.historyStep = async () => {
      // each step publishes a put and a delete of the watched key, and an unrelated put
      writes++;
      src.publishMany([[{ put: ['k', `during-${writes}`] }], [{ put: ['other', 'x'] }], [{ del: ['k'] }]]);
    };
    let rounds = 0;
    while (ws.unsyncedCount() > 0 && rounds < 100) {
      await ws.syncOnce();
      rounds++;
    }
    src.historyStep = () => Promise.resolve();
    expect(ws.unsyncedCount()).toBe(0);
    expect(rounds).toBe(Math.ceil(20 / 3)); // lag 20 revisions when catch-up began
    expect(writes).toBeGreaterThanOrEqual(20);
    src.put('k', 'after');
    for (let i = 0; i < 5; i++) await tick();

    const want = (from: bigint, keep: (e: mvccpb.Event) => boolean) =>
      src.log
        .filter((c) => c.rev >= from)
        .flatMap((c) => c.events.filter((e) => e.kv!.key.toString() === 'k' && keep(e)))
        .map((e) => show({ watchId: 0n, events: [e], revision: 0n, compactRevision: 0n })[0]);
    expect(allEvents(got, id)).toEqual(want(2n, () => true));
    expect(allEvents(got, noDel)).toEqual(want(5n, (e) => e.type === PUT));
    for (const w of [id, noDel]) {
      let last = 0n;
      for (const r of got.filter((x) => x.watchId === w)) {
        const revs = new Set(r.events.map((e) => e.kv!.modRevision));
        expect(revs.size).toBeLessThanOrEqual(3); // at most maxRevisionsPerSync revisions a response
        expect(r.events[0].kv!.modRevision > last).toBe(true);
        for (const e of r.events) expect(e.kv!.modRevision <= r.revision).toBe(true);
        last = r.revision;
      }
    }
    // prevKv on the events that came from the tail as well
    for (const r of got.filter((x) => x.watchId === id)) {
      for (const e of r.events) {
        const before = (await src.range(e.kv!.key, undefined, { rev: e.kv!.modRevision - 1n })).kvs[0];
        if (e.type === PUT && e.kv!.createRevision === e.kv!.modRevision) expect(e.prevKv).toBeUndefined();
        else expect(e.prevKv).toEqual(before);
      }
    }
    // history was never read at or beyond the revision current when catch-up began
    for (const [, to] of src.historyCalls) expect(to).toBeLessThanOrEqual(21n);
  });

  it('a tail delivery stops at a full stream and goes on from the tail in later rounds', async () => {
    const { src, ws } = setup({ maxRevisionsPerSync: 1, maxPendingPerStream: 2 });
    const got: WatchResponse[] = [];
    const stream = ws.newWatchStream((r) => {
      got.push(r);
    });
    src.put('k', '0'); // 2
    src.put('k', '1'); // 3
    const id = stream.watch({ key: b('k'), startRev: 3n });
    let first = true;
    src.historyStep = async () => {
      if (!first) return;
      first = false;
      for (let i = 0; i < 5; i++) src.put('k', `t${i}`); // 4..8, published during the read
    };
    expect(await ws.syncOnce()).toBe(1); // history @3 + tail @4, then the stream is full
    expect(got.map((r) => r.revision)).toEqual([3n, 4n]);
    expect(src.historyCalls).toEqual([[3n, 3n]]);
    expect(await ws.syncOnce()).toBe(1); // @5, @6 from the tail; no history read
    expect(await ws.syncOnce()).toBe(0); // @7, @8 and synced
    expect(src.historyCalls).toEqual([[3n, 3n]]);
    src.put('k', 'live'); // 9
    expect(allEvents(got, id)).toEqual(['PUT k=1@3', ...[0, 1, 2, 3, 4].map((i) => `PUT k=t${i}@${i + 4}`), 'PUT k=live@9']);
    expect(got.map((r) => r.revision)).toEqual([3n, 4n, 5n, 6n, 7n, 8n, 9n]);
  });

  it('maxTailRevisions 0 keeps only the current round: a watcher within one read still syncs', async () => {
    const { src, ws, got, stream } = setup({ maxRevisionsPerSync: 10, maxTailRevisions: 0 });
    for (let i = 0; i < 5; i++) src.put('k', `${i}`); // 2..6
    stream.watch({ key: b('k'), startRev: 2n });
    src.put('k', 'between rounds'); // 7: before any round, nothing recorded yet
    src.historyStep = async (rev) => {
      if (rev === 2n) src.put('k', 'during'); // 8
    };
    expect(await ws.syncOnce()).toBe(0);
    expect(allEvents(got).map((s) => s.split('@')[1])).toEqual(['2', '3', '4', '5', '6', '7', '8']);
    expect(() => new WatchableStore(src, { maxTailRevisions: -1 })).toThrow(RangeError);
  });

  it('matches single keys, ranges, prefixes and from-key', async () => {
    const { src, got, stream } = setup();
    const single = stream.watch({ key: b('ab'), startRev: 0n });
    const range = stream.watch({ key: b('b'), end: b('d'), startRev: 0n });
    const prefix = stream.watch({ key: b('a'), end: b('b'), startRev: 0n });
    const fromKey = stream.watch({ key: b('c'), end: b('\0'), startRev: 0n });
    const all = stream.watch({ key: b('\0'), end: b('\0'), startRev: 0n });
    for (const k of ['a', 'ab', 'abc', 'b', 'c', 'd', 'zz', '\xff']) src.put(k, '1');
    const keys = (id: bigint) => allEvents(got, id).map((s) => s.split(/[ =]/)[1]);
    expect(keys(single)).toEqual(['ab']);
    expect(keys(range)).toEqual(['b', 'c']);
    expect(keys(prefix)).toEqual(['a', 'ab', 'abc']);
    expect(keys(fromKey)).toEqual(['c', 'd', 'zz', '\xff']);
    expect(keys(all)).toEqual(['a', 'ab', 'abc', 'b', 'c', 'd', 'zz', '\xff']);
    // an empty key means "\0"
    const empty = stream.watch({ key: Buffer.alloc(0), end: b('\0'), startRev: 0n });
    src.put('q', '2');
    expect(keys(empty)).toEqual(['q']);
  });

  it('a range delete reaches each watcher once, in one response', () => {
    const { src, got, stream } = setup();
    const id = stream.watch({ key: b('a'), end: b('z'), startRev: 0n });
    src.put('a', '1');
    src.put('b', '1');
    src.put('c', '1');
    src.del('a', 'c');
    const last = got[got.length - 1];
    expect(last.watchId).toBe(id);
    expect(show(last)).toEqual(['DELETE a@5', 'DELETE b@5']);
  });

  it('applies NOPUT / NODELETE filters; fully filtered revisions send nothing', async () => {
    const { src, got, stream, settle } = setup();
    src.put('a', '0'); // 2
    const noPut = stream.watch({ key: b('a'), startRev: 0n, noPut: true });
    const noDel = stream.watch({ key: b('a'), startRev: 0n, noDelete: true });
    const histNoPut = stream.watch({ key: b('a'), startRev: 2n, noPut: true });
    src.put('a', '1'); // 3
    src.del('a'); // 4
    src.put('a', '2'); // 5
    await settle();
    expect(allEvents(got, noPut)).toEqual(['DELETE a@4']);
    expect(allEvents(got, noDel)).toEqual(['PUT a=1@3', 'PUT a=2@5']);
    expect(allEvents(got, histNoPut)).toEqual(['DELETE a@4']);
    expect(got.every((r) => r.events.length > 0)).toBe(true);
  });

  it('prevKv: previous value for updates and deletes, none for creations (synced and catch-up)', async () => {
    const { src, got, stream, settle } = setup();
    const live = stream.watch({ key: b('a'), startRev: 0n, prevKv: true });
    const plain = stream.watch({ key: b('a'), startRev: 0n });
    src.put('a', '1'); // 2 create
    src.put('a', '2'); // 3
    src.del('a'); // 4
    src.put('a', '3'); // 5 create again
    const hist = stream.watch({ key: b('a'), startRev: 2n, prevKv: true });
    await settle();
    const prevs = (id: bigint) =>
      got.filter((r) => r.watchId === id).flatMap((r) => r.events.map((e) => e.prevKv?.value.toString() ?? null));
    expect(prevs(live)).toEqual([null, '1', '2', null]);
    expect(prevs(hist)).toEqual([null, '1', '2', null]);
    expect(prevs(plain)).toEqual([null, null, null, null]);
    const del = got.find((r) => r.watchId === live && r.events[0].type === DELETE)!;
    expect(del.events[0].prevKv!.modRevision).toBe(3n);
    // responses still arrive per watcher in revision order although prevKv reads are async
    expect(allEvents(got, live)).toEqual(['PUT a=1@2', 'PUT a=2@3', 'DELETE a@4', 'PUT a=3@5']);
  });

  it('prevKv reads keep the stream order across watchers', async () => {
    const { src, got, stream } = setup();
    stream.watch({ key: b('a'), startRev: 0n, prevKv: true });
    stream.watch({ key: b('a'), startRev: 0n });
    src.put('a', '1');
    src.put('a', '2');
    expect(got).toHaveLength(0); // the first response waits for its (async) prevKv read
    for (let i = 0; i < 5; i++) await tick();
    expect(got.map((r) => [r.watchId, r.revision])).toEqual([
      [0n, 2n],
      [1n, 2n],
      [0n, 3n],
      [1n, 3n],
    ]);
  });

  it('a compacted start revision yields one compaction response; the id stays taken until canceled (etcd)', async () => {
    const { src, ws, got, stream, settle } = setup();
    for (let i = 0; i < 5; i++) src.put('a', `${i}`); // 2..6
    src.compact(4n);
    const old = stream.watch({ id: 7n, key: b('a'), startRev: 3n });
    const atCompact = stream.watch({ key: b('a'), startRev: 4n });
    await settle();
    const c = got.filter((r) => r.watchId === old);
    expect(c).toEqual([{ watchId: old, events: [], revision: 0n, compactRevision: 4n }]);
    expect(allEvents(got, atCompact)).toEqual(['PUT a=2@4', 'PUT a=3@5', 'PUT a=4@6']);
    expect(ws.syncedCount() + ws.unsyncedCount()).toBe(1); // out of the store's groups at once
    // The id is the stream's until the client cancels it, as in etcd.
    expect(() => stream.watch({ id: old, key: b('a'), startRev: 0n })).toThrow(/duplicate watch ID/);
    expect(stream.cancel(old)).toBe(true);
    expect(stream.ids()).toEqual([atCompact]);
    expect(stream.watch({ id: old, key: b('a'), startRev: 0n })).toBe(old);
  });

  it('cancel stops delivery at once, dropping queued responses', () => {
    const src = new MemSource();
    const ws = new WatchableStore(src, { scheduler: manualScheduler().scheduler });
    const got: WatchResponse[] = [];
    let accept = true;
    const stream = ws.newWatchStream((r) => {
      got.push(r);
      return accept;
    });
    const a = stream.watch({ key: b('a'), startRev: 0n });
    const bb = stream.watch({ key: b('a'), startRev: 0n });
    accept = false;
    src.put('a', '1'); // delivered to a, then the stream pauses
    src.put('a', '2');
    expect(got).toHaveLength(1);
    expect(stream.pending()).toBe(3);
    expect(stream.cancel(bb)).toBe(true);
    expect(stream.cancel(bb)).toBe(false);
    expect(stream.cancel(99n)).toBe(false);
    expect(stream.pending()).toBe(1);
    accept = true;
    stream.resume();
    src.put('a', '3');
    expect(got.map((r) => [r.watchId, r.revision])).toEqual([
      [a, 2n],
      [a, 3n],
      [a, 4n],
    ]);
    expect(ws.syncedCount()).toBe(1);
  });

  it('rejects duplicate ids and empty ranges with etcd texts; auto ids count 0,1,2 and skip used ones', () => {
    const { stream } = setup();
    expect(stream.watch({ key: b('a'), startRev: 0n })).toBe(0n);
    expect(stream.watch({ id: 0n, key: b('a'), startRev: 0n })).toBe(1n); // 0 = auto
    expect(stream.watch({ id: 3n, key: b('a'), startRev: 0n })).toBe(3n);
    expect(stream.watch({ key: b('a'), startRev: 0n })).toBe(2n);
    expect(stream.watch({ key: b('a'), startRev: 0n })).toBe(4n);
    expect(() => stream.watch({ id: 3n, key: b('x'), startRev: 0n })).toThrowError(new WatchError(WatchErrorText.DuplicateID));
    expect(WatchErrorText.DuplicateID).toBe('mvcc: duplicate watch ID provided on the WatchStream');
    expect(() => stream.watch({ key: b('b'), end: b('a'), startRev: 0n })).toThrow('mvcc: watcher range is empty');
    expect(() => stream.watch({ key: b('b'), end: b('b'), startRev: 0n })).toThrow(WatchError);
    expect(stream.cancel(1n)).toBe(true);
    expect(stream.watch({ key: b('a'), startRev: 0n })).toBe(5n); // ids are not reused by auto
    expect(stream.watch({ id: 1n, key: b('a'), startRev: 0n })).toBe(1n); // but may be by request
  });

  it('many watchers per stream get their own ids and events', () => {
    const { src, got, stream } = setup();
    const ids = Array.from({ length: 50 }, () => stream.watch({ key: b('k'), startRev: 0n }));
    expect(ids).toEqual(Array.from({ length: 50 }, (_, i) => BigInt(i)));
    src.put('k', 'v');
    expect(got.map((r) => r.watchId).sort((x, y) => (x < y ? -1 : 1))).toEqual(ids);
  });

  it('requestProgress: at once when all synced, deferred until catch-up ends otherwise', async () => {
    const { src, got, stream, ws } = setup();
    stream.requestProgress(); // no watchers: vacuously synced
    expect(got).toEqual([{ watchId: PROGRESS_WATCH_ID, events: [], revision: 1n, compactRevision: 0n }]);
    got.length = 0;
    for (let i = 0; i < 5; i++) src.put('a', `${i}`); // 2..6
    stream.watch({ key: b('a'), startRev: 0n });
    const behind = stream.watch({ key: b('a'), startRev: 2n });
    stream.requestProgress();
    stream.requestProgress();
    expect(got).toHaveLength(0);
    src.put('a', 'x'); // 7
    while (ws.unsyncedCount() > 0) await ws.syncOnce();
    const progress = got.filter((r) => r.watchId === PROGRESS_WATCH_ID);
    expect(progress).toEqual([{ watchId: -1n, events: [], revision: 7n, compactRevision: 0n }]);
    // it comes after every event of the lagging watcher
    expect(got[got.length - 1].watchId).toBe(-1n);
    expect(allEvents(got, behind)).toHaveLength(6);
  });

  it('requestProgress on a paused stream coalesces into one response at the latest revision', () => {
    const src = new MemSource();
    const ws = new WatchableStore(src, { scheduler: manualScheduler().scheduler });
    const got: WatchResponse[] = [];
    let accept = false;
    const stream = ws.newWatchStream((r) => {
      got.push(r);
      return accept;
    });
    stream.watch({ key: b('a'), startRev: 0n });
    src.put('a', '1'); // delivered, then paused
    stream.requestProgress();
    src.put('b', '1'); // not watched
    stream.requestProgress();
    stream.requestProgress();
    expect(stream.pending()).toBe(1);
    src.put('a', '2');
    stream.requestProgress();
    expect(stream.pending()).toBe(3);
    accept = true;
    stream.resume();
    expect(got.map((r) => [r.watchId, r.revision])).toEqual([
      [0n, 2n],
      [-1n, 3n],
      [0n, 4n],
      [-1n, 4n],
    ]);
  });

  it('progressNotify: empty response for quiet synced watchers only', async () => {
    const { src, got, stream, ws } = setup();
    src.put('a', '0'); // 2
    const quiet = stream.watch({ key: b('q'), startRev: 0n, progressNotify: true });
    const busy = stream.watch({ key: b('a'), startRev: 0n, progressNotify: true });
    stream.watch({ key: b('a'), startRev: 0n }); // no progressNotify
    const lagging = stream.watch({ key: b('a'), startRev: 2n, progressNotify: true });
    src.put('a', '1'); // 3
    got.length = 0;
    stream.progressNotify();
    expect(got).toEqual([{ watchId: quiet, events: [], revision: 3n, compactRevision: 0n }]);
    got.length = 0;
    stream.progressNotify(); // busy's event was one tick ago: now it is quiet too
    expect(got.map((r) => r.watchId)).toEqual([quiet, busy]);
    while (ws.unsyncedCount() > 0) await ws.syncOnce();
    got.length = 0;
    stream.progressNotify();
    stream.progressNotify();
    // lagging was sent its catch-up events since the last tick: elided once
    expect(got.map((r) => r.watchId)).toEqual([quiet, busy, quiet, busy, lagging]);
  });

  it('a group of revisions published at once gives one response of whole revisions per watcher', () => {
    const { src, got, stream } = setup();
    stream.watch({ key: b('a'), startRev: 0n });
    src.publishMany([[{ put: ['a', '1'] }], [{ put: ['b', '1'] }], [{ put: ['a', '2'] }, { put: ['c', '1'] }]]);
    expect(got.map((r) => [r.revision, show(r)])).toEqual([[4n, ['PUT a=1@2', 'PUT a=2@4']]]);
  });

  it('a merged response closes at a revision boundary past its event bound, never inside a revision', () => {
    const { src, got, stream } = setup();
    stream.watch({ key: b('k'), end: b('l'), startRev: 0n });
    // 600 revisions of one put, then one revision of 600 puts: 1000 events fill a response.
    const single = Array.from({ length: MergedResponseEvents - 400 }, (_, i) => [{ put: [`k${i}`, 'v'] as [string, string] }]);
    const wide = [Array.from({ length: 600 }, (_, i) => ({ put: [`k-wide${i}`, 'v'] as [string, string] }))];
    const tail = [[{ put: ['k-last', 'v'] as [string, string] }]];
    src.publishMany([...single, ...wide, ...tail]);
    // the wide revision is not split: the first response ends before it overflows
    expect(got.map((r) => r.events.length)).toEqual([600 + 600, 1]);
    expect(got.map((r) => r.revision)).toEqual([BigInt(2 + single.length), BigInt(3 + single.length)]);
  });

  it('back-pressure: a paused stream is bounded, its watchers demoted and caught up later', async () => {
    const { src, ws } = setup({ maxPendingPerStream: 3, maxRevisionsPerSync: 4 });
    const got: WatchResponse[] = [];
    let accept = false;
    const stream = ws.newWatchStream((r) => {
      got.push(r);
      return accept;
    });
    const id = stream.watch({ key: b('a'), startRev: 0n });
    for (let i = 0; i < 20; i++) {
      src.put('a', `${i}`);
      expect(stream.pending()).toBeLessThanOrEqual(3);
    }
    expect(ws.unsyncedCount()).toBe(1); // demoted
    expect(await ws.syncOnce()).toBe(1); // nothing possible while congested
    accept = true;
    stream.resume();
    for (let i = 0; i < 100 && ws.unsyncedCount() > 0; i++) await ws.syncOnce();
    expect(ws.unsyncedCount()).toBe(0);
    src.put('a', 'end');
    expect(allEvents(got, id)).toEqual([...Array.from({ length: 20 }, (_, i) => `PUT a=${i}@${i + 2}`), 'PUT a=end@22']);
  });

  it('a throwing send closes the stream and reports', () => {
    const src = new MemSource();
    const ws = new WatchableStore(src, { scheduler: manualScheduler().scheduler });
    const errors: unknown[] = [];
    const stream = ws.newWatchStream(
      () => {
        throw new Error('boom');
      },
      { onError: (e) => errors.push(e) },
    );
    stream.watch({ key: b('a'), startRev: 0n });
    src.put('a', '1');
    expect(errors).toHaveLength(1);
    expect(ws.syncedCount()).toBe(0);
    expect(() => stream.watch({ key: b('a'), startRev: 0n })).toThrow(WatchError);
    src.put('a', '2'); // no effect
  });

  it('schedules catch-up by itself with the default scheduler', async () => {
    const src = new MemSource();
    const ws = new WatchableStore(src, { maxRevisionsPerSync: 2 });
    const got: WatchResponse[] = [];
    const stream = ws.newWatchStream((r) => {
      got.push(r);
    });
    for (let i = 0; i < 9; i++) src.put('a', `${i}`);
    stream.watch({ key: b('a'), startRev: 1n });
    const deadline = Date.now() + 10_000;
    while (ws.unsyncedCount() > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
    expect(ws.unsyncedCount()).toBe(0);
    expect(allEvents(got)).toHaveLength(9);
    ws.close();
    src.put('a', 'late');
    expect(allEvents(got)).toHaveLength(9);
  });

  it('close cancels the timer, every stream and stops delivery', () => {
    const { src, ws, m, got, stream } = setup();
    src.put('a', '1');
    stream.watch({ key: b('a'), startRev: 1n });
    expect(m.pending()).toBe(1);
    ws.close();
    expect(m.pending()).toBe(0);
    src.put('a', '2');
    expect(got).toHaveLength(0);
    expect(() => ws.newWatchStream(() => {})).toThrow();
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { mvccpb } from '@kv/api';
import { META_FINISHED_COMPACT_REV, META_SCHEDULED_COMPACT_REV } from './backend.js';
import { CompactedError, FutureRevError, KVStore, type PublishedChange } from './kvstore.js';
import { bytesToRev, revToBytes } from './revision.js';
import { FakeLeases, b, openStore, str, tempDirs, type Opened } from './testdata/store_helpers.js';

const { PUT, DELETE } = mvccpb.Event_EventType;
const dirs = tempDirs();
const opened: Opened[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close().catch(() => {});
  await dirs.cleanup();
});

async function fresh(opts: Parameters<typeof openStore>[1] = {}): Promise<Opened & { dir: string }> {
  const dir = await dirs.make();
  const o = await openStore(dir, opts);
  opened.push(o);
  return { ...o, dir };
}

async function reopen(o: Opened & { dir: string }, opts: Parameters<typeof openStore>[1] = {}): Promise<Opened & { dir: string }> {
  await o.close();
  const again = await openStore(o.dir, opts);
  opened.push(again);
  return { ...again, dir: o.dir };
}

/** "key=value@create/mod/version" for compact assertions. */
const show = (kv: mvccpb.KeyValue) => `${str(kv.key)}=${str(kv.value)}@${kv.createRevision}/${kv.modRevision}/${kv.version}`;

async function get(store: KVStore, key: string, rev?: bigint): Promise<string | undefined> {
  const r = await store.range(b(key), undefined, rev === undefined ? {} : { rev });
  return r.kvs[0] === undefined ? undefined : show(r.kvs[0]);
}

/** Drives etcd's history used for HashKV oracle values (taken from etcd 3.4.23). */
async function oracleHistory(o: Opened): Promise<void> {
  await o.write((w) => w.put(b('foo'), b('bar'), 0n)); // 2
  await o.write((w) => w.put(b('foo'), b('baz'), 0n)); // 3
  await o.write((w) => w.put(b('k1'), b('v1'), 0n)); // 4
  await o.write((w) => w.deleteRange(b('foo'), undefined).then(() => {})); // 5
  await o.write(async (w) => {
    // 6: one txn, three changes
    await w.put(b('x'), b('1'), 0n);
    await w.put(b('y'), b('2'), 0n);
    await w.deleteRange(b('k1'), undefined);
  });
}

describe('KVStore basics', () => {
  it('starts empty at revision 1 with no compaction', async () => {
    const { store } = await fresh();
    expect(store.currentRev()).toBe(1n);
    expect(store.compactRev()).toBe(0n);
    expect(store.consistentIndex()).toBe(0n);
    expect(await store.range(b('a'), undefined)).toEqual({ kvs: [], count: 0, rev: 1n });
    expect(await store.range(b('a'), Buffer.from([0]))).toEqual({ kvs: [], count: 0, rev: 1n });
  });

  it('puts, overwrites, deletes and recreates; reads any revision', async () => {
    const o = await fresh();
    await o.write((w) => w.put(b('a'), b('1'), 0n)); // 2
    await o.write((w) => w.put(b('b'), b('2'), 0n)); // 3
    await o.write((w) => w.put(b('a'), b('3'), 0n)); // 4
    await o.write(async (w) => {
      expect(await w.deleteRange(b('a'), undefined)).toBe(1);
    }); // 5
    await o.write((w) => w.put(b('a'), b('5'), 0n)); // 6
    const s = o.store;
    expect(s.currentRev()).toBe(6n);
    expect(await get(s, 'a', 1n)).toBeUndefined();
    expect(await get(s, 'a', 2n)).toBe('a=1@2/2/1');
    expect(await get(s, 'a', 3n)).toBe('a=1@2/2/1');
    expect(await get(s, 'a', 4n)).toBe('a=3@2/4/2');
    expect(await get(s, 'a', 5n)).toBeUndefined();
    expect(await get(s, 'a')).toBe('a=5@6/6/1');
    expect(await get(s, 'b')).toBe('b=2@3/3/1');
    await expect(s.range(b('a'), undefined, { rev: 7n })).rejects.toBeInstanceOf(FutureRevError);
    // revision <= 0 reads the current revision
    expect((await s.range(b('a'), undefined, { rev: -3n })).kvs.map(show)).toEqual(['a=5@6/6/1']);
    // the result's rev is the store's current revision, not the read revision
    expect((await s.range(b('a'), undefined, { rev: 2n })).rev).toBe(6n);
  });

  it('ranges: [key,end), from-key, prefix, limit, count, keysOnly, countOnly', async () => {
    const o = await fresh();
    for (const k of ['a', 'ab', 'abc', 'b', 'c', '\u00ff']) await o.write((w) => w.put(b(k), b(`v-${k}`), 0n));
    const s = o.store;
    const keys = async (key: string, end: Buffer | undefined, opt = {}) => (await s.range(b(key), end, opt)).kvs.map((kv) => str(kv.key));
    expect(await keys('a', b('b'))).toEqual(['a', 'ab', 'abc']);
    expect(await keys('ab', b('ac'))).toEqual(['ab', 'abc']); // prefix "ab"
    expect(await keys('b', Buffer.from([0]))).toEqual(['b', 'c', '\u00ff']); // from key
    expect(await keys('\u0000', Buffer.from([0]))).toEqual(['a', 'ab', 'abc', 'b', 'c', '\u00ff']);
    expect(await keys('b', Buffer.alloc(0))).toEqual(['b', 'c', '\u00ff']); // empty end = from key too
    expect(await keys('c', b('a'))).toEqual([]); // end before key
    const limited = await s.range(b('a'), Buffer.from([0]), { limit: 2 });
    expect(limited.kvs.map((kv) => str(kv.key))).toEqual(['a', 'ab']);
    expect(limited.count).toBe(6);
    const ko = await s.range(b('a'), b('b'), { keysOnly: true });
    expect(ko.kvs.map((kv) => [str(kv.key), kv.value.length, kv.version])).toEqual([
      ['a', 0, 1n],
      ['ab', 0, 1n],
      ['abc', 0, 1n],
    ]);
    expect(await s.range(b('a'), b('b'), { countOnly: true })).toEqual({ kvs: [], count: 3, rev: 7n });
    expect(await s.range(b('a'), undefined, { countOnly: true })).toEqual({ kvs: [], count: 1, rev: 7n });
    // a range at an older revision only sees keys alive then
    expect(await keys('a', Buffer.from([0]), { rev: 3n })).toEqual(['a', 'ab']);
  });

  it('a write txn gives all its changes one revision with increasing sub revisions', async () => {
    const o = await fresh();
    await o.write((w) => w.put(b('c'), b('old'), 0n)); // 2
    const w = await o.write(async (w) => {
      await w.put(b('a'), b('1'), 0n);
      await w.put(b('b'), b('2'), 0n);
      await w.put(b('a'), b('3'), 0n);
      expect(await w.deleteRange(b('c'), undefined)).toBe(1);
      // reads inside the txn see its own changes at the txn's revision
      const r = await w.range(b('a'), undefined);
      expect(r.kvs.map(show)).toEqual(['a=3@3/3/2']);
      expect(r.rev).toBe(3n);
    });
    expect(w.rev).toBe(3n);
    expect(o.store.currentRev()).toBe(3n);
    expect(w.changes().map((e) => [e.type, str(e.kv!.key), e.kv!.modRevision])).toEqual([
      [PUT, 'a', 3n],
      [PUT, 'b', 3n],
      [PUT, 'a', 3n],
      [DELETE, 'c', 3n],
    ]);
    const subs: string[] = [];
    for await (const [k] of o.backend.entries('key', { gte: revToBytes({ main: 3n, sub: 0n }) })) {
      const r = bytesToRev(k);
      subs.push(`${r.main}.${r.sub}${k.length === 18 ? 't' : ''}`);
    }
    expect(subs).toEqual(['3.0', '3.1', '3.2', '3.3t']);
  });

  it('a write txn that changes nothing keeps the revision', async () => {
    const o = await fresh();
    await o.write((w) => w.put(b('a'), b('1'), 0n));
    const w = await o.write(async (w) => {
      expect(await w.deleteRange(b('zzz'), undefined)).toBe(0);
      expect((await w.range(b('a'), undefined)).rev).toBe(2n);
    });
    expect(w.changed()).toBe(false);
    expect(o.store.currentRev()).toBe(2n);
    await o.write((w) => w.put(b('b'), b('1'), 0n));
    expect(o.store.currentRev()).toBe(3n);
  });

  it('a single-key range costs one index lookup and one backend get', async () => {
    const o = await fresh();
    await o.write(async (w) => {
      for (let i = 0; i < 500; i++) await w.put(b(`k${i}`), b(`v${i}`), 0n);
    });
    const be = o.backend;
    const calls = { getSync: 0, snapshot: 0, getMany: 0, entries: 0 };
    const orig = { getSync: be.getSync, snapshot: be.snapshot, getMany: be.getMany, entries: be.entries };
    be.getSync = (...a) => (calls.getSync++, orig.getSync.apply(be, a));
    be.snapshot = (...a) => (calls.snapshot++, orig.snapshot.apply(be, a));
    be.getMany = (...a) => (calls.getMany++, orig.getMany.apply(be, a));
    be.entries = (...a) => (calls.entries++, orig.entries.apply(be, a));
    expect(await get(o.store, 'k250')).toBe('k250=v250@2/2/1');
    expect(calls).toEqual({ getSync: 1, snapshot: 0, getMany: 0, entries: 0 });
    // a multi-key range reads through one snapshot
    expect((await o.store.range(b('k1'), b('k2'))).count).toBe(111);
    expect(calls).toEqual({ getSync: 1, snapshot: 1, getMany: 0, entries: 0 });
  });

  it('only one write txn may be open', async () => {
    const o = await fresh();
    const w = o.store.write(o.backend.newBatch());
    expect(() => o.store.write(o.backend.newBatch())).toThrow(/already open/);
    w.end();
    expect(() => w.end()).toThrow();
    await expect(w.put(b('a'), b('1'), 0n)).rejects.toThrow(/ended/);
  });
});

describe('group commit and publication', () => {
  it('two TxnWrites share one batch; readers see them only after publish', async () => {
    const o = await fresh();
    const { store, backend } = o;
    await o.write((w) => w.put(b('a'), b('0'), 0n)); // 2
    const published: PublishedChange[][] = [];
    const off = store.onPublished((c) => published.push(c));

    const tx = backend.newBatch();
    const w1 = store.write(tx);
    await w1.put(b('a'), b('1'), 0n);
    w1.end();
    const w2 = store.write(tx);
    expect(w2.rev).toBe(4n);
    // w2 sees w1's unpublished change
    expect((await w2.range(b('a'), undefined)).kvs.map(show)).toEqual(['a=1@2/3/2']);
    await w2.put(b('b'), b('2'), 0n);
    expect((await w2.range(b('a'), b('c'))).kvs.map(show)).toEqual(['a=1@2/3/2', 'b=2@4/4/1']);
    w2.end();
    store.setConsistentIndex(tx, 42n);

    // readers: still the published state
    expect(store.currentRev()).toBe(2n);
    expect(await get(store, 'a')).toBe('a=0@2/2/1');
    expect(await get(store, 'b')).toBeUndefined();
    await expect(store.range(b('a'), undefined, { rev: 3n })).rejects.toBeInstanceOf(FutureRevError);

    const commit = backend.commit(tx, { sync: false });
    // committed-but-unpublished is still invisible
    await commit;
    expect(await get(store, 'b')).toBeUndefined();
    expect(published).toEqual([]);

    store.publish(42n, [w1, w2]);
    expect(store.currentRev()).toBe(4n);
    expect(store.consistentIndex()).toBe(42n);
    expect(await get(store, 'a')).toBe('a=1@2/3/2');
    expect(await get(store, 'b')).toBe('b=2@4/4/1');
    expect(published.length).toBe(1);
    expect(published[0].map((c) => [c.rev, c.events.map((e) => str(e.kv!.key))])).toEqual([
      [3n, ['a']],
      [4n, ['b']],
    ]);
    off();
  });

  it('a write begun after unpublished writes continues their revisions; publish enforces order', async () => {
    const o = await fresh();
    const { store, backend } = o;
    const tx1 = backend.newBatch();
    const w1 = store.write(tx1);
    await w1.put(b('a'), b('1'), 0n);
    w1.end();
    const tx2 = backend.newBatch();
    const w2 = store.write(tx2);
    await w2.put(b('a'), b('2'), 0n);
    w2.end();
    expect([w1.rev, w2.rev]).toEqual([2n, 3n]);
    await backend.commit(tx1, { sync: false });
    await backend.commit(tx2, { sync: false });
    expect(() => store.publish(2n, [w2])).toThrow(/out of order/);
    store.publish(1n, [w1]);
    expect(await get(store, 'a')).toBe('a=1@2/2/1');
    store.publish(2n, [w2]);
    expect(await get(store, 'a')).toBe('a=2@2/3/2');
  });

  it('history returns published revisions read back from the backend', async () => {
    const o = await fresh();
    await oracleHistory(o);
    const got: string[] = [];
    for await (const c of o.store.history(3n, 100n)) {
      got.push(`${c.rev}:` + c.events.map((e) => `${e.type === PUT ? 'P' : 'D'} ${str(e.kv!.key)}@${e.kv!.modRevision}`).join(','));
    }
    expect(got).toEqual(['3:P foo@3', '4:P k1@4', '5:D foo@5', '6:P x@6,P y@6,D k1@6']);
  });
});

describe('read views', () => {
  it('a read view stays at its revision while later writes publish', async () => {
    const o = await fresh();
    const { store } = o;
    await o.write((w) => w.put(b('a'), b('1'), 0n)); // 2
    await o.write((w) => w.put(b('b'), b('1'), 0n)); // 3
    const view = store.readView();
    await o.write((w) => w.put(b('a'), b('2'), 0n)); // 4
    await o.write(async (w) => {
      await w.deleteRange(b('b'), undefined);
    }); // 5
    expect(view.readRev()).toBe(3n);
    expect((await view.range(b('a'), b('c'))).kvs.map(show)).toEqual(['a=1@2/2/1', 'b=1@3/3/1']);
    await expect(view.range(b('a'), undefined, { rev: 4n })).rejects.toBeInstanceOf(FutureRevError);
    expect((await store.readView().range(b('a'), b('c'))).kvs.map(show)).toEqual(['a=2@2/4/2']);
  });

  it("a compaction past a view's revision makes its reads fail as compacted", async () => {
    const o = await fresh();
    const { store } = o;
    await o.write((w) => w.put(b('a'), b('1'), 0n)); // 2
    const view = store.readView();
    await o.write((w) => w.put(b('a'), b('2'), 0n)); // 3
    const at2 = store.readView();
    const tx = o.backend.newBatch();
    const done = store.compact(3n, tx);
    await o.backend.commit(tx, { sync: false });
    expect(store.readView().readRev()).toBe(3n);
    await expect(view.range(b('a'), undefined)).rejects.toBeInstanceOf(CompactedError);
    expect((await at2.range(b('a'), undefined)).kvs.map(show)).toEqual(['a=2@2/3/2']);
    await done;
  });
});

describe('compaction', () => {
  it('rejects compacted and future revisions, as etcd does', async () => {
    const o = await fresh();
    for (let i = 0; i < 5; i++) await o.write((w) => w.put(b('a'), b(`${i}`), 0n)); // 2..6
    const { store, backend } = o;
    expect(() => store.compact(7n, backend.newBatch())).toThrow(FutureRevError);
    const tx = backend.newBatch();
    const done = store.compact(4n, tx);
    expect(store.compactRev()).toBe(4n);
    await backend.commit(tx, { sync: false });
    await done;
    expect(() => store.compact(4n, backend.newBatch())).toThrow(CompactedError);
    expect(() => store.compact(3n, backend.newBatch())).toThrow(CompactedError);
    await expect(store.range(b('a'), undefined, { rev: 3n })).rejects.toBeInstanceOf(CompactedError);
    await expect(store.range(b('a'), undefined, { rev: 3n })).rejects.toThrow('mvcc: required revision has been compacted');
    expect(await get(store, 'a', 4n)).toBe('a=2@2/4/3');
    expect(await get(store, 'a', 5n)).toBe('a=3@2/5/4');
    await expect(store.hashByRev(4n)).rejects.toBeInstanceOf(CompactedError);
    await expect(store.hashByRev(9n)).rejects.toBeInstanceOf(FutureRevError);
    expect(() => store.history(3n, 6n)).toThrow(CompactedError);
  });

  it('compact(0) on a never-compacted store is accepted once', async () => {
    const o = await fresh();
    const tx = o.backend.newBatch();
    const done = o.store.compact(0n, tx);
    await o.backend.commit(tx, { sync: false });
    await done;
    expect(() => o.store.compact(0n, o.backend.newBatch())).toThrow(CompactedError);
    expect((await o.store.hashByRev(0n)).compactRev).toBe(0n);
  });

  it('physically deletes old revisions in batches, keeping the newest per key, and records finishedCompactRev', async () => {
    const o = await fresh({ compactionBatchLimit: 3 });
    // a: 2..11 (10 versions), b: 12 put, 13 delete
    for (let i = 0; i < 10; i++) await o.write((w) => w.put(b('a'), b(`${i}`), 0n));
    await o.write((w) => w.put(b('b'), b('x'), 0n));
    await o.write((w) => w.deleteRange(b('b'), undefined).then(() => {}));
    const count = async () => {
      let n = 0;
      for await (const _ of o.backend.entries('key')) n++;
      return n;
    };
    expect(await count()).toBe(12);
    const tx = o.backend.newBatch();
    const done = o.store.compact(13n, tx);
    await o.backend.commit(tx, { sync: false });
    await done;
    // only a@11 is left: b's tombstone at the compaction revision goes too
    expect(await count()).toBe(1);
    expect(await get(o.store, 'a')).toBe('a=9@2/11/10');
    expect(await get(o.store, 'b', 13n)).toBeUndefined();
    const fin = await o.backend.get('meta', META_FINISHED_COMPACT_REV);
    expect(bytesToRev(fin!).main).toBe(13n);
    const sch = await o.backend.get('meta', META_SCHEDULED_COMPACT_REV);
    expect(bytesToRev(sch!).main).toBe(13n);
    // writing after a compaction continues normally
    await o.write((w) => w.put(b('a'), b('z'), 0n));
    expect(await get(o.store, 'a')).toBe('a=z@2/14/11');
  });

  it('a compaction of a not yet published revision takes effect for readers at publish', async () => {
    const o = await fresh();
    const { store, backend } = o;
    await o.write((w) => w.put(b('a'), b('1'), 0n)); // 2
    const tx = backend.newBatch();
    const w = store.write(tx);
    await w.put(b('a'), b('2'), 0n); // 3, unpublished
    w.end();
    const done = store.compact(3n, tx); // valid: 3 is applied
    expect(store.compactRev()).toBe(0n);
    expect(await get(store, 'a')).toBe('a=1@2/2/1'); // readers unaffected until publish
    await backend.commit(tx, { sync: false });
    store.publish(1n, [w]);
    expect(store.compactRev()).toBe(3n);
    await done;
    await expect(store.range(b('a'), undefined, { rev: 2n })).rejects.toBeInstanceOf(CompactedError);
    expect(await get(store, 'a')).toBe('a=2@2/3/2');
  });

  it('an interrupted compaction is finished on open', async () => {
    let o = await fresh();
    for (let i = 0; i < 4; i++) await o.write((w) => w.put(b('a'), b(`${i}`), 0n)); // 2..5
    // pretend the process stopped right after scheduling a compaction at 4
    const tx = o.backend.newBatch();
    tx.put('meta', META_SCHEDULED_COMPACT_REV, revToBytes({ main: 4n, sub: 0n }));
    await o.backend.commit(tx, { sync: true });
    o = await reopen(o);
    expect(o.store.compactRev()).toBe(4n);
    await o.store.compactionsSettled();
    const fin = await o.backend.get('meta', META_FINISHED_COMPACT_REV);
    expect(bytesToRev(fin!).main).toBe(4n);
    let n = 0;
    for await (const _ of o.backend.entries('key')) n++;
    expect(n).toBe(2); // a@4 (kept) and a@5
    await expect(o.store.range(b('a'), undefined, { rev: 3n })).rejects.toBeInstanceOf(CompactedError);
  });
});

describe('hashes', () => {
  it('HashKV matches etcd 3.4 on the same history (before and after compaction)', async () => {
    const o = await fresh();
    expect(await o.store.hashByRev(0n)).toEqual({ hash: 1084519789, compactRev: -1n, currentRev: 1n });
    await o.write((w) => w.put(b('foo'), b('bar'), 0n));
    expect((await o.store.hashByRev(0n)).hash).toBe(3305255506);
    await o.write((w) => w.put(b('foo'), b('baz'), 0n));
    await o.write((w) => w.put(b('k1'), b('v1'), 0n));
    await o.write((w) => w.deleteRange(b('foo'), undefined).then(() => {}));
    expect((await o.store.hashByRev(0n)).hash).toBe(195518769);
    await o.write(async (w) => {
      await w.put(b('x'), b('1'), 0n);
      await w.put(b('y'), b('2'), 0n);
      await w.deleteRange(b('k1'), undefined);
    });
    expect(await o.store.hashByRev(0n)).toEqual({ hash: 3244062582, compactRev: -1n, currentRev: 6n });
    expect((await o.store.hashByRev(5n)).hash).toBe(195518769);
    await o.write((w) => w.put(b('x'), b('3'), 0n));
    expect((await o.store.hashByRev(0n)).hash).toBe(4122057346);

    const tx = o.backend.newBatch();
    const done = o.store.compact(6n, tx);
    // before the physical deletion ran, the hash already honours the compaction
    expect(await o.store.hashByRev(0n)).toEqual({ hash: 1354909662, compactRev: 6n, currentRev: 7n });
    await o.backend.commit(tx, { sync: false });
    await done;
    expect(await o.store.hashByRev(0n)).toEqual({ hash: 1354909662, compactRev: 6n, currentRev: 7n });
    await o.write((w) => w.deleteRange(b('x'), undefined).then(() => {}));
    expect((await o.store.hashByRev(0n)).hash).toBe(821972643);
  });

  it('Hash is equal for equal histories and stable across restart', async () => {
    let a = await fresh();
    const c = await fresh();
    await oracleHistory(a);
    await oracleHistory(c);
    const h = await a.store.hash();
    expect(await c.store.hash()).toBe(h);
    a = await reopen(a);
    expect(await a.store.hash()).toBe(h);
    expect((await a.store.hashByRev(0n)).hash).toBe(3244062582);
    await a.write((w) => w.put(b('z'), b('1'), 0n));
    expect(await a.store.hash()).not.toBe(h);
  });
});

describe('restart', () => {
  it('restores data, revisions, consistent index and compaction revision', async () => {
    let o = await fresh();
    await oracleHistory(o); // 2..6, consistent index 5
    await o.write((w) => w.put(b('foo'), b('again'), 0n)); // 7
    const tx = o.backend.newBatch();
    const done = o.store.compact(4n, tx);
    await o.backend.commit(tx, { sync: false });
    await done;
    const before = {
      all: (await o.store.range(b('\0'), Buffer.from([0]))).kvs.map(show),
      at4: (await o.store.range(b('\0'), Buffer.from([0]), { rev: 4n })).kvs.map(show),
      at5: (await o.store.range(b('\0'), Buffer.from([0]), { rev: 5n })).kvs.map(show),
    };
    o = await reopen(o);
    expect(o.store.currentRev()).toBe(7n);
    expect(o.store.compactRev()).toBe(4n);
    expect(o.store.consistentIndex()).toBe(6n);
    expect((await o.store.range(b('\0'), Buffer.from([0]))).kvs.map(show)).toEqual(before.all);
    expect((await o.store.range(b('\0'), Buffer.from([0]), { rev: 4n })).kvs.map(show)).toEqual(before.at4);
    expect((await o.store.range(b('\0'), Buffer.from([0]), { rev: 5n })).kvs.map(show)).toEqual(before.at5);
    expect(before.all).toEqual(['foo=again@7/7/1', 'x=1@6/6/1', 'y=2@6/6/1']);
    await expect(o.store.range(b('foo'), undefined, { rev: 3n })).rejects.toBeInstanceOf(CompactedError);
    // versions continue where they were
    await o.write((w) => w.put(b('x'), b('2'), 0n));
    expect(await get(o.store, 'x')).toBe('x=2@6/8/2');
  });

  it('keeps currentRev at the compaction revision when compaction removed every later entry', async () => {
    let o = await fresh();
    await o.write((w) => w.put(b('a'), b('1'), 0n)); // 2
    await o.write((w) => w.deleteRange(b('a'), undefined).then(() => {})); // 3
    const tx = o.backend.newBatch();
    const done = o.store.compact(3n, tx);
    await o.backend.commit(tx, { sync: false });
    await done;
    o = await reopen(o);
    expect(o.store.currentRev()).toBe(3n);
    await o.write((w) => w.put(b('a'), b('2'), 0n));
    expect(await get(o.store, 'a')).toBe('a=2@4/4/1');
  });
});

describe('leases', () => {
  it('attaches on put, detaches on overwrite and delete, re-attaches on open', async () => {
    const leases = new FakeLeases();
    leases.grant(7n);
    leases.grant(8n);
    let o = await fresh({ leases });
    await o.write(async (w) => {
      await w.put(b('a'), b('1'), 7n);
      await w.put(b('b'), b('1'), 7n);
      await w.put(b('c'), b('1'), 8n);
    });
    expect(leases.keysOf(7n)).toEqual(['a', 'b']);
    await o.write((w) => w.put(b('a'), b('2'), 0n)); // lease dropped
    await o.write((w) => w.put(b('c'), b('2'), 7n)); // moved to 7
    await o.write((w) => w.deleteRange(b('b'), undefined).then(() => {}));
    expect(leases.keysOf(7n)).toEqual(['c']);
    expect(leases.keysOf(8n)).toEqual([]);
    expect((await o.store.range(b('c'), undefined)).kvs[0].lease).toBe(7n);

    const again = new FakeLeases();
    again.grant(7n);
    o = await reopen(o, { leases: again });
    expect(again.keysOf(7n)).toEqual(['c']);
  });
});

describe('large ranges', () => {
  const key = (i: number) => `k${String(i).padStart(5, '0')}`;

  it('a range over most revisions (read by one scan) equals the same range read key by key', async () => {
    const leases = new FakeLeases();
    leases.grant(9n);
    const o = await fresh({ leases });
    // 600 keys, then 100 of them overwritten (older versions in the scanned span are skipped),
    // 50 deleted (tombstones in the span), one with a lease
    for (let i = 0; i < 600; i++) await o.write((w) => w.put(b(key(i)), b(`v${i}`), i === 7 ? 9n : 0n));
    for (let i = 0; i < 100; i++) await o.write((w) => w.put(b(key(i * 3)), b(`w${i}`), 0n));
    for (let i = 0; i < 50; i++) await o.write((w) => w.deleteRange(b(key(i * 5 + 1)), undefined).then(() => {}));
    const all = await o.store.range(b('k'), b('l'));
    expect(all.count).toBe(550);
    expect(all.kvs).toHaveLength(550);
    for (const kv of all.kvs) expect(kv).toEqual((await o.store.range(kv.key, undefined)).kvs[0]);
    expect(all.kvs.find((kv) => str(kv.key) === key(7))?.lease).toBe(9n);

    const keysOnly = await o.store.range(b('k'), b('l'), { keysOnly: true });
    expect(keysOnly.kvs).toEqual(all.kvs.map((kv) => ({ ...kv, value: Buffer.alloc(0) })));
    const limited = await o.store.range(b('k'), b('l'), { limit: 300 });
    expect(limited.count).toBe(550);
    expect(limited.kvs).toEqual(all.kvs.slice(0, 300));
    // at an older revision: the first 600 puts only
    const old = await o.store.range(b('k'), b('l'), { rev: 601n });
    expect(old.kvs.map((kv) => str(kv.value))).toEqual(Array.from({ length: 600 }, (_, i) => `v${i}`));
    // keys-only at that revision: the keys changed since are read from their records
    const oldKeys = await o.store.range(b('k'), b('l'), { rev: 601n, keysOnly: true });
    expect(oldKeys.kvs).toEqual(old.kvs.map((kv) => ({ ...kv, value: Buffer.alloc(0) })));
    expect((await o.store.range(b('k'), b('l'), { keysOnly: true, limit: 10 })).kvs).toEqual(keysOnly.kvs.slice(0, 10));
  });

  it('a sparse range (a few keys in a long history) is read by point lookups, keys-only too', async () => {
    const o = await fresh();
    for (let i = 0; i < 300; i++) await o.write((w) => w.put(b(key(i % 3)), b(`v${i}`), 0n));
    const r = await o.store.range(b('k'), b('l'), { keysOnly: true });
    expect(r.kvs.map(show)).toEqual(['k00000=@2/299/100', 'k00001=@3/300/100', 'k00002=@4/301/100']);
  });

  it('serves the same index after a reopen (restored without decoding values)', async () => {
    const leases = new FakeLeases();
    leases.grant(5n);
    let o = await fresh({ leases });
    for (let i = 0; i < 300; i++) await o.write((w) => w.put(b(key(i % 150)), b(`v${i}`), i === 299 ? 5n : 0n));
    await o.write((w) => w.deleteRange(b(key(3)), undefined).then(() => {}));
    const before = await o.store.range(b('k'), b('l'));
    const again = new FakeLeases();
    again.grant(5n);
    o = await reopen(o, { leases: again });
    expect(await o.store.range(b('k'), b('l'))).toEqual(before);
    expect(again.keysOf(5n)).toEqual([key(149)]);
  });
});

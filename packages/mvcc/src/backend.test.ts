import { randomBytes } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { Backend } from './backend.js';
import { bytesToRev, compareRev, isTombstone, mainRevPrefix, revKey, revKeyOfBytes, revToBytes } from './revision.js';
import { b, str, tempDirs } from './testdata/store_helpers.js';

const dirs = tempDirs();
const open: Backend[] = [];
afterEach(async () => {
  for (const be of open.splice(0)) await be.close().catch(() => {});
  await dirs.cleanup();
});
async function fresh(dir?: string): Promise<Backend> {
  const be = await Backend.open(dir ?? (await dirs.make()));
  open.push(be);
  return be;
}
async function all(it: AsyncIterable<[Buffer, Buffer]>): Promise<string[]> {
  const out: string[] = [];
  for await (const [k, v] of it) out.push(`${str(k)}=${str(v)}`);
  return out;
}

async function all2(it: AsyncIterable<Buffer>): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return out;
}

describe('revision encoding', () => {
  it('is 17 bytes (18 with the tombstone mark) and sorts like the revisions', () => {
    const a = revToBytes({ main: 5n, sub: 2n });
    expect(a.length).toBe(17);
    expect(a[8]).toBe(0x5f);
    expect(bytesToRev(a)).toEqual({ main: 5n, sub: 2n });
    const t = revToBytes({ main: 5n, sub: 2n }, true);
    expect([t.length, isTombstone(t), isTombstone(a), t[17]]).toEqual([18, true, false, 0x74]);
    expect(revKeyOfBytes(t)).toBe(revKey({ main: 5n, sub: 2n }));
    const revs = [
      { main: 1n, sub: 0n },
      { main: 1n, sub: 1n },
      { main: 2n, sub: 0n },
      { main: 256n, sub: 0n },
      { main: 2n ** 40n, sub: 3n },
    ];
    for (let i = 1; i < revs.length; i++) {
      expect(compareRev(revs[i - 1], revs[i])).toBe(-1);
      expect(Buffer.compare(revToBytes(revs[i - 1]), revToBytes(revs[i]))).toBe(-1);
    }
    expect(Buffer.compare(mainRevPrefix(3n), revToBytes({ main: 3n, sub: 0n }))).toBe(-1);
    expect(Buffer.compare(mainRevPrefix(3n), revToBytes({ main: 2n, sub: 2n ** 62n }))).toBe(1);
  });
});

describe('Backend', () => {
  it('keeps buckets apart and iterates each in key order', async () => {
    const be = await fresh();
    const tx = be.newBatch();
    tx.put('key', b('b'), b('2'));
    tx.put('key', b('a'), b('1'));
    tx.put('meta', b('a'), b('m'));
    tx.put('lease', b('\u00ff'), b('l'));
    tx.put('alarm', b('x'), b('y'));
    expect(tx.size).toBe(5);
    expect(await be.get('key', b('a'))).toBeUndefined(); // nothing before commit
    await be.commit(tx, { sync: true });
    expect(await all(be.entries('key'))).toEqual(['a=1', 'b=2']);
    expect((await all(be.entries('meta'))).filter((e) => !e.startsWith('kv_digest='))).toEqual(['a=m']);
    expect(await all(be.entries('lease'))).toEqual(['\u00ff=l']);
    expect(await all(be.entries('auth'))).toEqual([]);
    expect(str(await be.get('meta', b('a')))).toBe('m');
    expect(str(be.getSync('key', b('b')))).toBe('2');
    expect((await be.getMany('key', [b('a'), b('zz'), b('b')])).map(str)).toEqual(['1', undefined, '2']);
  });

  it('ranges: gte/lt, limit, reverse', async () => {
    const be = await fresh();
    const tx = be.newBatch();
    for (const k of ['a', 'b', 'c', 'd']) tx.put('key', b(k), b(k));
    await be.commit(tx, { sync: false });
    expect(await all(be.entries('key', { gte: b('b'), lt: b('d') }))).toEqual(['b=b', 'c=c']);
    expect(await all(be.entries('key', { gte: b('b'), limit: 1 }))).toEqual(['b=b']);
    expect(await all(be.entries('key', { reverse: true, limit: 2 }))).toEqual(['d=d', 'c=c']);
    expect(await all(be.entries('key', { gte: b('c'), lt: b('a') }))).toEqual([]);
  });

  it('reports each batch written to its commit observer, in seconds; an empty batch writes nothing', async () => {
    const be = await fresh();
    const seen: number[] = [];
    be.observeCommits((s) => seen.push(s));
    const tx = be.newBatch();
    tx.put('key', b('a'), b('1'));
    await be.commit(tx, { sync: true });
    await be.commit(be.newBatch(), { sync: false });
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBeGreaterThanOrEqual(0);
    expect(seen[0]).toBeLessThan(60); // seconds, not milliseconds
    be.observeCommits(undefined);
    const t2 = be.newBatch();
    t2.put('key', b('b'), b('2'));
    await be.commit(t2, { sync: false });
    expect(seen).toHaveLength(1);
  });

  it('commits batches atomically, in call order; deletes apply', async () => {
    const be = await fresh();
    const t1 = be.newBatch();
    t1.put('lease', b('k'), b('1'));
    const t2 = be.newBatch();
    t2.put('lease', b('k'), b('2'));
    t2.put('lease', b('j'), b('x'));
    const t3 = be.newBatch();
    t3.del('lease', b('j'));
    const order: number[] = [];
    await Promise.all([
      be.commit(t1, { sync: false }).then(() => order.push(1)),
      be.commit(t2, { sync: false }).then(() => order.push(2)),
      be.commit(t3, { sync: true }).then(() => order.push(3)),
    ]);
    expect(order).toEqual([1, 2, 3]);
    expect(await all(be.entries('lease'))).toEqual(['k=2']);
    await t3.whenCommitted();
    expect(() => t1.put('key', b('late'), b('x'))).toThrow(/committed/);
    await expect(be.commit(t1, { sync: false })).rejects.toThrow(/twice/);
  });

  it('a snapshot reads a fixed point in time', async () => {
    const be = await fresh();
    const t1 = be.newBatch();
    t1.put('key', b('a'), b('1'));
    await be.commit(t1, { sync: false });
    const snap = be.snapshot();
    const t2 = be.newBatch();
    t2.put('key', b('a'), b('2'));
    t2.put('key', b('b'), b('2'));
    await be.commit(t2, { sync: false });
    expect(str(snap.getSync('key', b('a')))).toBe('1');
    expect(await all(snap.entries('key'))).toEqual(['a=1']);
    expect((await snap.getMany('key', [b('a'), b('b')])).map(str)).toEqual(['1', undefined]);
    await snap.close();
    expect(await all(be.entries('key'))).toEqual(['a=2', 'b=2']);
  });

  it('persists across reopen; a second opener of the same dir is refused', async () => {
    const dir = await dirs.make();
    const be = await fresh(dir);
    const tx = be.newBatch();
    tx.put('members', b('m1'), b('x'));
    await be.commit(tx, { sync: true });
    await expect(Backend.open(dir)).rejects.toThrow();
    await be.close();
    const again = await fresh(dir);
    expect(await all(again.entries('members'))).toEqual(['m1=x']);
  });

  it('reports sizes and defragments', async () => {
    const be = await fresh();
    const tx = be.newBatch();
    for (let i = 0; i < 2000; i++) tx.put('key', b(`k${i}`), Buffer.alloc(100, i % 256));
    await be.commit(tx, { sync: true });
    await be.defragment();
    expect(await be.sizeOnDisk()).toBeGreaterThan(0);
    expect(await be.sizeInUse()).toBeGreaterThanOrEqual(0);
    expect(await all(be.entries('key', { limit: 1 }))).toHaveLength(1);
  });

  it('size() counts every committed byte at once and sees a defragment at once', async () => {
    const be = await fresh();
    const start = be.size();
    const tx = be.newBatch();
    const values = Array.from({ length: 1000 }, () => randomBytes(1024));
    for (let i = 0; i < 1000; i++) tx.put('key', b(`k${i}`), values[i]);
    await be.commit(tx, { sync: false });
    // No measurement has run yet (or one is in flight): the estimate already holds the batch.
    expect(be.size() - start).toBeGreaterThanOrEqual(1000 * 1024);
    await be.defragment(); // the values reach the table files
    const del = be.newBatch();
    for (let i = 0; i < 1000; i++) del.del('key', b(`k${i}`), values[i]);
    await be.commit(del, { sync: false });
    const grown = await be.refreshSize();
    expect(grown).toBeGreaterThan(1000 * 1024);
    await be.defragment();
    // The deleted values are gone from the files, and size() says so without waiting for a timer.
    expect(be.size()).toBeLessThan(grown / 2);
    expect(be.size()).toBe(await be.sizeForQuota());
    expect(be.size()).toBeLessThanOrEqual(await be.sizeOnDisk());
    await be.close();
  });

  it('defragments a backend whose writes and deletes met in one memtable (its first flush lands on the deepest level)', async () => {
    // 2000 × 1 KiB random values written and 9/10 deleted before anything reached a table file:
    // the flush of that memtable becomes the deepest level's one table, which LevelDB's
    // CompactRange alone never rewrites (it kept all 2 MB; see Backend.defragment).
    const be = await fresh();
    const values = Array.from({ length: 2000 }, () => randomBytes(1024));
    const put = be.newBatch();
    const key = (i: number) => b(`k${String(i).padStart(5, '0')}`);
    for (const [i, v] of values.entries()) put.put('key', key(i), v);
    await be.commit(put, { sync: false });
    const del = be.newBatch();
    for (const [i, v] of values.entries()) if (i % 10 !== 0) del.del('key', key(i), v);
    await be.commit(del, { sync: false });
    await be.defragment();
    expect(await be.sizeOnDisk()).toBeLessThan(600 * 1024); // 200 KiB live
    expect(await be.sizeInUse()).toBeGreaterThanOrEqual(200 * 1024);
    const kept = await all(be.entries('key'));
    expect(kept).toHaveLength(200);
    await be.defragment(); // a second one keeps every record
    expect(await all(be.entries('key'))).toEqual(kept);
    await be.close();
    const again = await fresh(be.dir); // and the digest still proves the backend whole
    expect(await all(again.entries('key'))).toHaveLength(200);
    await again.close();
  });

  it('streams a consistent snapshot and restores it elsewhere; corruption is detected', async () => {
    const be = await fresh();
    const tx = be.newBatch();
    for (let i = 0; i < 3000; i++) tx.put('key', b(`k${String(i).padStart(5, '0')}`), Buffer.alloc(50, i % 256));
    tx.put('meta', b('consistent_index'), Buffer.alloc(8, 1));
    tx.put('lease', b(''), b('empty key'));
    await be.commit(tx, { sync: true });

    const chunks: Buffer[] = [];
    const stream = be.snapshotStream();
    let first = true;
    for await (const c of stream) {
      chunks.push(c);
      if (first) {
        // a write after the stream started is not part of it
        first = false;
        const late = be.newBatch();
        late.put('key', b('zz-late'), b('x'));
        await be.commit(late, { sync: false });
      }
    }
    expect(chunks.length).toBeGreaterThan(2);

    const dir2 = await dirs.make();
    const restored = await Backend.restoreFrom(dir2, chunks);
    open.push(restored);
    const keysOf = async (x: Backend) => (await all(x.entries('key'))).length;
    expect(await keysOf(restored)).toBe(3000);
    expect(await all(restored.entries('lease'))).toEqual(['=empty key']);
    expect(await restored.get('meta', b('consistent_index'))).toEqual(Buffer.alloc(8, 1));

    // re-chunked input works too
    const whole = Buffer.concat(chunks);
    const bytewise = async function* () {
      for (let i = 0; i < whole.length; i += 777) yield whole.subarray(i, i + 777);
    };
    const dir3 = await dirs.make();
    open.push(await Backend.restoreFrom(dir3, bytewise()));

    const bad = Buffer.from(whole);
    bad[1000] ^= 0xff;
    await expect(Backend.restoreFrom(await dirs.make(), [bad])).rejects.toThrow(/checksum/);
    await expect(Backend.restoreFrom(await dirs.make(), [whole.subarray(0, whole.length - 3)])).rejects.toThrow(/truncated/);
    await expect(Backend.restoreFrom(await dirs.make(), [Buffer.from('not a snapshot at all')])).rejects.toThrow(
      /not a backend snapshot stream/,
    );
  });

  it('openSnapshot: size is exact, chunks are pulled one at a time, close releases the view', async () => {
    const be = await fresh();
    const tx = be.newBatch();
    for (let i = 0; i < 2000; i++) tx.put('key', b(`k${String(i).padStart(5, '0')}`), Buffer.alloc(100, i % 256));
    await be.commit(tx, { sync: true });

    const whole = Buffer.concat(await all2(be.snapshotStream()));
    const r = be.openSnapshot();
    expect(be.openSnapshotReaders).toBe(1);
    const size = await r.size();
    // a write after opening is not part of the view, so the size still holds
    const late = be.newBatch();
    late.put('key', b('zz-late'), Buffer.alloc(5000));
    await be.commit(late, { sync: false });
    expect(size).toBe(whole.length);
    let seen = 0;
    for await (const c of r.chunks()) {
      expect(c.length).toBeLessThan(64 * 1024 + 200); // one chunk, not the whole copy
      seen += c.length;
    }
    expect(seen).toBe(size);

    // abandoned half-way: closing releases it
    const r2 = be.openSnapshot();
    const it = r2.chunks();
    await it.next();
    await it.return(undefined);
    expect(be.openSnapshotReaders).toBe(2);
    await r.close();
    await r2.close();
    await r2.close(); // idempotent
    expect(be.openSnapshotReaders).toBe(0);
    await expect(r2.size()).rejects.toThrow(/closed/);
  });
});

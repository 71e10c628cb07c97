import { readdir, readFile, stat, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { Wal } from './wal.js';
import { WalError } from './errors.js';
import { scanSegment } from './record.js';
import { RecordType } from './constants.js';
import { entries, entry, hs, removeTempDirs, tempDir } from './testdata/helpers.js';

afterAll(removeTempDirs);

const META = Buffer.from('member=1,cluster=7');
const SMALL = { segmentBytes: 4096 };

async function walDir(): Promise<string> {
  return join(await tempDir(), 'wal');
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
  } catch (err) {
    if (err instanceof WalError) return err.code;
    throw err;
  }
  return 'ok';
}

describe('Wal create/open', () => {
  it('reports each fdatasync of a batch to its observer, in seconds, and counts the bytes written', async () => {
    const w = await Wal.create(await walDir(), META);
    const seen: number[] = [];
    w.observeFsync((s) => seen.push(s));
    const bytes0 = w.stats().bytes;
    await w.save(hs(1n, 1n, 0n), entries(1n, 3n));
    expect(seen.length).toBe(w.stats().syncs);
    expect(seen.length).toBeGreaterThanOrEqual(1);
    expect(seen.every((s) => s >= 0 && s < 60)).toBe(true);
    expect(w.stats().bytes).toBeGreaterThan(bytes0);
    await w.save(hs(1n, 1n, 3n), [], { sync: false }); // no fdatasync, nothing observed
    expect(seen.length).toBe(w.stats().syncs);
    await w.close();
  });

  it('round-trips metadata, hard state and entries', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META);
    await w.save(hs(1n, 1n, 0n), entries(1n, 5n));
    await w.save(hs(1n, 1n, 5n), []);
    await w.close();
    const r = await Wal.open(dir, undefined, SMALL);
    expect(r.metadata.equals(META)).toBe(true);
    expect(r.hardState).toEqual(hs(1n, 1n, 5n));
    expect(r.entries).toEqual(entries(1n, 5n));
    expect(r.repaired).toBeUndefined();
    expect(r.wal.lastIndex).toBe(5n);
    await r.wal.save(undefined, entries(6n, 7n));
    await r.wal.close();
    const r2 = await Wal.open(dir, undefined, SMALL);
    expect(r2.entries.map((e) => e.Index)).toEqual([1n, 2n, 3n, 4n, 5n, 6n, 7n]);
    await r2.wal.close();
  });

  it('later entries replace conflicting ones at the same index', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    await w.save(hs(1n, 1n, 2n), entries(1n, 6n, 1n));
    await w.save(hs(2n, 2n, 2n), entries(4n, 5n, 2n, 'new'));
    await w.close();
    const r = await Wal.open(dir, undefined, SMALL);
    expect(r.entries).toEqual([...entries(1n, 3n, 1n), ...entries(4n, 5n, 2n, 'new')]);
    expect(r.wal.lastIndex).toBe(5n);
    await r.wal.close();
  });

  it('refuses entries that leave a gap or are not contiguous', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    expect(await codeOf(w.save(undefined, [entry(2n)]))).toBe('BAD_ARGUMENT');
    expect(await codeOf(w.save(undefined, [entry(1n), entry(3n)]))).toBe('BAD_ARGUMENT');
    await w.save(undefined, [entry(1n)]);
    await w.close();
    expect(await codeOf(w.save(undefined, [entry(2n)]))).toBe('CLOSED');
  });

  it('refuses, before writing, terms and indexes above the raft bounds; the WAL stays readable', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    await w.save(hs(1n, 1n, 1n), [entry(1n)]);
    const max64 = (1n << 64n) - 1n;
    const over = 1n << 63n; // maxTerm + 1
    expect(await codeOf(w.save(hs(max64, 1n, 1n), []))).toBe('BAD_ARGUMENT');
    expect(await codeOf(w.save(hs(over, 1n, 1n), []))).toBe('BAD_ARGUMENT');
    expect(await codeOf(w.save(hs(2n, 1n, over), []))).toBe('BAD_ARGUMENT');
    expect(await codeOf(w.save(undefined, [entry(2n), { ...entry(3n), Term: over }]))).toBe('BAD_ARGUMENT');
    expect(await codeOf(w.saveSnapshot({ index: over, term: 1n }))).toBe('BAD_ARGUMENT');
    const err = await w.save(hs(max64, 1n, 1n), []).catch((e: unknown) => e);
    expect(String(err)).toMatch(/hard state term 18446744073709551615 is outside 0\.\.9223372036854775807/);
    // The largest legal values are written and read back.
    await w.save(hs(over - 1n, 1n, 1n), [entry(2n)]);
    await w.close();
    const r = await Wal.open(dir, undefined, SMALL);
    expect(r.hardState.term).toBe(over - 1n);
    expect(r.entries.map((e) => e.Index)).toEqual([1n, 2n]);
    await r.wal.close();
  });

  it('create refuses an existing WAL; open refuses a missing one', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    await w.close();
    expect(await codeOf(Wal.create(dir, META))).toBe('EXISTS');
    expect(await codeOf(Wal.open(join(dir, 'nope')))).toBe('NOT_FOUND');
    const empty = await walDir();
    await mkdir(empty);
    expect(await codeOf(Wal.open(empty))).toBe('NOT_FOUND');
    expect(await Wal.exists(empty)).toBe(false);
    const w2 = await Wal.create(empty, META, SMALL); // an empty directory is fine
    await w2.close();
  });

  it('locks the directory against a second open, and releases on close', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    const err = await Wal.open(dir).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WalError);
    expect((err as WalError).code).toBe('LOCKED');
    expect((err as WalError).message).toContain(`pid ${process.pid}`);
    await w.close();
    const r = await Wal.open(dir, undefined, SMALL);
    await r.wal.close();
  });

  it('removes leftover .tmp files on open', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    await w.close();
    await writeFile(join(dir, '0.tmp'), 'junk');
    const r = await Wal.open(dir, undefined, SMALL);
    expect((await readdir(dir)).filter((n) => n.endsWith('.tmp') && n !== '0.tmp')).toEqual([]);
    await r.wal.close();
    expect((await readdir(dir)).some((n) => n.endsWith('.tmp'))).toBe(false);
  });
});

describe('segments', () => {
  it('cuts past the threshold, names segments by seq and first index, chains the CRC', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    for (let i = 1n; i <= 200n; i += 10n) await w.save(hs(1n, 1n, i), entries(i, i + 9n));
    await w.close(); // a cut may still be running after the last save resolved
    expect(w.stats().cuts).toBeGreaterThan(3);
    const files = w.segmentFiles();
    expect(files[0]).toBe('0000000000000000-0000000000000000.wal');
    for (let i = 1; i < files.length; i++) {
      expect(files[i]!.slice(0, 16)).toBe(i.toString(16).padStart(16, '0'));
    }
    // Every cut segment but the last is truncated at its last record; each starts with a Crc record.
    let prev: number | undefined;
    for (let i = 0; i < files.length; i++) {
      const buf = await readFile(join(dir, files[i]!));
      const last = i === files.length - 1;
      const scan = scanSegment(buf, { file: files[i]!, prevCrc: prev, last });
      expect(scan.records[0]!.type).toBe(RecordType.Crc);
      expect(scan.records[1]!.type).toBe(RecordType.Metadata);
      if (!last) expect(scan.end.kind).toBe('eof');
      else expect(scan.end.kind).toBe('zeros');
      if (i > 0) {
        expect(scan.records[2]!.type).toBe(RecordType.HardState);
        const firstIndex = BigInt(`0x${files[i]!.slice(17, 33)}`);
        expect(firstIndex).toBeGreaterThan(1n);
        expect(firstIndex % 10n).toBe(1n); // saves are 10 entries each: cuts fall between them
      }
      prev = scan.crc;
    }
    expect((await stat(join(dir, files[files.length - 1]!))).size).toBe(4096); // preallocated
    const r = await Wal.open(dir, undefined, SMALL);
    expect(r.entries.length).toBe(200);
    expect(r.hardState).toEqual(hs(1n, 1n, 191n));
    await r.wal.close();
  });

  it('opens at a snapshot, releases the segments it covers, and purge deletes only released ones', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    for (let i = 1n; i <= 300n; i += 10n) await w.save(hs(1n, 1n, i + 9n), entries(i, i + 9n));
    await w.saveSnapshot({ index: 150n, term: 1n });
    const before = w.segmentFiles();
    expect(before.length).toBeGreaterThan(3);
    // Nothing is released yet: purge keeps every file, whatever the limit.
    expect(await w.purge(0)).toEqual([]);
    const released = await w.release(150n);
    expect(released.length).toBeGreaterThan(0);
    expect(await w.release(150n)).toEqual([]); // idempotent
    expect(w.releasedFiles()).toEqual(released);
    expect(w.segmentFiles()).toEqual(before); // release deletes nothing
    const needed = before.slice(released.length);
    expect(BigInt(`0x${needed[0]!.slice(17, 33)}`)).toBeLessThanOrEqual(150n);
    expect(BigInt(`0x${needed[1]!.slice(17, 33)}`)).toBeGreaterThan(150n);
    // A limit the released files alone can meet: the oldest go first, down to the limit.
    if (released.length > 1) {
      const one = await w.purge(before.length - 1);
      expect(one).toEqual([before[0]]);
    }
    // A limit below what is needed: every released file goes, none of the needed ones.
    await w.purge(1);
    expect(w.segmentFiles()).toEqual(needed);
    expect(w.releasedFiles()).toEqual([]);
    expect((await readdir(dir)).filter((n) => n.endsWith('.wal')).sort()).toEqual(needed);
    await w.save(undefined, entries(301n, 305n));
    await w.close();

    const r = await Wal.open(dir, { index: 150n, term: 1n }, SMALL);
    expect(r.entries.map((e) => e.Index)).toEqual(entries(151n, 305n).map((e) => e.Index));
    expect(r.entries).toEqual(entries(151n, 305n));
    await r.wal.close();
    // The zero position is gone with the first segment; a position without a marker is refused.
    expect(await codeOf(Wal.open(dir, undefined, SMALL))).toBe('SNAPSHOT_NOT_FOUND');
    expect(await codeOf(Wal.open(dir, { index: 160n, term: 1n }, SMALL))).toBe('SNAPSHOT_NOT_FOUND');
    expect(await codeOf(Wal.open(dir, { index: 150n, term: 2n }, SMALL))).toBe('SNAPSHOT_MISMATCH');
  });

  it('a reopen at a snapshot counts the segments before it as released', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    for (let i = 1n; i <= 300n; i += 10n) await w.save(hs(1n, 1n, i + 9n), entries(i, i + 9n));
    await w.saveSnapshot({ index: 150n, term: 1n });
    const all = w.segmentFiles();
    await w.close();
    const r = await Wal.open(dir, { index: 150n, term: 1n }, SMALL);
    const released = r.wal.releasedFiles();
    expect(released.length).toBeGreaterThan(0);
    expect(r.wal.segmentFiles()).toEqual(all);
    expect(await r.wal.purge(0)).toEqual(released);
    expect(await codeOf(r.wal.purge(-1))).toBe('BAD_ARGUMENT');
    await r.wal.close();
    const again = await Wal.open(dir, { index: 150n, term: 1n }, SMALL);
    expect(again.entries).toEqual(entries(151n, 300n));
    await again.wal.close();
  });

  it('a snapshot marker raises the append point past the log', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    await w.save(hs(1n, 1n, 1n), entries(1n, 3n));
    await w.saveSnapshot({ index: 100n, term: 3n }); // received from a leader
    expect(w.lastIndex).toBe(100n);
    await w.save(hs(3n, 1n, 100n), entries(101n, 102n, 3n));
    await w.close();
    const r = await Wal.open(dir, { index: 100n, term: 3n }, SMALL);
    expect(r.entries).toEqual(entries(101n, 102n, 3n));
    await r.wal.close();
  });
});

describe('group commit and sync', () => {
  it('concurrent saves share one write and one fdatasync, and resolve in call order', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, { segmentBytes: 1 << 20 });
    const order: number[] = [];
    const calls: Promise<void>[] = [];
    for (let i = 1; i <= 100; i++) {
      calls.push(w.save(hs(1n, 1n, BigInt(i)), [entry(BigInt(i))]).then(() => void order.push(i)));
    }
    await Promise.all(calls);
    const s = w.stats();
    expect(s.saves).toBe(100);
    expect(s.syncs).toBe(1);
    expect(s.writes).toBe(1);
    expect(order).toEqual(Array.from({ length: 100 }, (_, i) => i + 1));
    await w.close();
    const r = await Wal.open(dir, undefined, SMALL);
    expect(r.entries.length).toBe(100);
    await r.wal.close();
  });

  it('a batch that crosses the cut threshold continues in the new segment without losing an op', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    const calls: Promise<void>[] = [];
    for (let i = 1n; i <= 300n; i++) calls.push(w.save(hs(1n, 1n, i), [entry(i)]));
    calls.push(w.saveSnapshot({ index: 0n, term: 0n }));
    await Promise.all(calls);
    await w.close();
    expect(w.stats().cuts).toBeGreaterThan(5);
    expect(w.stats().writes).toBe(w.stats().cuts + 1);
    const r = await Wal.open(dir, undefined, SMALL);
    expect(r.entries).toEqual(entries(1n, 300n));
    expect(r.hardState).toEqual(hs(1n, 1n, 300n));
    await r.wal.close();
  });

  it('commit-only hard state changes skip the sync; {sync} overrides', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    await w.save(hs(1n, 1n, 0n), [entry(1n)]);
    const s0 = w.stats().syncs;
    await w.save(hs(1n, 1n, 1n), []);
    expect(w.stats().syncs).toBe(s0);
    await w.save(hs(1n, 1n, 1n), [], { sync: true });
    expect(w.stats().syncs).toBe(s0 + 1);
    await w.save(hs(2n, 1n, 1n), []); // term change
    expect(w.stats().syncs).toBe(s0 + 2);
    await w.save(undefined, []); // nothing to do
    expect(w.stats().saves).toBe(4);
    await w.close();
    const r = await Wal.open(dir, undefined, SMALL);
    expect(r.hardState).toEqual(hs(2n, 1n, 1n));
    await r.wal.close();
  });

  it('a failed write poisons the WAL', async () => {
    const dir = await walDir();
    const w = await Wal.create(dir, META, SMALL);
    // Close the tail descriptor behind the WAL's back to make the next write fail.
    await (w as unknown as { tail: { fh: { close(): Promise<void> } } }).tail.fh.close();
    expect(await codeOf(w.save(undefined, [entry(1n)]))).toBe('FAILED');
    expect(await codeOf(w.save(undefined, [entry(2n)]))).toBe('FAILED');
    await w.close();
  });
});

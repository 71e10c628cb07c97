// A full disk: the WAL never leaves a partial file, never fills the disk by preallocating, and a
// write refused for lack of space waits and goes through once space returns (no FAILED WAL).
import { readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_SEGMENT_BYTES } from './constants.js';
import { Wal } from './wal.js';
import { entries, hs } from './testdata/helpers.js';
import { fillUp, mountSmallFs, type SmallFs } from '@kv/testkit';

const META = Buffer.from('member=1,cluster=7');
const mounts: SmallFs[] = [];
afterAll(() => {
  for (const m of mounts.splice(0)) m.unmount();
});

function small(mib: number): SmallFs | string {
  const m = mountSmallFs(mib);
  if (typeof m !== 'string') mounts.push(m);
  return m;
}

/** Entries of about `bytes` each. */
function big(from: bigint, to: bigint, bytes: number) {
  return entries(from, to).map((e) => ({ ...e, Data: Buffer.alloc(bytes, Number(e.Index % 251n)) }));
}

async function settledWithin<T>(p: Promise<T>, ms: number): Promise<boolean> {
  let done = false;
  void p.then(
    () => (done = true),
    () => (done = true),
  );
  const deadline = Date.now() + ms;
  while (!done && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return done;
}

describe('WAL on a full disk', () => {
  const probe = mountSmallFs(1);
  const skip = typeof probe === 'string' ? probe : undefined;
  if (typeof probe !== 'string') probe.unmount();

  it.skipIf(skip !== undefined)(
    `creates a 64 MB-segment WAL on a 20 MiB file system without preallocating, leaving nothing partial${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      const m = small(20) as SmallFs;
      const dir = join(m.dir, 'wal');
      const warnings: string[] = [];
      const w = await Wal.create(dir, META, { onWarning: (s) => warnings.push(s) });
      await w.save(hs(1n, 1n, 0n), entries(1n, 20n));
      await w.close();
      expect(warnings.join('\n')).toMatch(/not preallocating the first segment/);
      expect((await readdir(m.dir)).sort()).toEqual(['wal']); // no wal.tmp left
      const files = await readdir(dir);
      expect(files.filter((f) => f.endsWith('.tmp'))).toEqual([]);
      for (const f of files) expect((await stat(join(dir, f))).size).toBeLessThan(1024 * 1024);
      const r = await Wal.open(dir, undefined, { onWarning: (s) => warnings.push(s) });
      expect(r.entries.map((e) => e.Index)).toEqual(entries(1n, 20n).map((e) => e.Index));
      await r.wal.close();
      expect((await readdir(dir)).filter((f) => f.endsWith('.tmp'))).toEqual([]);
      expect(DEFAULT_SEGMENT_BYTES).toBeGreaterThan(20 * 1024 * 1024);
    },
  );

  it.skipIf(skip !== undefined)(
    `a write refused for lack of space waits, and goes through once space returns${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      const m = small(8) as SmallFs;
      const dir = join(m.dir, 'wal');
      const waits: boolean[] = [];
      const w = await Wal.create(dir, META, {
        segmentBytes: 256 * 1024,
        onNoSpace: (waiting) => waits.push(waiting),
        noSpaceRetryMs: { first: 10, max: 50 },
      });
      await w.save(hs(1n, 1n, 0n), big(1n, 4n, 1000));
      await fillUp(join(m.dir, 'filler'));
      // Append 16 KiB saves until one stays pending (the preallocated tail fills first).
      let next = 5n;
      let pending: Promise<void> | undefined;
      for (let i = 0; i < 2000 && !pending; i++) {
        const p = w.save(undefined, big(next, next + 3n, 4000));
        next += 4n;
        if (!(await settledWithin(p, 300))) pending = p;
        else await p; // a settled save must have succeeded
      }
      expect(pending).toBeDefined();
      expect(waits).toEqual([true]);
      // Later saves queue behind it, in order.
      const later = w.save(hs(1n, 1n, next - 1n), big(next, next, 100));
      await rm(join(m.dir, 'filler'));
      await pending;
      await later;
      expect(waits).toEqual([true, false]);
      expect(w.stats().noSpaceWaits).toBe(1);
      await w.close();
      const r = await Wal.open(dir, undefined, { segmentBytes: 256 * 1024 });
      expect(r.repaired).toBeUndefined();
      const idx = r.entries.map((e) => e.Index);
      expect(idx[0]).toBe(1n);
      expect(idx[idx.length - 1]).toBe(next);
      expect(idx.length).toBe(Number(next));
      await r.wal.close();
    },
  );
});

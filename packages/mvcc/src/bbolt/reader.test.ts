import { mvccpb } from '@kv/api';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { bytesToRev, isTombstone } from '../revision.js';
import { BoltFormatError, PAGE_HEADER_SIZE, fnv64a } from './format.js';
import { openBolt, etcdSnapshotHash } from './reader.js';
import { bigValue, etcdUnavailable, goldenEtcdSnapshot } from './testdata/etcd_oracle.js';

const GOLDEN = new URL('./testdata/etcd-3.4-snapshot.db', import.meta.url);
const golden = readFileSync(GOLDEN);
const PS = 4096;
const tmp = mkdtempSync(join(tmpdir(), 'kv-bbolt-reader-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

const ETCD_BUCKETS = ['alarm', 'auth', 'authRoles', 'authUsers', 'cluster', 'key', 'lease', 'members', 'members_removed', 'meta'];

/** The live key space at the newest revision, from the key bucket (as etcd's restore sees it). */
function liveKeys(db: ReturnType<typeof openBolt>): Map<string, { value: string; lease: bigint; mod: bigint }> {
  const live = new Map<string, { value: string; lease: bigint; mod: bigint }>();
  for (const [k, v] of db.entries('key')) {
    const kv = mvccpb.KeyValue.decode(v);
    const key = Buffer.from(kv.key).toString();
    if (isTombstone(k)) live.delete(key);
    else {
      expect(bytesToRev(k).main).toBe(BigInt(kv.modRevision));
      live.set(key, { value: Buffer.from(kv.value).toString(), lease: BigInt(kv.lease), mod: BigInt(kv.modRevision) });
    }
  }
  return live;
}

/** Checks what the golden writes (testdata/etcd_oracle.ts writeGolden) left in an etcd db. */
function checkGolden(db: ReturnType<typeof openBolt>, leaseHex?: string): void {
  expect(db.buckets()).toEqual(ETCD_BUCKETS);
  const live = liveKeys(db);
  expect([...live.keys()].sort()).toEqual(
    ['a', 'big', 'c', 'leased', ...Array.from({ length: 40 }, (_, i) => `k${String(i).padStart(3, '0')}`)].sort(),
  );
  expect(live.get('a')?.value).toBe('3');
  expect(live.get('big')?.value).toBe(bigValue(10_000));
  expect(live.get('c')?.value).toBe('5');
  const leases = [...db.entries('lease')];
  expect(leases).toHaveLength(1);
  const [lk] = leases[0];
  expect(lk).toHaveLength(8);
  if (leaseHex !== undefined) expect(lk.toString('hex')).toBe(leaseHex);
  expect(live.get('leased')?.lease).toBe(lk.readBigInt64BE(0));
  // The newest revision is the last key of the key bucket; 'c' was written last.
  const revs = [...db.entries('key')].map(([k]) => bytesToRev(k).main);
  expect(revs.at(-1)).toBe(live.get('c')?.mod);
  const meta = new Map([...db.entries('meta')].map(([k, v]) => [k.toString(), v]));
  expect(meta.get('consistent_index')).toHaveLength(8);
  expect(new Map([...db.entries('cluster')].map(([k, v]) => [k.toString(), v.toString()])).get('clusterVersion')).toMatch(/^3\.4\./);
}

describe('openBolt on an etcd 3.4 snapshot (checked-in golden file)', () => {
  it('reads the buckets, keys, revisions and the lease, from a Buffer and from a path', () => {
    const fromBuf = openBolt(golden);
    checkGolden(fromBuf, '05c1a235b11a9a0b');
    expect(fromBuf.meta.pageSize).toBe(PS);
    // etcd's small buckets are inline (root 0), the key bucket is a tree of pages.
    const roots = new Map(fromBuf.bucketInfos().map((b) => [b.name.toString(), b.root]));
    expect(roots.get('lease')).toBe(0n);
    expect(roots.get('meta')).toBe(0n);
    expect(roots.get('key')).toBeGreaterThan(1n);
    const fromPath = openBolt(GOLDEN.pathname);
    checkGolden(fromPath, '05c1a235b11a9a0b');
    expect(fromPath.meta).toEqual(fromBuf.meta);
    fromPath.close();
    fromPath.close();
    expect(() => [...fromPath.entries('key')]).toThrow(/closed/);
  });

  it('verifies the sha256 trailer etcdctl appends', () => {
    expect(etcdSnapshotHash(golden)).toEqual({ present: true, ok: true, dbSize: golden.length - 32 });
    expect(etcdSnapshotHash(GOLDEN.pathname)).toEqual({ present: true, ok: true, dbSize: golden.length - 32 });
    const bad = Buffer.from(golden);
    bad[bad.length - 1] ^= 1;
    expect(etcdSnapshotHash(bad).ok).toBe(false);
    expect(etcdSnapshotHash(golden.subarray(0, golden.length - 32))).toEqual({ present: false, ok: false, dbSize: golden.length - 32 });
  });

  it('an unknown bucket is an error, hasBucket says so first', () => {
    const db = openBolt(golden);
    expect(db.hasBucket('key')).toBe(true);
    expect(db.hasBucket('nope')).toBe(false);
    expect(() => [...db.entries('nope')]).toThrow(/bucket "nope" not found/);
  });
});

/** A copy of the golden file with `patch` applied to it. */
function patched(patch: (b: Buffer) => void): Buffer {
  const b = Buffer.from(golden);
  patch(b);
  return b;
}

/** Rewrites meta `i`'s checksum after a change to it. */
function resum(b: Buffer, i: number): void {
  const off = i * PS + PAGE_HEADER_SIZE;
  b.writeBigUInt64LE(fnv64a(b.subarray(off, off + 56)), off + 56);
}

/** The root page of the key bucket (a branch: the golden key bucket is several pages). */
function keyBucketRoot(): number {
  const info = openBolt(golden)
    .bucketInfos()
    .find((b) => b.name.toString() === 'key');
  return Number(info!.root);
}

describe('openBolt refuses damaged files', () => {
  it('falls back to the other meta page when the newest is damaged; fails when both are', () => {
    const one = patched((b) => (b[PAGE_HEADER_SIZE + 20] ^= 0xff)); // meta 0 root, checksum now wrong
    const db = openBolt(one);
    expect(db.metaPage).toBe(1);
    checkGolden(db);
    const both = patched((b) => {
      b[PAGE_HEADER_SIZE + 20] ^= 0xff;
      b[PS + PAGE_HEADER_SIZE + 20] ^= 0xff;
    });
    expect(() => openBolt(both)).toThrow(BoltFormatError);
    expect(() => openBolt(both)).toThrow(/meta page 0: checksum mismatch; meta page 1: /);
  });

  it('refuses a non-bbolt file, a wrong version, a short or truncated file', () => {
    expect(() => openBolt(Buffer.alloc(100))).toThrow(/not a valid bbolt database.*bad magic/);
    expect(() => openBolt(Buffer.alloc(10))).toThrow(/file too short/);
    const v3 = patched((b) => {
      for (const i of [0, 1]) {
        b.writeUInt32LE(3, i * PS + PAGE_HEADER_SIZE + 4);
        resum(b, i);
      }
    });
    expect(() => openBolt(v3)).toThrow(/unsupported version 3/);
    expect(() => openBolt(golden.subarray(0, 10 * PS))).toThrow(/truncated: high-water mark/);
    const p = join(tmp, 'short.db');
    writeFileSync(p, golden.subarray(0, 3 * PS));
    expect(() => openBolt(p)).toThrow(/truncated/);
  });

  it('refuses out-of-range, mislabelled, cyclic and overfull pages, without looping', () => {
    const root = keyBucketRoot();
    const rootOff = root * PS;
    expect(golden.readUInt16LE(rootOff + 8) & 0x01).toBe(1); // a branch
    const cases: [string, (b: Buffer) => void, RegExp][] = [
      ['child out of range', (b) => b.writeBigUInt64LE(1_000_000n, rootOff + PAGE_HEADER_SIZE + 8), /page 1000000 out of range/],
      ['child is a meta page', (b) => b.writeBigUInt64LE(0n, rootOff + PAGE_HEADER_SIZE + 8), /page 0 out of range/],
      ['cycle to itself', (b) => b.writeBigUInt64LE(BigInt(root), rootOff + PAGE_HEADER_SIZE + 8), /reached twice/],
      ['wrong page id', (b) => b.writeBigUInt64LE(999n, rootOff), /carries id 999/],
      ['too many elements', (b) => b.writeUInt16LE(0xfff0, rootOff + 10), /overflow the page/],
      ['not a tree page', (b) => b.writeUInt16LE(0x10, rootOff + 8), /neither branch nor leaf/],
      ['overflow past the end', (b) => b.writeUInt32LE(0xffffff, rootOff + 12), /runs past the high-water mark/],
      ['element out of the page', (b) => b.writeUInt32LE(0xffff, rootOff + PAGE_HEADER_SIZE), /branch element 0 is damaged/],
    ];
    for (const [name, patch, want] of cases) {
      const db = openBolt(patched(patch));
      expect(() => [...db.entries('key')], name).toThrow(want);
    }
  });

  it('refuses keys out of order (two branch elements swapped to the same child)', () => {
    const root = keyBucketRoot();
    const rootOff = root * PS;
    const count = golden.readUInt16LE(rootOff + 10);
    expect(count).toBeGreaterThan(1);
    const b = patched((b) => {
      // Swap the first two children: the keys of the second child come before those of the first.
      const e0 = rootOff + PAGE_HEADER_SIZE + 8;
      const e1 = e0 + 16;
      const c0 = b.readBigUInt64LE(e0);
      b.writeBigUInt64LE(b.readBigUInt64LE(e1), e0);
      b.writeBigUInt64LE(c0, e1);
    });
    expect(() => [...openBolt(b).entries('key')]).toThrow(/keys out of order/);
  });

  it('never loops or crashes on random damage: every open/iteration ends with data or a BoltFormatError', () => {
    let x = 12345;
    const rnd = (n: number) => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      return x % n;
    };
    for (let round = 0; round < 300; round++) {
      const b = Buffer.from(golden);
      for (let i = 0; i < 1 + rnd(8); i++) {
        // Damage the pages below the trailer, headers and elements more often than data.
        const page = 2 + rnd(Math.floor(b.length / PS) - 2);
        const off = page * PS + (rnd(2) === 0 ? rnd(64) : rnd(PS));
        b[off] = rnd(256);
      }
      try {
        const db = openBolt(b);
        for (const name of db.buckets()) for (const _ of db.entries(name));
      } catch (err) {
        expect(err, String(err)).toBeInstanceOf(BoltFormatError);
      }
    }
  }, 60_000);
});

describe.skipIf(etcdUnavailable() !== undefined)('openBolt on a fresh snapshot from the real etcd', () => {
  it('reads what etcdctl snapshot save wrote', async () => {
    const path = join(tmp, 'fresh.db');
    const space = await goldenEtcdSnapshot(path);
    const db = openBolt(path);
    checkGolden(db, space.leaseHex);
    const revs = [...db.entries('key')].map(([k]) => bytesToRev(k).main);
    expect(revs.at(-1)).toBe(space.revision);
    expect(etcdSnapshotHash(path).ok).toBe(true);
    db.close();
  }, 120_000);
});

import { createHash } from 'node:crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BoltFormatError } from './format.js';
import { openBolt, type BoltReader } from './reader.js';
import { planBolt, writeBoltFile, type BoltBucketInput } from './writer.js';
import { etcdUnavailable, etcdctl, getAll, restoreIntoEtcd } from './testdata/etcd_oracle.js';
import { boltCheck, buildBoltCheck, goBoltUnavailable, summarize } from './testdata/go_boltcheck.js';

const GOLDEN = new URL('./testdata/etcd-3.4-snapshot.db', import.meta.url);
const tmp = mkdtempSync(join(tmpdir(), 'kv-bbolt-writer-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

type Data = Map<string, [Buffer, Buffer][]>;

function inputs(data: Data): BoltBucketInput[] {
  return [...data].map(([name, entries]) => ({ name, entries: () => entries }));
}

async function toBuffer(data: Data, opts?: Parameters<typeof planBolt>[1]): Promise<Buffer> {
  const plan = await planBolt(inputs(data), opts);
  const parts: Buffer[] = [];
  for await (const c of plan.chunks()) parts.push(c);
  const out = Buffer.concat(parts);
  expect(out.length).toBe(plan.size);
  expect(plan.size).toBe(plan.pageCount * plan.pageSize);
  return out;
}

function readAll(db: BoltReader): Data {
  return new Map(db.buckets().map((b) => [b, [...db.entries(b)].map(([k, v]) => [Buffer.from(k), Buffer.from(v)] as [Buffer, Buffer])]));
}

let seed = 7;
function rnd(n: number): number {
  seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
  return (seed >>> 16) % n;
}
function bytes(n: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = rnd(256);
  return b;
}

/** Sorted, distinct random entries. */
function randomEntries(n: number, maxKey: number, maxValue: number): [Buffer, Buffer][] {
  const m = new Map<string, [Buffer, Buffer]>();
  while (m.size < n) {
    const k = bytes(1 + rnd(maxKey));
    m.set(k.toString('hex'), [k, bytes(rnd(maxValue + 1))]);
  }
  return [...m.values()].sort((a, b) => Buffer.compare(a[0], b[0]));
}

/** A mixed database: empty, inline, one-page, deep (2 branch levels), and big-value buckets. */
function mixed(): Data {
  const data: Data = new Map();
  data.set('empty', []);
  data.set('tiny', [[Buffer.from('k'), Buffer.from('v')]]);
  data.set('inline', randomEntries(20, 8, 20));
  data.set('onepage', randomEntries(30, 16, 60));
  data.set('deep', randomEntries(12_000, 17, 60)); // ~200 leaves: two branch levels
  data.set('big', [
    [Buffer.from('a'), bytes(5000)],
    [Buffer.from('b'), Buffer.alloc(0)],
    [Buffer.from('c'), bytes(70_000)],
    [Buffer.from('d'), bytes(4096 - 16 - 16 - 1)], // exactly one page
    [Buffer.from('e'), bytes(4096 - 16 - 16)], // one byte over: an overflow page
  ]);
  return data;
}

describe('planBolt / writeBoltFile', () => {
  it('round-trips a mixed database through the reader', async () => {
    const data = mixed();
    const file = await toBuffer(data);
    const db = openBolt(file);
    expect(db.meta.txid).toBe(2n);
    expect(db.metaPage).toBe(0);
    expect(readAll(db)).toEqual(data);
    const roots = new Map(db.bucketInfos().map((b) => [b.name.toString(), b.root]));
    expect(roots.get('empty')).toBe(0n); // inline
    expect(roots.get('inline')).toBe(0n);
    expect(roots.get('deep')).toBeGreaterThan(0n);
    // Meta 1 is valid too (one txid less): a damaged meta 0 still opens.
    const m1 = Buffer.from(file);
    m1[20] ^= 1;
    expect(openBolt(m1).metaPage).toBe(1);
    expect(readAll(openBolt(m1))).toEqual(data);
  }, 60_000);

  it('spreads a root bucket of many inline buckets over pages, and other page sizes', async () => {
    const data: Data = new Map();
    for (let i = 0; i < 40; i++) data.set(`b${String(i).padStart(2, '0')}`, randomEntries(10, 10, 70)); // ~1 KiB inline each
    for (const pageSize of [1024, 4096, 65536]) {
      const db = openBolt(await toBuffer(data, { pageSize }));
      expect(db.meta.pageSize).toBe(pageSize);
      expect(readAll(db)).toEqual(data);
    }
  }, 60_000);

  it('writes an empty database', async () => {
    const db = openBolt(await toBuffer(new Map()));
    expect(db.buckets()).toEqual([]);
  });

  it('refuses unsorted, duplicate or empty keys, duplicate bucket names, a bad page size', async () => {
    const k = (s: string): [Buffer, Buffer] => [Buffer.from(s), Buffer.from('v')];
    await expect(planBolt(inputs(new Map([['x', [k('b'), k('a')]]])))).rejects.toThrow(/not strictly ascending/);
    await expect(planBolt(inputs(new Map([['x', [k('a'), k('a')]]])))).rejects.toThrow(/not strictly ascending/);
    await expect(planBolt(inputs(new Map([['x', [[Buffer.alloc(0), Buffer.alloc(0)]]]])))).rejects.toThrow(/empty key/);
    await expect(
      planBolt([
        { name: 'x', entries: () => [] },
        { name: 'x', entries: () => [] },
      ]),
    ).rejects.toThrow(/duplicate bucket/);
    await expect(planBolt([], { pageSize: 1000 })).rejects.toThrow(/page size/);
  });

  it('fails, without writing garbage, when the input changes between the passes', async () => {
    let calls = 0;
    const entries = () => (calls++ === 0 ? randomEntries(500, 8, 50) : randomEntries(500, 8, 50));
    const plan = await planBolt([{ name: 'x', entries }]);
    await expect(async () => {
      for await (const _ of plan.chunks());
    }).rejects.toThrow(/changed between the two passes/);
  });

  it('takes async iterables, writes a file of exactly the planned size', async () => {
    const data = mixed();
    const path = join(tmp, 'async.db');
    const size = await writeBoltFile(
      path,
      [...data].map(([name, entries]) => ({
        name,
        async *entries() {
          yield* entries;
        },
      })),
    );
    expect(statSync(path).size).toBe(size);
    expect(readAll(openBolt(path))).toEqual(data);
  }, 60_000);

  it('a file the reader refuses (damaged page) reports a BoltFormatError', async () => {
    const file = await toBuffer(mixed());
    const db = openBolt(file);
    const deep = Number(db.bucketInfos().find((b) => b.name.toString() === 'deep')!.root);
    file.writeBigUInt64LE(BigInt(deep), deep * 4096 + 16 + 8); // the root's first child: itself
    expect(() => [...openBolt(file).entries('deep')]).toThrow(BoltFormatError);
  }, 60_000);
});

describe.skipIf(goBoltUnavailable() !== undefined)('go.etcd.io/bbolt opens what the writer wrote (tx.Check)', () => {
  let bin: string;
  beforeAll(async () => {
    bin = await buildBoltCheck(tmp);
  }, 300_000);

  it('a mixed database passes tx.Check with the same contents', async () => {
    const data = mixed();
    const path = join(tmp, 'mixed.db');
    await writeBoltFile(path, inputs(data));
    expect(await boltCheck(bin, path)).toEqual(summarize([...data].sort((a, b) => Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])))));
  }, 120_000);

  it('the golden etcd snapshot, rewritten, has what bbolt sees in the original', async () => {
    const src = openBolt(GOLDEN.pathname);
    const path = join(tmp, 'rewritten.db');
    await writeBoltFile(
      path,
      src.buckets().map((name) => ({ name, entries: () => src.entries(name) })),
    );
    expect(await boltCheck(bin, path)).toEqual(await boltCheck(bin, GOLDEN.pathname));
  }, 120_000);
});

describe.skipIf(etcdUnavailable() !== undefined)('real etcd takes what the writer wrote', () => {
  it('etcdctl snapshot status reads it, snapshot restore + etcd serve the same keys as the original', async () => {
    const src = openBolt(GOLDEN.pathname);
    const path = join(tmp, 'for-etcd.db');
    await writeBoltFile(
      path,
      src.buckets().map((name) => ({ name, entries: () => src.entries(name) })),
    );
    // The sha256 trailer etcdctl snapshot save would have appended.
    appendFileSync(path, createHash('sha256').update(readFileSync(path)).digest());
    const status = JSON.parse(await etcdctl(undefined, ['snapshot', 'status', path, '-w', 'json'])) as {
      hash: number;
      revision: number;
      totalKey: number;
      totalSize: number;
    };
    const golden = JSON.parse(await etcdctl(undefined, ['snapshot', 'status', GOLDEN.pathname, '-w', 'json'])) as typeof status;
    // Same bucket contents: same hash (etcd's CRC over every bucket), revision and key count.
    expect(status).toEqual({ ...golden, totalSize: status.totalSize });
    const a = await restoreIntoEtcd(path);
    const b = await restoreIntoEtcd(GOLDEN.pathname);
    try {
      const got = await getAll(a.endpoint);
      expect(got.length).toBe(44);
      expect(got).toEqual(await getAll(b.endpoint));
      const hk = async (ep: string) =>
        (JSON.parse(await etcdctl(ep, ['endpoint', 'hashkv', '-w', 'json'])) as { HashKV: { hash: number } }[])[0].HashKV.hash;
      expect(await hk(a.endpoint)).toBe(await hk(b.endpoint));
    } finally {
      await a.stop();
      await b.stop();
    }
  }, 240_000);
});

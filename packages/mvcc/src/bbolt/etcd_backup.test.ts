// planEtcdBackup: a kv backend as etcd's bbolt database — etcd's ten buckets by etcd's names, the
// records as they are, kv's digest left out, the cluster version added, one point-in-time view
// read twice (writes after the view opened are not in the file).
import { afterEach, describe, expect, it } from 'vitest';
import { META_DIGEST } from '../backend_digest.js';
import { ETCD_BUCKET_NAME, META_CONSISTENT_INDEX } from '../backend.js';
import { b, openStore, str, tempDirs, type Opened } from '../testdata/store_helpers.js';
import { CLUSTER_VERSION_KEY, planEtcdBackup } from './etcd_backup.js';
import { openBolt, type BoltReader } from './reader.js';
import { boltCheck, buildBoltCheck, goBoltUnavailable, summarize } from './testdata/go_boltcheck.js';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';

const dirs = tempDirs();
const opened: Opened[] = [];
afterEach(async () => {
  for (const o of opened.splice(0)) await o.close().catch(() => {});
  await dirs.cleanup();
});

async function fresh(): Promise<Opened> {
  const o = await openStore(await dirs.make());
  opened.push(o);
  return o;
}

async function bytesOf(plan: Awaited<ReturnType<typeof planEtcdBackup>>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of plan.chunks()) parts.push(c);
  const out = Buffer.concat(parts);
  expect(out.length).toBe(plan.size);
  return out;
}

const names = (db: BoltReader) => db.buckets().map((n) => n.toString());
const records = (db: BoltReader, bucket: string) => [...db.entries(Buffer.from(bucket))].map(([k, v]) => [str(k), str(v)]);

describe('planEtcdBackup', () => {
  it("writes etcd's buckets with kv's records, without kv's digest, with the cluster version", async () => {
    const o = await fresh();
    await o.write((w) => w.put(b('a'), b('1'), 0n));
    await o.write((w) => w.put(b('a'), b('2'), 0n));
    await o.write((w) => w.put(b('z'), Buffer.alloc(10_000, 'v'), 0n)); // an overflow page
    const tx = o.backend.newBatch();
    tx.put('members', b('1234abcd'), b('{"id":305441741,"peerURLs":["http://127.0.0.1:1"],"name":"m"}'));
    tx.put('membersRemoved', b('99'), b('removed'));
    tx.put('lease', Buffer.alloc(8, 1), b('\x08\x01'));
    await o.backend.commit(tx, { sync: false });

    const reader = o.backend.openSnapshot();
    let db: BoltReader;
    try {
      db = openBolt(await bytesOf(await planEtcdBackup(reader, { clusterVersion: '3.4.0' })));
    } finally {
      await reader.close();
    }
    expect(names(db)).toEqual(Object.values(ETCD_BUCKET_NAME).sort());
    // The key bucket byte for byte.
    const keys: [Buffer, Buffer][] = [];
    for await (const [k, v] of o.backend.entries('key')) keys.push([Buffer.from(k), Buffer.from(v)]);
    expect([...db.entries(Buffer.from('key'))].map(([k, v]) => [Buffer.from(k), Buffer.from(v)])).toEqual(keys);
    expect(keys).toHaveLength(3);
    // meta: everything but kv's digest (which the backend does hold).
    expect(await o.backend.get('meta', META_DIGEST)).toBeDefined();
    const meta = records(db, 'meta').map(([k]) => k);
    expect(meta).toContain(META_CONSISTENT_INDEX.toString());
    expect(meta).not.toContain(META_DIGEST.toString());
    expect(records(db, 'cluster')).toEqual([[CLUSTER_VERSION_KEY.toString(), '3.4.0']]);
    expect(records(db, 'members')).toEqual([['1234abcd', '{"id":305441741,"peerURLs":["http://127.0.0.1:1"],"name":"m"}']]);
    expect(records(db, 'members_removed')).toEqual([['99', 'removed']]);
    expect(records(db, 'lease')).toHaveLength(1);
    for (const empty of ['alarm', 'auth', 'authUsers', 'authRoles']) expect(records(db, empty)).toEqual([]);
  }, 60_000);

  it('keeps a cluster version the backend has, in key order among the bucket records', async () => {
    const o = await fresh();
    const tx = o.backend.newBatch();
    tx.put('cluster', CLUSTER_VERSION_KEY, b('3.5.0'));
    tx.put('cluster', b('a'), b('x'));
    tx.put('cluster', b('zz'), b('y'));
    await o.backend.commit(tx, { sync: false });
    const view = o.backend.snapshot();
    try {
      const db = openBolt(await bytesOf(await planEtcdBackup(view, { clusterVersion: '3.4.0' })));
      expect(records(db, 'cluster')).toEqual([
        ['a', 'x'],
        ['clusterVersion', '3.5.0'],
        ['zz', 'y'],
      ]);
      const none = openBolt(await bytesOf(await planEtcdBackup(view)));
      expect(records(none, 'cluster')).toHaveLength(3);
    } finally {
      await view.close();
    }
  }, 60_000);

  it('reads one point-in-time view in both passes: later writes are not in the file', async () => {
    const o = await fresh();
    for (let i = 0; i < 300; i++) await o.write((w) => w.put(b(`k${i}`), Buffer.alloc(100, i), 0n));
    const reader = o.backend.openSnapshot();
    try {
      const plan = await planEtcdBackup(reader, { clusterVersion: '3.4.0' });
      // Between the passes: 50 more revisions.
      for (let i = 0; i < 50; i++) await o.write((w) => w.put(b(`k${i}`), b('new'), 0n));
      const db = openBolt(await bytesOf(plan));
      const kvs = [...db.entries(Buffer.from('key'))];
      expect(kvs).toHaveLength(300);
      expect(str(kvs.at(-1)![0].subarray(0, 8))).toBe(str(Buffer.from([0, 0, 0, 0, 0, 0, 0x01, 0x2d]))); // revision 301
    } finally {
      await reader.close();
    }
    expect(o.backend.openSnapshotReaders).toBe(0);
  }, 60_000);

  it('refuses an empty cluster version', async () => {
    const o = await fresh();
    const view = o.backend.snapshot();
    try {
      await expect(planEtcdBackup(view, { clusterVersion: '' })).rejects.toThrow(/empty cluster version/);
    } finally {
      await view.close();
    }
  });
});

describe.skipIf(goBoltUnavailable() !== undefined)('planEtcdBackup, checked by go.etcd.io/bbolt', () => {
  it('a backend of 5000 keys (branch pages, an overflow value) passes tx.Check with the same records', async () => {
    const o = await fresh();
    for (let t = 0; t < 50; t++) {
      await o.write(async (w) => {
        for (let i = 0; i < 100; i++) await w.put(b(`key/${t}/${i}`), Buffer.alloc(20 + i, t), 0n);
      });
    }
    await o.write((w) => w.put(b('big'), Buffer.alloc(100_000, 'b'), 0n));
    const dir = await dirs.make();
    const bin = await buildBoltCheck(dir);
    const reader = o.backend.openSnapshot();
    let file: Buffer;
    try {
      file = await bytesOf(await planEtcdBackup(reader, { clusterVersion: '3.4.0' }));
    } finally {
      await reader.close();
    }
    const path = join(dir, 'backup.db');
    await writeFile(path, file);
    const db = openBolt(file);
    expect(await boltCheck(bin, path)).toEqual(summarize(db.buckets().map((n) => [n.toString(), db.entries(n)])));
    expect(db.bucketInfos().find((x) => x.name.toString() === 'key')!.root).toBeGreaterThan(0n);
    expect([...db.entries(Buffer.from('key'))]).toHaveLength(5001);
  }, 300_000);
});

// restoreSnapshot and snapshotStatus on a real etcd 3.4 snapshot (testdata/etcd-3.4.snapshot.db,
// made with `etcdctl snapshot save` after: put /a 1; put /a 2; put /b hello; put /del x; del /del;
// compaction 3; lease grant 3600 (id 390da235b32aba0b); put /leased v --lease; put /bin
// "bin\x00\x01\xff"; put z-last end). The restored data dir is opened as kvd opens it (a restart:
// the WAL exists) by a Member on a manual clock, which must serve every key, revision and lease of
// the snapshot; hostile files are refused with a clear error and leave nothing on disk.
import { authpb, etcdserverpb } from '@kv/api';
import { openBolt, writeBoltFile } from '@kv/mvcc';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { copyFile, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from './config.js';
import { computeClusterId, computeMemberId } from './ids.js';
import { silentLogger } from './logger.js';
import { Member } from './member.js';
import { RestoreError, restoreSnapshot } from './restore.js';
import { SnapshotFileError, snapshotStatus } from './snapshot_file.js';
import { ManualClock } from './testutil/manual_clock.js';
import { seededWorldRandom } from './testutil/random.js';
import { dataDirDisk } from './world/disk.js';
import type { PeerNetwork } from './world/network.js';

const FIXTURE = fileURLToPath(new URL('./testdata/etcd-3.4.snapshot.db', import.meta.url));
const LEASE = 0x390da235b32aba0bn;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kv-restore-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A network that sends nothing (a member of one, or one that only reads its disk). */
const quietNetwork = (): PeerNetwork => ({
  send: () => undefined,
  sendSnapshot: () => undefined,
  setPeers: () => undefined,
  renewLease: () => Promise.reject(new Error('no peers')),
  leaseTimeToLive: () => Promise.reject(new Error('no peers')),
  stop: async () => undefined,
});

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`${what}: not reached`);
}

const b = (s: string) => Buffer.from(s, 'latin1');

/** Nothing but `names` in `dir` (no stage left behind). */
const entries = () => readdirSync(dir).sort();

describe('snapshotStatus', () => {
  it("gives etcdctl's figures for an etcd 3.4 snapshot", async () => {
    // etcdctl snapshot status -w json: {"hash":3279330945,"revision":9,"totalKey":14,"totalSize":20480}
    expect(await snapshotStatus(FIXTURE)).toEqual({ hash: 3279330945, revision: 9n, totalKey: 14, totalSize: 20480 });
  });

  it('names a missing file as etcd does', async () => {
    await expect(snapshotStatus(join(dir, 'nope.db'))).rejects.toThrow(`stat ${join(dir, 'nope.db')}: no such file or directory`);
  });
});

describe('restoreSnapshot', () => {
  it('builds a data dir that a member starts on as a restart, serving every key, revision and lease', async () => {
    const dataDir = join(dir, 'one.etcd');
    const cluster = 'one=http://127.0.0.1:2380';
    const r = await restoreSnapshot({
      snapshotPath: FIXTURE,
      name: 'one',
      dataDir,
      initialCluster: cluster,
      initialClusterToken: 'tok',
      initialAdvertisePeerUrls: ['http://127.0.0.1:2380'],
    });
    const id = computeMemberId(['http://127.0.0.1:2380'], 'tok');
    expect(r.memberId).toBe(id);
    expect(r.clusterId).toBe(computeClusterId([id]));
    expect(r.revision).toBe(9n);
    expect(r.skippedBuckets.sort()).toEqual(['members', 'members_removed']);
    expect(entries()).toEqual(['one.etcd']);
    expect(readdirSync(join(dataDir, 'member')).sort()).toEqual(['db', 'snap', 'wal']);

    const config = resolveConfig({
      name: 'one',
      dataDir,
      initialCluster: [{ name: 'one', peerUrls: ['http://127.0.0.1:2380'] }],
      initialAdvertisePeerUrls: ['http://127.0.0.1:2380'],
      initialClusterToken: 'tok',
      unsafeNoFsync: true,
    });
    const clock = new ManualClock();
    const m = await Member.open({
      config,
      logger: silentLogger(),
      world: { clock, random: seededWorldRandom(3), disk: dataDirDisk(dataDir), network: () => quietNetwork() },
      onFatal: (err) => expect.fail(String(err)),
    });
    try {
      expect(m.memberId).toBe(id);
      // Nothing to apply again: the log's snapshot is at the consistent index.
      expect(m.consensus.appliedIndex()).toBe(1n);
      expect(m.store.currentRev()).toBe(9n);
      expect(m.store.compactRev()).toBe(3n);
      expect(m.members().map((x) => [x.id, x.name, x.peerUrls])).toEqual([[id, 'one', ['http://127.0.0.1:2380']]]);
      const all = await m.store.rangeAt(b('\0'), Buffer.alloc(0), m.store.currentRev(), 0n, {});
      expect(
        all.kvs.map((kv) => [
          kv.key.toString('latin1'),
          kv.value.toString('latin1'),
          kv.createRevision,
          kv.modRevision,
          kv.version,
          kv.lease,
        ]),
      ).toEqual([
        ['/a', '2', 2n, 3n, 2n, 0n],
        ['/b', 'hello', 4n, 4n, 1n, 0n],
        ['/bin', 'bin\x00\x01\xff', 8n, 8n, 1n, 0n],
        ['/leased', 'v', 7n, 7n, 1n, LEASE],
        ['z-last', 'end', 9n, 9n, 1n, 0n],
      ]);
      expect(m.lessor.lookup(LEASE)?.ttl).toBe(3600n);
      expect([...(m.lessor.lookup(LEASE)?.keys ?? [])]).toEqual(['/leased']);
      // It serves: elected on its own clock, it takes a write at the next revision.
      await m.start();
      await clock.advance(2 * config.electionTimeoutMs);
      await until('leader', () => m.consensus.isLeader());
      await m.propose({ put: etcdserverpb.PutRequest.fromPartial({ key: b('/new'), value: b('x') }) });
      expect(m.store.currentRev()).toBe(10n);
    } finally {
      await m.stop();
    }
  }, 60_000);

  it("refuses an existing data dir with etcd's text", async () => {
    const dataDir = join(dir, 'x');
    await writeFile(join(dir, 'x'), '');
    await expect(restoreSnapshot({ snapshotPath: FIXTURE, dataDir })).rejects.toThrow(new RestoreError(`data-dir "${dataDir}" exists`));
  });

  it('checks the flags as a bootstrapping member does', async () => {
    await expect(
      restoreSnapshot({ snapshotPath: FIXTURE, name: 'n2', initialCluster: 'default=http://localhost:2380', dataDir: join(dir, 'd') }),
    ).rejects.toThrow(`couldn't find local name "n2" in the initial cluster configuration`);
    expect(entries()).toEqual([]);
  });

  describe('hostile files: a clear error, no data dir, no stage left', () => {
    const attempt = async (file: string, skipHashCheck = false) => {
      const dataDir = join(dir, 'out.etcd');
      const err = await restoreSnapshot({ snapshotPath: file, dataDir, skipHashCheck }).then(
        () => undefined,
        (e: unknown) => e as Error,
      );
      expect(err).toBeInstanceOf(Error);
      expect(existsSync(dataDir)).toBe(false);
      expect(entries().filter((n) => n.includes('restore'))).toEqual([]);
      return err!;
    };

    it('a missing file', async () => {
      const f = join(dir, 'missing.db');
      expect((await attempt(f)).message).toBe(`open ${f}: no such file or directory`);
    });

    it('a truncated file (no trailer)', async () => {
      const f = join(dir, 'trunc.db');
      await copyFile(FIXTURE, f);
      await truncate(f, 10_000);
      expect((await attempt(f)).message).toBe('snapshot missing hash but --skip-hash-check=false');
      // Past the hash check, the database itself is refused.
      const e = await attempt(f, true);
      expect(e).toBeInstanceOf(SnapshotFileError);
      expect(e.message).toMatch(/is not a bbolt database|bad record|cannot be loaded/);
    });

    it('a wrong hash', async () => {
      const f = join(dir, 'badhash.db');
      const bytes = await readFile(FIXTURE);
      bytes[bytes.length - 1]! ^= 1;
      await writeFile(f, bytes);
      expect((await attempt(f)).message).toMatch(/^expected sha256 \[(\d+ ){31}\d+\], got \[(\d+ ){31}\d+\]$/);
    });

    it('a flipped byte inside the database', async () => {
      const f = join(dir, 'flipped.db');
      const bytes = await readFile(FIXTURE);
      bytes[5000]! ^= 0xff;
      await writeFile(f, bytes);
      expect((await attempt(f)).message).toMatch(/^expected sha256/);
    });

    it('random bytes, with and without the hash check', async () => {
      const f = join(dir, 'rand.db');
      const rnd = seededWorldRandom(9);
      await writeFile(f, Buffer.from(rnd.bytes(20_512)));
      expect((await attempt(f)).message).toMatch(/^expected sha256/);
      expect((await attempt(f, true)).message).toMatch(/is not a bbolt database/);
      await writeFile(f, Buffer.from(rnd.bytes(777)));
      expect((await attempt(f)).message).toBe('snapshot missing hash but --skip-hash-check=false');
      expect((await attempt(f, true)).message).toMatch(/is not a bbolt database/);
    });

    it('auth records that are not what etcd writes (a member would not start on them)', async () => {
      // The fixture's buckets with one bad record in an auth bucket, and a good sha256 trailer.
      const fixture = await readFile(FIXTURE);
      const src = openBolt(fixture.subarray(0, fixture.length - 32));
      const withRecord = async (bucket: string, k: string, v: Buffer) => {
        const f = join(dir, `bad-${bucket}.db`);
        const buckets = src.buckets().map((name) => ({
          name,
          entries: () => {
            // The record replaces one of the same key (etcd's file has authRevision already).
            const es = [...src.entries(name)].filter(([key]) => !(name === bucket && key.toString() === k));
            if (name === bucket) es.push([Buffer.from(k), v]);
            return es.sort((a, b) => Buffer.compare(a[0], b[0]));
          },
        }));
        await writeBoltFile(f, buckets);
        const db = await readFile(f);
        await writeFile(f, Buffer.concat([db, createHash('sha256').update(db).digest()]));
        return f;
      };
      const user = (name: string) =>
        Buffer.from(
          authpb.User.encode({ name: Buffer.from(name), password: Buffer.alloc(0), roles: [], options: { noPassword: true } }).finish(),
        );
      const cases: [string, string, Buffer, RegExp][] = [
        ['authUsers', 'alice', Buffer.from([0xff, 0xff, 0xff]), /authUsers bucket holds a bad record \(key 616c696365\)/],
        ['authUsers', 'alice', user('bob'), /authUsers bucket holds a bad record .*named "bob"/],
        ['authRoles', 'r', Buffer.from([0x0a, 0x09]), /authRoles bucket holds a bad record/],
        ['auth', 'authRevision', Buffer.from([1, 2, 3]), /auth bucket holds a bad record .*authRevision of 3 bytes/],
        ['auth', 'authEnabled', Buffer.from([7]), /auth bucket holds a bad record .*authEnabled/],
      ];
      for (const [bucket, k, v, words] of cases) {
        const e = await attempt(await withRecord(bucket, k, v));
        expect(e, `${bucket}/${k}`).toBeInstanceOf(SnapshotFileError);
        expect(e.message, `${bucket}/${k}`).toMatch(words);
      }
      // A good record of each kind goes through (and the fixture has none).
      const good = await withRecord('authUsers', 'alice', user('alice'));
      const r = await restoreSnapshot({ snapshotPath: good, dataDir: join(dir, 'good.etcd') });
      expect(r.records.authUsers).toBe(1);
    });
  });
});

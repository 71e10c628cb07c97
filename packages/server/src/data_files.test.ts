// The member's files on its own clock: --max-snapshots/--max-wals purge old snapshot and WAL files
// every 30 s (never a WAL segment still needed: a restart finds every key), and --wal-dir puts
// the WAL elsewhere (refused when it would silently leave an existing WAL behind).
import { etcdserverpb, raftpb } from '@kv/api';
import { Wal } from '@kv/wal';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { standaloneLog } from './cluster/force_new_cluster.js';
import { encodeMember } from './cluster/membership.js';
import { ConfigError, resolveConfig, type ServerConfig } from './config.js';
import { PurgeIntervalMs } from './consensus/purge.js';
import { DataDirError } from './data_dir.js';
import { silentLogger } from './logger.js';
import { Member } from './member.js';
import { ManualClock } from './testutil/manual_clock.js';
import { seededWorldRandom } from './testutil/random.js';
import { dataDirDisk } from './world/disk.js';
import type { MemberDisk, MemberWorld } from './world/index.js';
import type { PeerNetwork } from './world/network.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kv-files-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A network of one member: nothing to send to. */
function loneNetwork(): PeerNetwork {
  return {
    send: () => undefined,
    sendSnapshot: () => undefined,
    setPeers: () => undefined,
    renewLease: () => Promise.reject(new Error('alone')),
    leaseTimeToLive: () => Promise.reject(new Error('alone')),
    stop: async () => undefined,
  };
}

/** The real data dir, with 4 KiB WAL segments so that a few hundred writes cut many. */
function smallSegmentDisk(dataDir: string, walDir?: string): MemberDisk {
  const base = dataDirDisk(dataDir, { walDir });
  return {
    ...base,
    openWal: (pos, o) => base.openWal(pos, { ...o, segmentBytes: 4096, preallocate: false }),
    createWal: (md, o) => base.createWal(md, { ...o, segmentBytes: 4096, preallocate: false }),
  };
}

function world(clock: ManualClock, disk: MemberDisk): MemberWorld {
  return { clock, random: seededWorldRandom(3), disk, network: () => loneNetwork() };
}

async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`${what}: not reached`);
}

const b = (s: string) => Buffer.from(s);
const files = async (d: string, suffix: string) => (await readdir(d).catch(() => [] as string[])).filter((n) => n.endsWith(suffix)).sort();

async function openLeader(config: ServerConfig, clock: ManualClock, disk: MemberDisk): Promise<Member> {
  const m = await Member.open({ config, logger: silentLogger(), world: world(clock, disk), onFatal: (err) => expect.fail(String(err)) });
  await m.start();
  await until('leader', () => m.consensus.isLeader());
  return m;
}

async function writeKeys(m: Member, n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    await m.propose({ put: etcdserverpb.PutRequest.fromPartial({ key: b(`k${i}`), value: b(`value-${i}-${'x'.repeat(100)}`) }) });
  }
}

async function countKeys(m: Member): Promise<number> {
  const r = await m.store.rangeAt(b('k'), b('l'), m.store.currentRev(), 0n, {});
  return r.kvs.length;
}

describe('--max-snapshots / --max-wals purge loop', () => {
  const base = { name: 'one', unsafeNoFsync: true, snapshotCount: 20, snapshotCatchUpEntries: 1 };

  it('deletes the oldest files beyond the limits every 30 s on the member clock, never a needed WAL segment', async () => {
    const config = resolveConfig({ ...base, dataDir: dir, maxSnapshots: 2, maxWals: 2 });
    const clock = new ManualClock();
    const m = await openLeader(config, clock, smallSegmentDisk(dir));
    const walDir = join(dir, 'member', 'wal');
    const snapDir = join(dir, 'member', 'snap');
    await writeKeys(m, 300);
    // Nothing is deleted between passes: snapshots and released segments pile up.
    const snapsBefore = await files(snapDir, '.snap');
    const walsBefore = await files(walDir, '.wal');
    expect(snapsBefore.length).toBeGreaterThan(2);
    expect(walsBefore.length).toBeGreaterThan(2);
    await clock.advance(PurgeIntervalMs - 1);
    expect(await files(snapDir, '.snap')).toEqual(snapsBefore);

    await clock.advance(1);
    await m.purger.idle(); // the pass the timer started (it runs on real disk I/O)
    const snapsAfter = await files(snapDir, '.snap');
    const walsAfter = await files(walDir, '.wal');
    expect(snapsAfter).toEqual(snapsBefore.slice(-2)); // the newest two
    expect(walsAfter.length).toBeLessThan(walsBefore.length);
    expect(walsAfter).toEqual(walsBefore.slice(-walsAfter.length)); // oldest first
    // Only released segments went: what is left starts at the one covering the last snapshot.
    const snapIndex = m.raft.snapshotIndexDurable();
    expect(BigInt(`0x${walsAfter[0]!.slice(17, 33)}`)).toBeLessThanOrEqual(snapIndex);
    expect(walsAfter.length <= 2 || BigInt(`0x${walsAfter[1]!.slice(17, 33)}`) > snapIndex).toBe(true);
    await m.stop();

    // Restart from what is left: every key is there.
    const m2 = await openLeader(config, new ManualClock(1_800_000_000_000), smallSegmentDisk(dir));
    expect(await countKeys(m2)).toBe(300);
    await m2.stop();
  });

  it('0 means unlimited: nothing is ever deleted', async () => {
    const config = resolveConfig({ ...base, dataDir: dir, maxSnapshots: 0, maxWals: 0 });
    const clock = new ManualClock();
    const m = await openLeader(config, clock, smallSegmentDisk(dir));
    await writeKeys(m, 120);
    const snaps = await files(join(dir, 'member', 'snap'), '.snap');
    const wals = await files(join(dir, 'member', 'wal'), '.wal');
    expect(wals[0]).toBe('0000000000000000-0000000000000000.wal');
    await clock.advance(3 * PurgeIntervalMs);
    await m.purger.idle();
    expect(await files(join(dir, 'member', 'snap'), '.snap')).toEqual(snaps);
    expect(await files(join(dir, 'member', 'wal'), '.wal')).toEqual(wals);
    await m.stop();
  });

  it('refuses negative limits', () => {
    expect(() => resolveConfig({ dataDir: dir, maxWals: -1 })).toThrow(/--max-wals must be a non-negative integer/);
    expect(() => resolveConfig({ dataDir: dir, maxSnapshots: 1.5 })).toThrow(ConfigError);
  });
});

describe('--wal-dir', () => {
  it('keeps the WAL in the dedicated directory, never in member/wal, across restarts', async () => {
    const walDir = join(dir, 'elsewhere', 'wal');
    const dataDir = join(dir, 'data');
    const config = resolveConfig({ name: 'one', dataDir, walDir, unsafeNoFsync: true });
    const m = await openLeader(config, new ManualClock(), dataDirDisk(dataDir, { walDir }));
    await writeKeys(m, 5);
    await m.stop();
    expect((await files(walDir, '.wal')).length).toBe(1);
    expect(existsSync(join(dataDir, 'member', 'wal'))).toBe(false);
    const m2 = await openLeader(config, new ManualClock(), dataDirDisk(dataDir, { walDir }));
    expect(await countKeys(m2)).toBe(5);
    await m2.stop();
  });

  it('refuses an empty --wal-dir when the data dir has its WAL in member/wal', async () => {
    const config = resolveConfig({ name: 'one', dataDir: dir, unsafeNoFsync: true });
    const m = await openLeader(config, new ManualClock(), dataDirDisk(dir));
    await writeKeys(m, 3);
    await m.stop();
    const walDir = join(dir, '..', `${dir.split('/').pop()}-wal`);
    try {
      const moved = { ...config, walDir };
      const err = await Member.open({
        config: moved,
        logger: silentLogger(),
        world: world(new ManualClock(), dataDirDisk(dir, { walDir })),
        onFatal: (e) => expect.fail(String(e)),
      }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DataDirError);
      expect(String((err as Error).message)).toMatch(/--wal-dir .* holds no WAL, but .*member\/wal does: move its files there/);
      // The lock was released: the data dir opens again without the flag.
      const m2 = await openLeader(config, new ManualClock(), dataDirDisk(dir));
      expect(await countKeys(m2)).toBe(3);
      await m2.stop();
    } finally {
      await rm(walDir, { recursive: true, force: true });
    }
  });

  it('refuses a --wal-dir holding other files, and one inside the data dir parts', async () => {
    const walDir = join(dir, 'wal');
    await mkdir(walDir);
    await writeFile(join(walDir, 'notes.txt'), 'mine');
    const dataDir = join(dir, 'data');
    const config = resolveConfig({ name: 'one', dataDir, walDir, unsafeNoFsync: true });
    const err = await Member.open({
      config,
      logger: silentLogger(),
      world: world(new ManualClock(), dataDirDisk(dataDir, { walDir })),
      onFatal: (e) => expect.fail(String(e)),
    }).catch((e: unknown) => e);
    expect(String((err as Error).message)).toMatch(/directory is not empty/);
    expect(await readdir(walDir)).toEqual(['notes.txt']); // etcd would have removed it; kv keeps it
    expect(() => resolveConfig({ dataDir, walDir: join(dataDir, 'member') })).toThrow(/--wal-dir .* must not be/);
    expect(() => resolveConfig({ dataDir, walDir: join(dataDir, 'member', 'snap', 'w') })).toThrow(/--wal-dir .* must not be/);
    expect(() => resolveConfig({ dataDir, walDir: join(dataDir, 'member', 'wal') })).not.toThrow();
  });
});

describe('--force-new-cluster: the standalone log', () => {
  const cc = (index: bigint, type: raftpb.ConfChangeType, nodeId: bigint, term = 2n) =>
    raftpb.Entry.fromPartial({
      Type: raftpb.EntryType.EntryConfChange,
      Term: term,
      Index: index,
      Data: Buffer.from(raftpb.ConfChange.encode(raftpb.ConfChange.fromPartial({ type, nodeId })).finish()),
    });
  const normal = (index: bigint, term = 2n) =>
    raftpb.Entry.fromPartial({ Type: raftpb.EntryType.EntryNormal, Term: term, Index: index, Data: b('x') });
  const T = raftpb.ConfChangeType;
  const self = { id: 2n, name: 'b', peerURLs: ['http://127.0.0.1:2380'], clientURLs: [], isLearner: false };

  it('drops the uncommitted tail and removes every other member, voters and learners', () => {
    const r = standaloneLog({
      self,
      snapshot: { index: 10n, confState: raftpb.ConfState.fromPartial({ voters: [1n, 2n, 3n], learners: [9n] }) },
      hardState: { term: 3n, vote: 1n, commit: 13n },
      entries: [normal(11n), cc(12n, T.ConfChangeAddLearnerNode, 4n), cc(13n, T.ConfChangeRemoveNode, 3n), normal(14n), normal(15n)],
      appliedIndex: 12n,
    });
    expect(r.discarded).toBe(2);
    expect(r.removed).toEqual([1n, 4n, 9n]);
    expect(r.appended.map((e) => [e.Index, e.Term, raftpb.ConfChange.decode(e.Data).nodeId])).toEqual([
      [14n, 3n, 1n],
      [15n, 3n, 4n],
      [16n, 3n, 9n],
    ]);
    expect(r.hardState).toEqual({ term: 3n, vote: 1n, commit: 16n });
    expect(r.entries.map((e) => e.Index)).toEqual([11n, 12n, 13n, 14n, 15n, 16n]);
  });

  it('counts what the backend applied as committed, adds itself when the log does not know it, refuses a learner', () => {
    const r = standaloneLog({
      self,
      hardState: { term: 2n, vote: 0n, commit: 1n },
      entries: [cc(1n, T.ConfChangeAddNode, 1n), cc(2n, T.ConfChangeAddNode, 3n), normal(3n)],
      appliedIndex: 2n, // applied before its commit index was synced
    });
    expect(r.discarded).toBe(1);
    expect(r.appended.map((e) => raftpb.ConfChange.decode(e.Data))).toEqual([
      raftpb.ConfChange.fromPartial({ type: T.ConfChangeAddNode, nodeId: 2n, context: encodeMember(self) }),
      raftpb.ConfChange.fromPartial({ type: T.ConfChangeRemoveNode, nodeId: 1n }),
      raftpb.ConfChange.fromPartial({ type: T.ConfChangeRemoveNode, nodeId: 3n }),
    ]);
    expect(r.appended[0]!.Index).toBe(3n);
    expect(() =>
      standaloneLog({
        self,
        snapshot: { index: 5n, confState: raftpb.ConfState.fromPartial({ voters: [1n], learners: [2n] }) },
        hardState: { term: 2n, vote: 0n, commit: 5n },
        entries: [],
        appliedIndex: 5n,
      }),
    ).toThrow(/is a learner/);
    expect(() => standaloneLog({ self, hardState: { term: 1n, vote: 0n, commit: 1n }, entries: [normal(1n)], appliedIndex: 9n })).toThrow(
      /past the end of the WAL/,
    );
  });

  it('a member of one forced again keeps its data and stays alone', async () => {
    const config = resolveConfig({ name: 'one', dataDir: dir, unsafeNoFsync: true, forceNewCluster: true });
    const m = await openLeader(config, new ManualClock(), dataDirDisk(dir));
    await writeKeys(m, 4);
    await m.stop();
    const m2 = await openLeader(config, new ManualClock(), dataDirDisk(dir));
    expect(await countKeys(m2)).toBe(4);
    expect(m2.members().map((x) => x.id)).toEqual([m.memberId]);
    await writeKeys(m2, 6);
    await m2.stop();
    expect(await Wal.exists(join(dir, 'member', 'wal'))).toBe(true);
  });
});

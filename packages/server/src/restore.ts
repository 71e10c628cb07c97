// Snapshot restore: a data dir for one member of a NEW cluster, built from a snapshot file (a
// bbolt database with its sha256 trailer, as `etcdctl snapshot save` and `kvctl snapshot save`
// write it — from etcd 3.4/3.5 or from kvd). What etcd 3.4's clientv3/snapshot.Restore does, for
// kv's data dir:
//
// 1. Check the flags as a bootstrapping member would (--name in --initial-cluster, its URLs equal
//    to --initial-advertise-peer-urls); refuse an existing --data-dir / --wal-dir with etcd's text.
// 2. Verify the sha256 trailer (unless skipHashCheck).
// 3. Copy the buckets key, lease, meta, auth, authUsers, authRoles, alarm, cluster into a fresh kv
//    backend — NOT members/members_removed: the new cluster's members come from --initial-cluster.
//    Each record is checked on the way (a key-bucket record must be a revision and a KeyValue, a
//    lease record a Lease, an auth user or role record a User or Role under its own name, the
//    auth bucket's authEnabled/authRevision of their sizes) and the key index is rebuilt once at
//    the end, as kvd will at start.
// 4. Write the new members into the members bucket and the consistent index = number of members
//    (etcd's `commit := len(s.cl.Members())`), so raft does not apply anything again.
// 5. A WAL with etcd's metadata (this member's id, the cluster's id), one ConfChangeAddNode entry
//    per member at term 1 (indexes 1..N, members in id order), hard state {term 1, vote = first
//    member, commit N}, and a raft snapshot at (N, term 1) whose ConfState has every member as a
//    voter — the same log a member bootstrapped with that --initial-cluster would have once it
//    applied its bootstrap entries. Ids are computed as bootstrap.ts computes them (ids.ts).
//
// Everything is built in a temporary directory beside the target and renamed into place only when
// whole and synced: a damaged file, a bad flag or a crash leaves no data dir behind.
import { authpb, etcdserverpb, mvccpb, raftpb } from '@kv/api';
import { Backend, ETCD_BUCKET_NAME, KVStore, META_CONSISTENT_INDEX, META_DIGEST, type BatchTx, type Bucket } from '@kv/mvcc';
import { SnapshotFiles, Wal } from '@kv/wal';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, rename, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { encodeMember } from './cluster/membership.js';
import { ConfigError, parseInitialCluster, parseUrlList, resolveConfig } from './config.js';
import { fsyncDirSync, layout, restrictModes } from './data_dir.js';
import { computeClusterId, computeMemberId, idHex } from './ids.js';
import { decodeLeaseRecord, Lessor } from './lease/lessor.js';
import { openBolt, readSnapshotFile, SnapshotFileError, type BoltView } from './snapshot_file.js';

export interface RestoreOptions {
  /** The snapshot file. */
  snapshotPath: string;
  /** --name (etcd's default "default"). */
  name?: string;
  /** --data-dir (default `<name>.etcd`). */
  dataDir?: string;
  /** --wal-dir (default `<data-dir>/member/wal`). */
  walDir?: string;
  /** --initial-cluster (default `<name>=http://localhost:2380`). */
  initialCluster?: string;
  /** --initial-cluster-token (default "etcd-cluster"). */
  initialClusterToken?: string;
  /** --initial-advertise-peer-urls (default ["http://localhost:2380"]). */
  initialAdvertisePeerUrls?: string[];
  /** --skip-hash-check. */
  skipHashCheck?: boolean;
  /** Progress of the long steps, for a progress display. */
  onProgress?: (p: RestoreProgress) => void;
  /** Log lines (etcd logs "restoring snapshot" / "restored snapshot"); default none. */
  log?: (msg: string, fields: Record<string, unknown>) => void;
}

/** `verify`: bytes of the file hashed; `copy`: records written into the backend. */
export interface RestoreProgress {
  phase: 'verify' | 'copy';
  done: number;
  total: number;
}

export interface RestoreResult {
  dataDir: string;
  walDir: string;
  snapDir: string;
  memberId: bigint;
  clusterId: bigint;
  /** The member ids of the new cluster, in id order (raft's voters). */
  members: bigint[];
  /** The store's revision after restore (the snapshot's). */
  revision: bigint;
  /** Records copied, per kv bucket. */
  records: Partial<Record<Bucket, number>>;
  /** Buckets of the file that were not copied (members, members_removed, unknown ones). */
  skippedBuckets: string[];
}

/** Raised for anything that stops a restore; nothing was left on disk. */
export class RestoreError extends Error {
  override readonly name = 'RestoreError';
}

/** etcd bucket name → kv bucket, for the buckets a restore copies. */
const COPIED: ReadonlyMap<string, Bucket> = new Map(
  (['key', 'lease', 'meta', 'auth', 'authUsers', 'authRoles', 'alarm', 'cluster'] as const).map((b) => [ETCD_BUCKET_NAME[b], b]),
);
/** Buckets that describe the old cluster's members: replaced by --initial-cluster. */
const REPLACED = new Set([ETCD_BUCKET_NAME.members, ETCD_BUCKET_NAME.membersRemoved]);
/**
 * Meta keys not copied: the consistent index is the new log's (step 4); kv's integrity digest is
 * kept by the new backend itself; etcd 3.5's `term` and `confState` describe the old cluster's
 * raft log (etcd's own restore rewrites them too).
 */
const META_NOT_COPIED = new Set(['consistent_index', META_DIGEST.toString('latin1'), 'term', 'confState']);

/** Records per backend batch while copying. */
const BATCH_RECORDS = 10_000;

function checkRecord(bucket: Bucket, k: Buffer, v: Buffer): void {
  try {
    if (bucket === 'key') {
      if (k.length !== 17 && k.length !== 18) throw new Error(`key of ${k.length} bytes is not a revision`);
      const kv = mvccpb.KeyValue.decode(v);
      if (kv.key.length === 0) throw new Error('the KeyValue has an empty key');
    } else if (bucket === 'lease') {
      if (k.length !== 8) throw new Error(`key of ${k.length} bytes is not a lease id`);
      decodeLeaseRecord(v);
    } else if (bucket === 'alarm') {
      etcdserverpb.AlarmMember.decode(k);
    } else if (bucket === 'authUsers' || bucket === 'authRoles') {
      // What AuthStore.open reads at start: a record that does not decode would stop the member
      // there; one filed under another name than its own would make the store disagree with
      // itself (looked up by one name, listed and checked by the other).
      const name = Buffer.from(bucket === 'authUsers' ? authpb.User.decode(v).name : authpb.Role.decode(v).name);
      if (!name.equals(k)) throw new Error(`the record is named ${JSON.stringify(name.toString())}`);
    } else if (bucket === 'auth') {
      const key = k.toString('latin1');
      if (key === 'authRevision' && v.length !== 8) throw new Error(`authRevision of ${v.length} bytes, want 8`);
      if (key === 'authEnabled' && !(v.length === 1 && (v[0] === 0 || v[0] === 1))) throw new Error('authEnabled is neither [0] nor [1]');
    }
  } catch (err) {
    throw new SnapshotFileError(
      `the snapshot's ${ETCD_BUCKET_NAME[bucket]} bucket holds a bad record (key ${k.toString('hex')}): ${(err as Error).message}`,
    );
  }
}

/** Stage name beside `path`, on the same file system so that the final rename is atomic. */
function stagePath(path: string): string {
  return join(dirname(path), `.${basename(path)}.restore-${process.pid}-${randomBytes(4).toString('hex')}`);
}

async function copyBuckets(
  bolt: BoltView,
  backend: Backend,
  onProgress: ((done: number, total: number) => void) | undefined,
): Promise<{ records: Partial<Record<Bucket, number>>; skipped: string[] }> {
  const names = bolt.bucketNames();
  const plan: { name: Buffer; bucket: Bucket }[] = [];
  const skipped: string[] = [];
  for (const name of names) {
    const s = name.toString('latin1');
    const b = COPIED.get(s);
    if (b) plan.push({ name, bucket: b });
    else skipped.push(s);
  }
  let total = 0;
  if (onProgress) for (const p of plan) for (const _ of bolt.entries(p.name)) total++;
  const records: Partial<Record<Bucket, number>> = {};
  let done = 0;
  let tx: BatchTx = backend.newBatch();
  const flush = async (): Promise<void> => {
    if (tx.size === 0) return;
    await backend.commit(tx, { sync: false });
    tx = backend.newBatch();
  };
  for (const { name, bucket } of plan) {
    for (const [k, v] of bolt.entries(name)) {
      if (bucket === 'meta' && META_NOT_COPIED.has(k.toString('latin1'))) {
        done++;
        continue;
      }
      checkRecord(bucket, k, v);
      // Copies: the bolt view may hand out slices of the file's buffer.
      tx.put(bucket, Buffer.from(k), Buffer.from(v));
      records[bucket] = (records[bucket] ?? 0) + 1;
      done++;
      if (tx.size >= BATCH_RECORDS) {
        await flush();
        onProgress?.(done, total);
      }
    }
  }
  await flush();
  onProgress?.(done, total);
  return { records, skipped };
}

/**
 * Builds a data dir for a new cluster from a snapshot file (see the top of this file). Resolves
 * once the data dir is complete and durable; rejects with a RestoreError, SnapshotFileError or
 * ConfigError and leaves nothing behind.
 */
export async function restoreSnapshot(o: RestoreOptions): Promise<RestoreResult> {
  const name = o.name ?? 'default';
  const token = o.initialClusterToken ?? 'etcd-cluster';
  const peerUrls = o.initialAdvertisePeerUrls ?? ['http://localhost:2380'];
  const initialCluster = parseInitialCluster(o.initialCluster ?? `${name}=http://localhost:2380`);
  for (const u of peerUrls) parseUrlList(u, '--initial-advertise-peer-urls');
  // etcd's VerifyBootstrap: the same checks (and messages) as a member bootstrapping a cluster.
  resolveConfig({ name, initialCluster, initialAdvertisePeerUrls: peerUrls, initialClusterToken: token });
  const seenIds = new Map<bigint, string>();
  for (const m of initialCluster) {
    const id = computeMemberId(m.peerUrls, token);
    const other = seenIds.get(id);
    if (other !== undefined) throw new ConfigError(`--initial-cluster has the same peer URLs for ${other} and ${m.name}`);
    seenIds.set(id, m.name);
  }

  const dataDir = o.dataDir && o.dataDir !== '' ? o.dataDir : `${name}.etcd`;
  if (existsSync(dataDir)) throw new RestoreError(`data-dir ${JSON.stringify(dataDir)} exists`);
  const separateWal = o.walDir !== undefined && o.walDir !== '' && resolve(o.walDir) !== resolve(layout(dataDir).wal);
  const walDir = separateWal ? o.walDir! : layout(dataDir).wal;
  if (separateWal && existsSync(walDir)) throw new RestoreError(`wal-dir ${JSON.stringify(walDir)} exists`);
  const snapDir = layout(dataDir).snap;
  o.log?.('restoring snapshot', { path: o.snapshotPath, 'wal-dir': walDir, 'data-dir': dataDir, 'snap-dir': snapDir });

  const db = await readSnapshotFile(o.snapshotPath, {
    skipHashCheck: o.skipHashCheck ?? false,
    onProgress: o.onProgress && ((done, total) => o.onProgress!({ phase: 'verify', done, total })),
  });
  const bolt = openBolt(db, o.snapshotPath);

  const members = initialCluster
    .map((m) => ({ ...m, id: computeMemberId(m.peerUrls, token) }))
    .sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const ids = members.map((m) => m.id);
  const memberId = members.find((m) => m.name === name)!.id;
  const clusterId = computeClusterId(ids);
  const commit = BigInt(members.length);
  const term = 1n;

  const stage = stagePath(dataDir);
  const stageWal = separateWal ? stagePath(walDir) : undefined;
  const staged = layout(stage);
  /** The WAL moved into its --wal-dir already (removed again if the data dir cannot follow). */
  let walPlaced = false;
  try {
    await mkdir(staged.member, { recursive: true, mode: 0o700 });
    await mkdir(staged.snap, { mode: 0o700 });
    if (stageWal) await mkdir(dirname(stageWal), { recursive: true, mode: 0o700 });

    // 3 and 4: the backend.
    const backend = await Backend.open(staged.db);
    let copied: Awaited<ReturnType<typeof copyBuckets>>;
    let revision: bigint;
    try {
      copied = await copyBuckets(bolt, backend, o.onProgress && ((done, total) => o.onProgress!({ phase: 'copy', done, total })));
      const tx = backend.newBatch();
      for (const m of members) {
        tx.put(
          'members',
          Buffer.from(idHex(m.id)),
          encodeMember({ id: m.id, name: m.name, peerURLs: m.peerUrls, clientURLs: [], isLearner: false }),
        );
      }
      const ci = Buffer.alloc(8);
      ci.writeBigUInt64BE(commit);
      tx.put('meta', META_CONSISTENT_INDEX, ci);
      await backend.commit(tx, { sync: true });
      // As kvd will at start: the key index from the key bucket, leases re-attached to their keys.
      const lessor = new Lessor({ now: () => 0, minTTL: 1n });
      const leaseRecords: Buffer[] = [];
      for await (const [, v] of backend.entries('lease')) leaseRecords.push(v);
      lessor.restore(leaseRecords);
      let store: KVStore;
      try {
        store = await KVStore.open(backend, { leases: lessor });
      } catch (err) {
        throw new SnapshotFileError(`the snapshot's key space cannot be loaded: ${(err as Error).message}`);
      }
      revision = store.currentRev();
      if (store.consistentIndex() !== commit)
        throw new RestoreError(`restore: consistent index ${store.consistentIndex()} after restore, want ${commit}`);
      await store.close();
    } finally {
      await backend.close();
    }

    for (const b of copied.skipped) {
      if (!REPLACED.has(b)) o.log?.('skipped a bucket kv does not keep', { bucket: b });
    }

    // 5: the WAL and the raft snapshot.
    const entries: raftpb.Entry[] = members.map((m, i) => ({
      Type: raftpb.EntryType.EntryConfChange,
      Term: term,
      Index: BigInt(i + 1),
      Data: Buffer.from(
        raftpb.ConfChange.encode({
          type: raftpb.ConfChangeType.ConfChangeAddNode,
          nodeId: m.id,
          context: encodeMember({ id: m.id, name: m.name, peerURLs: m.peerUrls, clientURLs: [], isLearner: false }),
          id: 0n,
        }).finish(),
      ),
    }));
    const wal = await Wal.create(stageWal ?? staged.wal, etcdserverpb.Metadata.encode({ NodeID: memberId, ClusterID: clusterId }).finish());
    try {
      await wal.save({ term, vote: members[0]!.id, commit }, entries);
      const snaps = await SnapshotFiles.open(staged.snap);
      await snaps.save(
        raftpb.Snapshot.fromPartial({ data: Buffer.alloc(0), metadata: { index: commit, term, confState: { voters: ids } } }),
      );
      await wal.saveSnapshot({ index: commit, term });
    } finally {
      await wal.close();
    }

    // Into place: private modes (as kvd keeps a data dir), synced, then renamed.
    restrictModes(stage);
    for (const d of [staged.member, stage]) fsyncDirSync(d);
    if (stageWal) {
      restrictModes(stageWal);
      fsyncDirSync(stageWal);
      if (existsSync(walDir)) throw new RestoreError(`wal-dir ${JSON.stringify(walDir)} exists`);
      await rename(stageWal, walDir);
      walPlaced = true;
      fsyncDirSync(dirname(resolve(walDir)));
    }
    if (existsSync(dataDir)) throw new RestoreError(`data-dir ${JSON.stringify(dataDir)} exists`);
    await rename(stage, dataDir);
    fsyncDirSync(dirname(resolve(dataDir)));
    o.log?.('restored snapshot', { path: o.snapshotPath, 'wal-dir': walDir, 'data-dir': dataDir, 'snap-dir': snapDir });
    return {
      dataDir,
      walDir,
      snapDir,
      memberId,
      clusterId,
      members: ids,
      revision,
      records: copied.records,
      skippedBuckets: copied.skipped,
    };
  } catch (err) {
    await rm(stage, { recursive: true, force: true });
    if (stageWal) await rm(stageWal, { recursive: true, force: true });
    if (walPlaced) await rm(walDir, { recursive: true, force: true });
    throw err;
  }
}

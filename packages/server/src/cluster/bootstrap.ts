// Bootstrap: from the flags and the data dir to the parts a member is made of. Three ways in:
// - restart: the WAL exists — ids from its metadata, raft's log from the newest snapshot the WAL
//   recorded plus the entries after it; with --force-new-cluster, that log is turned into one of
//   a cluster of this member alone (force_new_cluster.ts);
// - new cluster (--initial-cluster-state new): ids computed from --initial-cluster and its
//   token, the initial members as raft's bootstrap peers;
// - join (--initial-cluster-state existing): ids and members fetched from the running cluster
//   (the world's fetchCluster); the log (or a snapshot) comes from its leader.
// Every open goes through the world's MemberDisk; the data-dir lock is held from the first step
// and released again if bootstrap fails.
import { etcdserverpb, raftpb } from '@kv/api';
import { BackendCorruptError } from '@kv/mvcc';
import { MemoryStorage } from '@kv/raft';
import type { SnapshotFiles, Wal } from '@kv/wal';
import type { Logger } from 'pino';
import { openState, type StateParts } from '../apply/state.js';
import type { ServerConfig } from '../config.js';
import { DataDirError } from '../data_dir.js';
import { computeClusterId, computeMemberId } from '../ids.js';
import type { Clock } from '../world/clock.js';
import type { DiskLock, MemberDisk } from '../world/disk.js';
import type { ClusterFetcher } from '../world/index.js';
import { standaloneLog } from './force_new_cluster.js';
import { encodeMember, type MemberRecord } from './membership.js';

export interface BootstrapOptions {
  config: ServerConfig;
  logger: Logger;
  disk: MemberDisk;
  clock: Clock;
  /** Joining a running cluster only. */
  fetchCluster?: ClusterFetcher;
  /** The WAL's full-disk reports (waiting for space: true; written: false). */
  onNoSpace: (waiting: boolean) => void;
}

export interface Bootstrapped {
  memberId: bigint;
  clusterId: bigint;
  /** raft's log: the snapshot, hard state and entries replayed from the WAL. */
  storage: MemoryStorage;
  /** The configuration the snapshot left (empty on a new member). */
  confState: raftpb.ConfState;
  /** Index of the snapshot in `storage` (0 = none). */
  snapshotIndex: bigint;
  /** Brand-new member of a new cluster: the initial members, for raft's bootstrap. */
  bootstrapPeers?: { id: bigint; context: Buffer }[];
  /** The member list fetched from the cluster when this member joined it (its first peers), or
   *  again at a restart before it applied anything (refetchMembers). */
  joinedFrom?: MemberRecord[];
  wal: Wal;
  snapshots: SnapshotFiles;
  state: StateParts;
  lock: DiskLock;
}

/**
 * A data dir that cannot be served whole. kvd refuses to start rather than serve a subset; the
 * message says what is missing and what the operator can do (etcd refuses the same way, e.g.
 * `failed to find database snapshot file`).
 */
function damaged(dataDir: string, what: string): DataDirError {
  return new DataDirError(
    `data dir ${dataDir} is damaged: ${what}. kvd will not serve part of its data. Restore the data dir from a backup, ` +
      `or remove this member from its cluster ('etcdctl member remove <id>') and add it back with an empty data dir`,
  );
}

/** This member's id and its cluster's, from --initial-cluster and --initial-cluster-token. */
export function clusterIds(config: ServerConfig): { memberId: bigint; clusterId: bigint } {
  const self = config.initialCluster.find((m) => m.name === config.name)!;
  return {
    memberId: computeMemberId(self.peerUrls, config.initialClusterToken),
    clusterId: computeClusterId(config.initialCluster.map((m) => computeMemberId(m.peerUrls, config.initialClusterToken))),
  };
}

/** Join: the cluster's id and members come from the others; this member was added with MemberAdd. */
async function joinIds(
  config: ServerConfig,
  fetchCluster: ClusterFetcher | undefined,
): Promise<{ memberId: bigint; clusterId: bigint; members: MemberRecord[] }> {
  if (!fetchCluster) throw new Error('this member cannot join a running cluster: its world has no way to fetch the member list');
  const self = new Set(config.initialAdvertisePeerUrls);
  const others = config.initialCluster.flatMap((m) => m.peerUrls).filter((u) => !self.has(u));
  const remote = await fetchCluster(others, 5_000);
  const me = remote.members.find((m) => m.peerURLs.some((u) => self.has(u)));
  if (!me) {
    throw new Error(
      `this member's peer URLs (${[...self].join(',')}) are not in the cluster's member list: add it with 'member add' first`,
    );
  }
  return { memberId: me.id, clusterId: remote.clusterId, members: remote.members };
}

/**
 * A member that joined a running cluster and restarts before it applied anything (killed while it
 * waited for its first snapshot) knows no member from its backend, and the ids --initial-cluster
 * would give are those of the cluster's founders, not of the members now at those URLs: it would
 * refuse every peer's stream ("error sender not found") and never catch up — and a cluster whose
 * quorum needs it would never elect a leader (found by the harness: churn, then a kill). So it
 * fetches the member list again, as at its join. Best effort: if no peer answers, it starts with
 * --initial-cluster's members and the log fills the rest in once a leader reaches it.
 */
async function refetchMembers(
  config: ServerConfig,
  fetchCluster: ClusterFetcher | undefined,
  state: StateParts,
  clusterId: bigint,
  logger: Logger,
): Promise<MemberRecord[] | undefined> {
  if (config.initialClusterState !== 'existing' || state.membership.list().length > 0 || !fetchCluster) return undefined;
  const self = new Set(config.initialAdvertisePeerUrls);
  const others = config.initialCluster.flatMap((m) => m.peerUrls).filter((u) => !self.has(u));
  try {
    const remote = await fetchCluster(others, 5_000);
    if (remote.clusterId !== clusterId) {
      logger.warn(
        { got: remote.clusterId.toString(16), want: clusterId.toString(16) },
        'the fetched member list is of another cluster; ignored',
      );
      return undefined;
    }
    logger.info({ members: remote.members.length }, 'nothing applied yet: fetched the member list from the cluster again');
    return remote.members;
  } catch (err) {
    logger.warn(
      { err: String((err as Error)?.message ?? err) },
      'nothing applied yet and the member list could not be fetched; starting with --initial-cluster',
    );
    return undefined;
  }
}

export async function bootstrap(o: BootstrapOptions): Promise<Bootstrapped> {
  const { config, logger, disk } = o;
  const { lock, notices } = disk.lock();
  for (const n of notices) logger.warn({ dataDir: disk.dataDir }, n);
  let state: StateParts | undefined;
  let wal: Wal | undefined;
  try {
    const etcd = disk.etcdBackend?.();
    if (etcd !== undefined) {
      // An etcd data dir (kvd put in place of etcd, or `etcdctl snapshot restore` output): its
      // bbolt backend and WAL are not kv's formats. Refused before anything is created in it.
      throw new DataDirError(
        `${disk.dataDir} is an etcd data dir (its backend ${etcd} is etcd's bbolt file): kvd does not run on etcd's on-disk format; move the data with a snapshot instead: \`etcdctl snapshot save FILE\` against the etcd member, then \`kvctl snapshot restore FILE --data-dir NEW_DIR ...\` and start kvd on NEW_DIR (docs/operations.md)`,
      );
    }
    await disk.settleReceivedSnapshots(logger);
    const walExists = await disk.walExists();
    const backendExisted = await disk.backendExists();
    state = await openState(disk, config, o.clock, logger).catch((err: unknown) => {
      if (err instanceof BackendCorruptError) throw damaged(disk.dataDir, err.message);
      throw err;
    });
    const ci = state.store.consistentIndex();
    const misplaced = walExists ? undefined : await disk.misplacedWal?.();
    if (misplaced !== undefined) {
      // Starting on an empty --wal-dir next to the WAL this data dir was written with would make
      // a new member over old data: refused, with what to do about it.
      throw new DataDirError(
        `--wal-dir ${disk.paths.wal} holds no WAL, but ${misplaced} does: move its files there (mv ${misplaced}/* ${disk.paths.wal}/), or start without --wal-dir`,
      );
    }
    if (!walExists && ci > 0n) {
      throw damaged(disk.dataDir, `the WAL (${disk.paths.wal}) is missing, but the backend holds state applied up to index ${ci}`);
    }
    const snapshots = await disk.openSnapshots({ onWarning: (m) => logger.warn({ dir: disk.paths.snap }, m) });
    const walOptions = { unsafeNoSync: config.unsafeNoFsync, onWarning: (m: string) => logger.warn(m), onNoSpace: o.onNoSpace };
    const storage = new MemoryStorage();
    const out = { storage, snapshots, state, lock, confState: raftpb.ConfState.fromPartial({}), snapshotIndex: 0n };
    if (walExists) {
      const valid = await disk.walSnapshots();
      const snap = await snapshots.loadNewest((pos) => valid.some((v) => v.index === pos.index && v.term === pos.term));
      const pos = snap?.metadata ? { index: snap.metadata.index, term: snap.metadata.term } : { index: 0n, term: 0n };
      // Invariant: the backend holds every entry up to the snapshot — the WAL replays only what
      // follows it (the snapshot's state *is* the backend, as in etcd).
      if (ci < pos.index) {
        const what = backendExisted ? `holds entries only up to index ${ci}` : `(${disk.paths.db}) is missing`;
        throw damaged(
          disk.dataDir,
          `the backend ${what}, but the newest snapshot is at index ${pos.index} and the WAL holds only the entries after it: entries ${ci + 1n}..${pos.index} are lost`,
        );
      }
      if (!backendExisted) logger.warn({ db: disk.paths.db }, 'the backend is missing; rebuilding it from the WAL');
      const opened = await disk.openWal(pos, walOptions);
      wal = opened.wal;
      if (opened.repaired) logger.warn({ repaired: opened.repaired }, 'repaired a torn WAL tail');
      const md = etcdserverpb.Metadata.decode(opened.metadata);
      if (snap) {
        storage.applySnapshot(snap);
        out.confState = snap.metadata!.confState ?? out.confState;
        out.snapshotIndex = snap.metadata!.index;
      }
      let { hardState, entries } = opened;
      if (config.forceNewCluster) {
        const self = { id: md.NodeID, name: config.name, peerURLs: config.initialAdvertisePeerUrls, clientURLs: [], isLearner: false };
        const forced = standaloneLog({
          self,
          snapshot: snap?.metadata,
          hardState,
          entries,
          appliedIndex: ci,
        });
        // Durable before raft starts: the entries overwrite the uncommitted tail, the hard state
        // after them commits them (one save: records land in order).
        await wal.save(forced.hardState, forced.appended, { sync: true });
        hardState = forced.hardState;
        entries = forced.entries;
        logger.warn(
          {
            clusterId: md.ClusterID.toString(16),
            memberId: md.NodeID.toString(16),
            commitIndex: hardState.commit.toString(),
            discardedEntries: forced.discarded,
            removedMembers: forced.removed.map((id) => id.toString(16)),
          },
          'forcing restart as a one-member cluster (--force-new-cluster)',
        );
      }
      storage.setHardState(hardState);
      storage.append(entries);
      const joinedFrom = config.forceNewCluster ? undefined : await refetchMembers(config, o.fetchCluster, state, md.ClusterID, logger);
      return { ...out, memberId: md.NodeID, clusterId: md.ClusterID, wal, joinedFrom };
    }
    let ids: { memberId: bigint; clusterId: bigint };
    let joinedFrom: MemberRecord[] | undefined;
    let bootstrapPeers: { id: bigint; context: Buffer }[] | undefined;
    if (config.initialClusterState === 'existing') {
      const j = await joinIds(config, o.fetchCluster);
      ids = j;
      joinedFrom = j.members;
    } else {
      ids = clusterIds(config);
      bootstrapPeers = config.initialCluster.map((m) => {
        const id = computeMemberId(m.peerUrls, config.initialClusterToken);
        return { id, context: encodeMember({ id, name: m.name, peerURLs: m.peerUrls, clientURLs: [], isLearner: false }) };
      });
    }
    wal = await disk.createWal(etcdserverpb.Metadata.encode({ NodeID: ids.memberId, ClusterID: ids.clusterId }).finish(), walOptions);
    return { ...out, ...ids, joinedFrom, bootstrapPeers, wal };
  } catch (err) {
    await wal?.close().catch(() => undefined);
    await state?.backend.close().catch(() => undefined);
    lock.release();
    throw err;
  }
}

// A member: the composition root that owns the backend, the store, leases, alarms, consensus and
// every timer (etcd's EtcdServer). The gRPC services are thin adapters over it.
import { etcdserverpb, raftpb } from '@kv/api';
import { Backend, BackendCorruptError, KVStore, WatchableStore, type WatchStream } from '@kv/mvcc';
import { MemoryStorage } from '@kv/raft';
import { SnapshotFiles, Wal, fsyncDir } from '@kv/wal';
import { existsSync } from 'node:fs';
import { readdir, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { applyGroup, type GroupEntry } from './apply/apply_group.js';
import { encodeMember, Membership, type MemberRecord } from './cluster/membership.js';
import { fetchCluster } from './cluster/join.js';
import { RaftConsensus, type StateMachine } from './consensus/raft_consensus.js';
import { AlarmStore } from './apply/alarms.js';
import { SpaceGuard } from './apply/space.js';
import { Applier, type ApplyResult, type Response } from './apply/applier.js';
import { effectiveQuota, parseRetention, type ServerConfig } from './config.js';
import type { Consensus } from './consensus/consensus.js';
import { DataDirError, openDataDir, type DataDirLayout, type DataDirLock } from './data_dir.js';
import { RpcError } from './errors.js';
import { computeClusterId, computeMemberId } from './ids.js';
import { IdGenerator } from './idgen.js';
import { Lessor, minLeaseTTL } from './lease/lessor.js';
import { Compactor } from './compactor.js';
import { LeaderForwarder } from './cluster/leader_forward.js';

/** The etcd API version kv speaks, reported by Status and /version. */
export const EtcdApiVersion = '3.4.0';

export interface MemberInfo {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
  isLearner?: boolean;
}

export interface MemberOptions {
  config: ServerConfig;
  logger: Logger;
  /** Monotonic clock in ms; injected by tests. */
  clock?: () => number;
  /** Called when the member hits an unrecoverable error and must stop. */
  onFatal?: (err: unknown) => void;
  /** kv's own version, reported next to the etcd API version. */
  kvVersion?: string;
}

/** Largest number of expired leases revoked per expiry pass (etcd: leaseRevokeRate 1000/s). */
const revokesPerPass = 500;
const expiryPassMs = 500;
/** Lease checkpoints (remaining TTLs) are persisted this often, and at a clean stop. */
const checkpointIntervalMs = 5 * 60 * 1000;

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
function clusterIds(config: ServerConfig): { memberId: bigint; clusterId: bigint } {
  const self = config.initialCluster.find((m) => m.name === config.name)!;
  return {
    memberId: computeMemberId(self.peerUrls, config.initialClusterToken),
    clusterId: computeClusterId(config.initialCluster.map((m) => computeMemberId(m.peerUrls, config.initialClusterToken))),
  };
}

/** The parts of the state machine that live on one backend (replaced whole by a snapshot install). */
interface StateParts {
  backend: Backend;
  store: KVStore;
  watchable: WatchableStore;
  lessor: Lessor;
  alarms: AlarmStore;
  membership: Membership;
}

/** Where a snapshot stream is restored: `db.snap-<n>.partial` while it arrives, `db.snap-<n>` once whole and durable. */
const receivedPrefix = 'db.snap-';
const partialSuffix = '.partial';

/**
 * Settles what a crash left of received snapshots. Installing swaps `db.snap-<n>` in for `db`
 * (remove db, rename): a crash between the two leaves no `db` but a whole received one, which is
 * then moved into place. Anything else received but never installed is of no use and removed.
 */
async function settleReceivedSnapshots(dirs: DataDirLayout, logger: Logger): Promise<void> {
  const names = (await readdir(dirs.member)).filter((n) => n.startsWith(receivedPrefix)).sort();
  const whole = names.filter((n) => !n.endsWith(partialSuffix));
  for (const name of names) {
    const path = join(dirs.member, name);
    if (name === whole[whole.length - 1] && !existsSync(join(dirs.db, 'CURRENT'))) {
      logger.warn({ path, db: dirs.db }, 'completing a snapshot install interrupted by a crash');
      await rm(dirs.db, { recursive: true, force: true });
      await rename(path, dirs.db);
      await fsyncDir(dirs.member);
      continue;
    }
    logger.warn({ path }, 'removing a received snapshot that was never installed');
    await rm(path, { recursive: true, force: true });
  }
}

async function collect(it: AsyncIterable<[Buffer, Buffer]>, pick: 0 | 1): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const kv of it) out.push(kv[pick]);
  return out;
}

/** Opens a backend directory and rebuilds everything kept in it. */
async function openState(dbDir: string, config: ServerConfig, clock: () => number, logger: Logger): Promise<StateParts> {
  const backend = await Backend.open(dbDir, { onWarning: (m) => logger.warn({ db: dbDir }, m) });
  try {
    const lessor = new Lessor({ now: clock, minTTL: minLeaseTTL(config.electionTimeoutMs, config.heartbeatIntervalMs) });
    lessor.restore(await collect(backend.entries('lease'), 1));
    const alarms = new AlarmStore();
    alarms.restore(await collect(backend.entries('alarm'), 0));
    const membership = new Membership();
    membership.restore(await collect(backend.entries('members'), 1), await collect(backend.entries('membersRemoved'), 0));
    const store = await KVStore.open(backend, { leases: lessor });
    const watchable = new WatchableStore(store, { onError: (err) => logger.error({ err }, 'watch catch-up failed') });
    return { backend, store, watchable, lessor, alarms, membership };
  } catch (err) {
    await backend.close().catch(() => undefined);
    throw err;
  }
}

export class Member implements StateMachine {
  readonly ids: IdGenerator;
  readonly version: { server: string; cluster: string; kv: string };
  private readonly watchStreams = new Set<WatchStream>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly revoking = new Set<bigint>();
  private compactor?: Compactor;
  private stopped = false;
  // The state machine; replaced as a whole when a snapshot is installed.
  backend!: Backend;
  store!: KVStore;
  watchable!: WatchableStore;
  lessor!: Lessor;
  alarms!: AlarmStore;
  membership!: Membership;
  applier!: Applier;
  /** The raft loop (the transport delivers peer messages to it). */
  raft!: RaftConsensus;

  /** What the services need from consensus (the raft loop, seen through its interface). */
  get consensus(): Consensus {
    return this.raft;
  }
  /** The member list fetched from the cluster when this member joined it (its first peers). */
  joinedFrom?: MemberRecord[];
  /** A backend restored from a snapshot stream, waiting for raft to accept the snapshot. */
  private pendingSnapshotDir?: string;

  private constructor(
    readonly config: ServerConfig,
    readonly logger: Logger,
    private readonly lock: DataDirLock,
    private readonly dirs: DataDirLayout,
    readonly memberId: bigint,
    readonly clusterId: bigint,
    parts: StateParts,
    readonly clock: () => number,
    kvVersion: string,
    private readonly onFatal: (err: unknown) => void,
  ) {
    this.setState(parts);
    this.ids = new IdGenerator(this.memberId, Date.now());
    this.version = { server: EtcdApiVersion, cluster: EtcdApiVersion.replace(/\.\d+$/, '.0'), kv: kvVersion };
  }

  private setState(p: StateParts): void {
    Object.assign(this, p);
    this.applier = new Applier({ store: p.store, lessor: p.lessor, alarms: p.alarms, membership: p.membership, header: (rev) => this.header(rev) });
  }

  /** Opens (or creates) the data dir, restores every piece of state and starts the timers. */
  static async open(o: MemberOptions): Promise<Member> {
    const { config, logger } = o;
    const clock = o.clock ?? (() => performance.now());
    const onFatal = o.onFatal ?? (() => process.exit(1));
    const { dirs, lock, notices } = openDataDir(config.dataDir);
    for (const n of notices) logger.warn({ dataDir: config.dataDir }, n);
    let parts: StateParts | undefined;
    let wal: Wal | undefined;
    try {
      await settleReceivedSnapshots(dirs, logger);
      const walExists = await Wal.exists(dirs.wal);
      // The WAL reports a full disk to the member, which exists only once the WAL is open.
      const walEvents = { onNoSpace: (_waiting: boolean): void => undefined };
      const onNoSpace = (waiting: boolean) => walEvents.onNoSpace(waiting);
      const backendExisted = existsSync(join(dirs.db, 'CURRENT'));
      parts = await openState(dirs.db, config, clock, logger).catch((err: unknown) => {
        if (err instanceof BackendCorruptError) throw damaged(config.dataDir, err.message);
        throw err;
      });
      const ci = parts.store.consistentIndex();
      if (!walExists && ci > 0n) {
        throw damaged(config.dataDir, `the WAL (${dirs.wal}) is missing, but the backend holds state applied up to index ${ci}`);
      }
      // Restart from snapshot + WAL, or bootstrap a new member (one member is a cluster of one).
      const snapshots = await SnapshotFiles.open(dirs.snap, {
        onWarning: (m) => logger.warn({ dir: dirs.snap }, m),
      });
      const storage = new MemoryStorage();
      let memberId: bigint;
      let clusterId: bigint;
      let confState: raftpb.ConfState = raftpb.ConfState.fromPartial({});
      let snapshotIndex = 0n;
      let bootstrapPeers: { id: bigint; context: Buffer }[] | undefined;
      let joinedFrom: MemberRecord[] | undefined;
      if (walExists) {
        const valid = await Wal.validSnapshots(dirs.wal);
        const snap = await snapshots.loadNewest((pos) => valid.some((v) => v.index === pos.index && v.term === pos.term));
        const pos = snap?.metadata ? { index: snap.metadata.index, term: snap.metadata.term } : { index: 0n, term: 0n };
        // Invariant: the backend holds every entry up to the snapshot — the WAL replays only what
        // follows it (the snapshot's state *is* the backend, as in etcd).
        if (ci < pos.index) {
          const what = backendExisted ? `holds entries only up to index ${ci}` : `(${dirs.db}) is missing`;
          throw damaged(
            config.dataDir,
            `the backend ${what}, but the newest snapshot is at index ${pos.index} and the WAL holds only the entries after it: entries ${ci + 1n}..${pos.index} are lost`,
          );
        }
        if (!backendExisted) logger.warn({ db: dirs.db }, 'the backend is missing; rebuilding it from the WAL');
        const opened = await Wal.open(dirs.wal, pos, { unsafeNoSync: config.unsafeNoFsync, onWarning: (m) => logger.warn(m), onNoSpace });
        wal = opened.wal;
        if (opened.repaired) logger.warn({ repaired: opened.repaired }, 'repaired a torn WAL tail');
        const md = etcdserverpb.Metadata.decode(opened.metadata);
        memberId = md.NodeID;
        clusterId = md.ClusterID;
        if (snap) {
          storage.applySnapshot(snap);
          confState = snap.metadata!.confState ?? confState;
          snapshotIndex = snap.metadata!.index;
        }
        storage.setHardState(opened.hardState);
        storage.append(opened.entries);
      } else {
        if (config.initialClusterState === 'existing') {
          // Join: the cluster's id and members come from the others; this member was added to
          // them with MemberAdd and gets the log (or a snapshot) from the leader.
          const self = new Set(config.initialAdvertisePeerUrls);
          const others = config.initialCluster.flatMap((m) => m.peerUrls).filter((u) => !self.has(u));
          const remote = await fetchCluster(others, 5_000);
          const me = remote.members.find((m) => m.peerURLs.some((u) => self.has(u)));
          if (!me) {
            throw new Error(
              `this member's peer URLs (${[...self].join(',')}) are not in the cluster's member list: add it with 'member add' first`,
            );
          }
          memberId = me.id;
          clusterId = remote.clusterId;
          joinedFrom = remote.members;
        } else {
          ({ memberId, clusterId } = clusterIds(config));
          bootstrapPeers = config.initialCluster.map((m) => {
            const id = computeMemberId(m.peerUrls, config.initialClusterToken);
            return { id, context: encodeMember({ id, name: m.name, peerURLs: m.peerUrls, clientURLs: [], isLearner: false }) };
          });
        }
        wal = await Wal.create(dirs.wal, etcdserverpb.Metadata.encode({ NodeID: memberId, ClusterID: clusterId }).finish(), {
          unsafeNoSync: config.unsafeNoFsync,
          onWarning: (m) => logger.warn(m),
          onNoSpace,
        });
      }
      const member = new Member(config, logger, lock, dirs, memberId, clusterId, parts, clock, o.kvVersion ?? '0.0.0', onFatal);
      const electionTicks = Math.max(2, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs));
      member.joinedFrom = joinedFrom;
      walEvents.onNoSpace = (waiting) => member.onWalNoSpace(waiting);
      member.raft = new RaftConsensus({
        memberId,
        wal,
        snapshots,
        storage,
        confState,
        snapshotIndex,
        bootstrapPeers,
        heartbeatMs: config.heartbeatIntervalMs,
        electionTicks,
        snapshotCount: config.snapshotCount,
        snapshotCatchUpEntries: config.snapshotCatchUpEntries,
        maxRequestBytes: config.maxRequestBytes,
        requestTimeoutMs: 5000 + 2 * config.electionTimeoutMs,
        logger,
        machine: member,
        sender: { send: () => undefined, sendSnapshot: () => undefined }, // replaced by the server's transport
        onFatal,
      });
      member.startLoops();
      member.logReady();
      return member;
    } catch (err) {
      await wal?.close().catch(() => undefined);
      await parts?.backend.close().catch(() => undefined);
      lock.release();
      throw err;
    }
  }

  private logReady(): void {
    this.logger.info(
      {
        name: this.config.name,
        memberId: this.memberId.toString(16),
        clusterId: this.clusterId.toString(16),
        revision: this.store.currentRev().toString(),
        consistentIndex: this.store.consistentIndex().toString(),
        dataDir: this.config.dataDir,
        members: this.config.initialCluster.length,
      },
      'member ready',
    );
  }

  // --- StateMachine (driven by the raft loop) ---

  appliedIndex(): bigint {
    return this.store.consistentIndex();
  }

  applyEntries(entries: GroupEntry[]): Promise<(ApplyResult | undefined)[]> {
    return applyGroup({ backend: this.backend, store: this.store, applier: this.applier, sync: false }, entries);
  }

  async applyConfChange(index: bigint, cc: raftpb.ConfChange): Promise<void> {
    await applyGroup(
      {
        backend: this.backend,
        store: this.store,
        applier: this.applier,
        sync: false,
        extra: (tx) => this.membership.applyConfChange(cc, { put: (b, k, v) => tx.put(b, k, v), del: (b, k) => tx.del(b, k) }),
      },
      [{ index }],
    );
    this.onMembersChanged?.();
  }

  /** Called after membership changed (the server updates the transport's peers). */
  onMembersChanged?: () => void;

  /** Makes everything applied so far durable in the backend (before a snapshot lets the WAL go). */
  persistApplied(): Promise<void> {
    return this.backend.sync();
  }

  snapshotData(): AsyncIterable<Buffer> {
    return this.backend.snapshotStream();
  }

  /** Restores a snapshot stream aside; the swap happens when raft accepts it (installSnapshot). */
  async receiveSnapshot(data: AsyncIterable<Buffer>): Promise<void> {
    const dir = join(this.dirs.member, `${receivedPrefix}${Date.now().toString().padStart(16, '0')}`);
    const partial = `${dir}${partialSuffix}`;
    const b = await Backend.restoreFrom(partial, data); // verified and synced
    await b.close();
    await rename(partial, dir);
    await fsyncDir(this.dirs.member);
    if (this.pendingSnapshotDir) await rm(this.pendingSnapshotDir, { recursive: true, force: true });
    this.pendingSnapshotDir = dir;
  }

  async installSnapshot(snapshot: raftpb.Snapshot): Promise<void> {
    const dir = this.pendingSnapshotDir;
    if (!dir) throw new Error(`raft installed snapshot ${snapshot.metadata?.index} but no state was received for it`);
    this.pendingSnapshotDir = undefined;
    for (const ws of this.watchStreams) ws.close(); // clients re-create their watches
    this.watchStreams.clear();
    this.watchable.close();
    await this.store.close?.();
    await this.backend.close();
    await rm(this.dirs.db, { recursive: true, force: true });
    await rename(dir, this.dirs.db); // a crash between rm and rename is completed at the next start
    await fsyncDir(this.dirs.member);
    const parts = await openState(this.dirs.db, this.config, this.clock, this.logger);
    this.setState(parts);
    if (this.raft.isLeader()) this.lessor.promote(this.config.electionTimeoutMs);
    this.onMembersChanged?.();
    this.logger.info({ index: snapshot.metadata?.index.toString(), revision: this.store.currentRev().toString() }, 'installed snapshot');
  }

  onLeaderChange(leader: bigint, isLeader: boolean): void {
    if (isLeader) this.lessor.promote(this.config.electionTimeoutMs);
    else this.lessor.demote();
    if (leader !== 0n && !this.published) void this.publishAttributes();
  }

  private published = false;

  /** Publishes this member's name and client URLs through the log (etcd's attribute update). */
  private async publishAttributes(): Promise<void> {
    this.published = true;
    const val = JSON.stringify({ name: this.config.name, clientURLs: this.config.advertiseClientUrls });
    const current = this.membership.get(this.memberId);
    if (current && current.name === this.config.name && current.clientURLs.join(',') === this.config.advertiseClientUrls.join(',')) return;
    try {
      await this.proposeFull({
        v2: etcdserverpb.Request.fromPartial({ Method: 'PUT', Path: `/0/members/${this.memberId.toString(16)}/attributes`, Val: val }),
      });
      this.logger.info({ name: this.config.name, clientURLs: this.config.advertiseClientUrls }, 'published member attributes');
    } catch (err) {
      this.logger.warn({ err }, 'publishing member attributes failed; retrying');
      if (!this.stopped) setTimeout(() => void this.publishAttributes(), this.config.electionTimeoutMs).unref();
    }
  }

  onRemoved(): void {
    this.logger.warn('this member has been permanently removed from the cluster; stopping');
    setImmediate(() => this.onFatal(new Error('member removed')));
  }

  header(revision: bigint): etcdserverpb.ResponseHeader {
    return { clusterId: this.clusterId, memberId: this.memberId, revision, raftTerm: this.consensus.term() };
  }

  members(): MemberInfo[] {
    return this.membership.list().map((m) => ({ id: m.id, name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, isLearner: m.isLearner }));
  }

  /** Sends a request through the log; throws its error or returns its response. */
  async propose(req: Partial<etcdserverpb.InternalRaftRequest>): Promise<Response> {
    const r = await this.proposeFull(req);
    return r.resp!;
  }

  async proposeFull(req: Partial<etcdserverpb.InternalRaftRequest>): Promise<ApplyResult> {
    if (this.stopped) throw new RpcError('Stopped');
    this.checkQuota(req);
    const full = etcdserverpb.InternalRaftRequest.fromPartial({ header: { ID: this.ids.next() } });
    Object.assign(full, req);
    const r = await this.consensus.propose(full);
    if (r.err !== undefined) throw r.err;
    return r;
  }

  /** The quota and free-space checks in front of the log (apply/space.ts). */
  get space(): SpaceGuard {
    return (this.space_ ??= new SpaceGuard({
      quotaBytes: effectiveQuota(this.config),
      backendSize: () => this.backend.size(),
      dirs: [this.dirs.db, this.dirs.wal],
    }));
  }
  private space_?: SpaceGuard;

  /**
   * etcd's quota check before proposing: a request that may grow the backend is refused with
   * NOSPACE when the backend plus the request would exceed the quota or the disk runs low, and
   * the alarm is raised; while the WAL waits for space every request is refused.
   */
  private checkQuota(req: Partial<etcdserverpb.InternalRaftRequest>): void {
    const grows = req.put !== undefined || req.txn !== undefined || req.leaseGrant !== undefined;
    const cost = req.put ? req.put.key.length + req.put.value.length : 0;
    const why = this.space.refusal(grows, cost);
    if (why === undefined) return;
    // With the WAL waiting the alarm cannot be logged now; onWalNoSpace raises it once it can.
    if (why !== 'wal') this.raiseNoSpace(this.space.describe(why));
    throw new RpcError('NoSpace');
  }

  private raisingNoSpace = false;

  /** Proposes the NOSPACE alarm for this member unless it is active (or being proposed). */
  private raiseNoSpace(detail: Record<string, number | string>): void {
    if (this.alarms.has(etcdserverpb.AlarmType.NOSPACE) || this.raisingNoSpace || this.stopped) return;
    this.raisingNoSpace = true;
    this.logger.warn(detail, 'no space for writes; raising the NOSPACE alarm');
    this.propose({
      alarm: { action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE, memberID: this.memberId, alarm: etcdserverpb.AlarmType.NOSPACE },
    })
      .catch((err) => this.logger.warn({ err }, 'raising the NOSPACE alarm failed'))
      .finally(() => (this.raisingNoSpace = false));
  }

  /**
   * The WAL started (true) or stopped (false) waiting for space for a write. While it waits the
   * member refuses every request with NoSpace and serves reads; when the write went through the
   * NOSPACE alarm is raised through the log, for the operator to disarm as in etcd.
   */
  onWalNoSpace(waiting: boolean): void {
    this.space.walWaiting = waiting;
    this.raft?.setStorageWaiting(waiting);
    if (waiting) this.logger.error({ freeBytes: this.space.freeBytes() }, 'the WAL has no space for a write; refusing requests until it has');
    else {
      this.logger.warn('the WAL has space again');
      this.raiseNoSpace({ reason: 'wal' });
    }
  }

  readonly forwarder = new LeaderForwarder();

  /** Whether this member is a learner (it answers only Status and serializable reads). */
  isLearner(): boolean {
    return this.membership.get(this.memberId)?.isLearner ?? false;
  }

  /** Client URLs of the current leader, empty if unknown. */
  leaderClientUrls(): string[] {
    const lead = this.consensus.leader();
    return this.membership.get(lead)?.clientURLs ?? [];
  }

  /** Whether this member's lessor is the primary (it leads). */
  private isPrimary(): boolean {
    return this.raft.isLeader();
  }

  /** Keep-alive: resets a lease's expiry on the primary lessor (forwarded there by followers). */
  async renew(id: bigint): Promise<bigint> {
    if (this.stopped) throw new RpcError('Stopped');
    // Right after a start or a leader change there may be no leader yet: wait for one, as etcd does.
    await this.raft.waitLeader();
    if (this.isPrimary()) {
      await this.consensus.readBarrier();
      return this.lessor.renew(id);
    }
    if (this.consensus.leader() === 0n) throw new RpcError('NoLeader');
    return this.forwarder.renew(this.leaderClientUrls(), id, 5000);
  }

  /** Time-to-live, answered by the primary lessor. */
  async leaseTimeToLive(req: etcdserverpb.LeaseTimeToLiveRequest): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    await this.raft.waitLeader();
    if (!this.isPrimary()) {
      if (this.consensus.leader() === 0n) throw new RpcError('NoLeader');
      const r = await this.forwarder.timeToLive(this.leaderClientUrls(), req, 5000);
      return { ...r, header: this.header(this.store.currentRev()) };
    }
    await this.consensus.readBarrier();
    const l = this.lessor.lookup(req.ID);
    // etcd answers an unknown (revoked, expired) lease with TTL -1, not an error.
    if (!l) return { header: this.header(this.store.currentRev()), ID: req.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
    return {
      header: this.header(this.store.currentRev()),
      ID: req.ID,
      TTL: l.remainingSeconds(this.clock()),
      grantedTTL: l.ttl,
      keys: req.keys ? [...l.keys].sort().map((k) => Buffer.from(k, 'latin1')) : [],
    };
  }

  trackWatchStream(ws: WatchStream): void {
    this.watchStreams.add(ws);
  }
  untrackWatchStream(ws: WatchStream): void {
    this.watchStreams.delete(ws);
  }

  private every(ms: number, fn: () => void | Promise<void>): void {
    const t = setInterval(() => {
      Promise.resolve()
        .then(fn)
        .catch((err) => this.logger.error({ err }, 'background task failed'));
    }, ms);
    t.unref();
    this.timers.push(t);
  }

  private startLoops(): void {
    // The lessor becomes primary when this member is elected (onLeaderChange): leases restored
    // from disk then get their remaining TTL (from the last checkpoint) plus an election timeout,
    // as on an etcd leader change.
    this.every(expiryPassMs, () => this.revokeExpired());
    this.every(checkpointIntervalMs, () => this.checkpointLeases());
    this.every(this.config.watchProgressNotifyIntervalMs, () => {
      for (const ws of this.watchStreams) ws.progressNotify();
    });
    const retention = parseRetention(this.config.autoCompactionMode, this.config.autoCompactionRetention);
    if (retention > 0) {
      this.compactor = new Compactor({
        mode: this.config.autoCompactionMode,
        retention,
        rev: () => this.store.currentRev(),
        compactRev: () => this.store.compactRev(),
        compact: async (revision) => {
          await this.propose({ compaction: { revision, physical: false } });
        },
        logger: this.logger,
      });
      this.every(this.compactor.intervalMs, () => this.compactor!.tick(this.clock()));
    }
  }

  private async revokeExpired(): Promise<void> {
    for (const l of this.lessor.expired(revokesPerPass)) {
      if (this.revoking.has(l.id)) continue;
      this.revoking.add(l.id);
      this.propose({ leaseRevoke: { ID: l.id } })
        .catch((err) => {
          if (!(err instanceof RpcError && err.etcdName === 'LeaseNotFound')) this.logger.warn({ err, lease: l.id.toString(16) }, 'lease revoke failed');
        })
        .finally(() => this.revoking.delete(l.id));
    }
  }

  private async checkpointLeases(): Promise<void> {
    const checkpoints = this.lessor.checkpoints();
    if (checkpoints.length > 0) await this.propose({ leaseCheckpoint: { checkpoints } });
  }

  /** Persists lease checkpoints, stops consensus and timers, closes the store. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    // Persist the leases' remaining TTLs, but don't hold the stop up if there is no quorum.
    if (this.isPrimary()) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        this.checkpointLeases(),
        new Promise<void>((_, reject) => {
          timer = setTimeout(() => reject(new Error('timed out')), this.config.electionTimeoutMs);
        }),
      ])
        .catch((err) => this.logger.warn({ err }, 'final lease checkpoint failed'))
        .finally(() => clearTimeout(timer));
    }
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.forwarder.close();
    await this.consensus.stop();
    for (const ws of this.watchStreams) ws.close();
    this.watchable.close();
    await this.backend.close();
    this.lock.release();
    this.logger.info('member stopped');
  }
}

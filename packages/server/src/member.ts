// A member: the composition root that owns the backend, the store, leases, alarms, consensus and
// every timer (etcd's EtcdServer). The gRPC services are thin adapters over it.
import { etcdserverpb } from '@kv/api';
import { Backend, KVStore, WatchableStore, type WatchStream } from '@kv/mvcc';
import type { Logger } from 'pino';
import { AlarmStore } from './apply/alarms.js';
import { Applier, type ApplyResult, type Response } from './apply/applier.js';
import { effectiveQuota, parseRetention, type ServerConfig } from './config.js';
import type { Consensus } from './consensus/consensus.js';
import { LocalLog } from './consensus/local_log.js';
import { openDataDir, type DataDirLock } from './data_dir.js';
import { RpcError } from './errors.js';
import { computeClusterId, computeMemberId } from './ids.js';
import { IdGenerator } from './idgen.js';
import { Lessor, minLeaseTTL } from './lease/lessor.js';
import { Compactor } from './compactor.js';

/** The etcd API version kv speaks, reported by Status and /version. */
export const EtcdApiVersion = '3.4.0';

export interface MemberInfo {
  id: bigint;
  name: string;
  peerUrls: string[];
  clientUrls: string[];
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
/** etcd's maxGapBetweenApplyAndCommitIndex: proposals in flight before 'too many requests'. */
const maxPendingProposals = 5000;

/** This member's id and its cluster's, from --initial-cluster and --initial-cluster-token. */
function clusterIds(config: ServerConfig): { memberId: bigint; clusterId: bigint } {
  const self = config.initialCluster.find((m) => m.name === config.name)!;
  return {
    memberId: computeMemberId(self.peerUrls, config.initialClusterToken),
    clusterId: computeClusterId(config.initialCluster.map((m) => computeMemberId(m.peerUrls, config.initialClusterToken))),
  };
}

export class Member {
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly ids: IdGenerator;
  readonly clock: () => number;
  readonly version: { server: string; cluster: string; kv: string };
  private readonly watchStreams = new Set<WatchStream>();
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly revoking = new Set<bigint>();
  private compactor?: Compactor;
  private stopped = false;

  private constructor(
    readonly config: ServerConfig,
    readonly logger: Logger,
    private readonly lock: DataDirLock,
    readonly backend: Backend,
    readonly store: KVStore,
    readonly watchable: WatchableStore,
    readonly lessor: Lessor,
    readonly alarms: AlarmStore,
    readonly consensus: Consensus,
    clock: () => number,
    kvVersion: string,
  ) {
    ({ memberId: this.memberId, clusterId: this.clusterId } = clusterIds(config));
    this.ids = new IdGenerator(this.memberId, Date.now());
    this.clock = clock;
    this.version = { server: EtcdApiVersion, cluster: EtcdApiVersion.replace(/\.\d+$/, '.0'), kv: kvVersion };
  }

  /** Opens (or creates) the data dir, restores every piece of state and starts the timers. */
  static async open(o: MemberOptions): Promise<Member> {
    const { config, logger } = o;
    if (config.initialCluster.length !== 1) {
      throw new Error('this kvd runs a single member: --initial-cluster must name exactly one member');
    }
    const clock = o.clock ?? (() => performance.now());
    const { dirs, lock } = openDataDir(config.dataDir);
    let backend: Backend | undefined;
    try {
      backend = await Backend.open(dirs.db);
      const lessor = new Lessor({ now: clock, minTTL: minLeaseTTL(config.electionTimeoutMs, config.heartbeatIntervalMs) });
      const leaseRecords: Buffer[] = [];
      for await (const [, v] of backend.entries('lease')) leaseRecords.push(v);
      lessor.restore(leaseRecords);
      const alarms = new AlarmStore();
      const alarmKeys: Buffer[] = [];
      for await (const [k] of backend.entries('alarm')) alarmKeys.push(k);
      alarms.restore(alarmKeys);
      const store = await KVStore.open(backend, { leases: lessor });
      const watchable = new WatchableStore(store, {
        onError: (err) => logger.error({ err }, 'watch catch-up failed'),
      });
      let member!: Member;
      const applier = new Applier({ store, lessor, alarms, header: (rev) => member.header(rev) });
      const consensus = new LocalLog({
        memberId: clusterIds(config).memberId,
        backend,
        store,
        applier,
        logger,
        sync: !config.unsafeNoFsync,
        maxRequestBytes: config.maxRequestBytes,
        maxPending: maxPendingProposals,
        onFatal: (err) => (o.onFatal ?? (() => process.exit(1)))(err),
      });
      member = new Member(config, logger, lock, backend, store, watchable, lessor, alarms, consensus, clock, o.kvVersion ?? '0.0.0');
      await consensus.start();
      member.startLoops();
      logger.info(
        {
          name: config.name,
          memberId: member.memberId.toString(16),
          clusterId: member.clusterId.toString(16),
          revision: store.currentRev().toString(),
          consistentIndex: store.consistentIndex().toString(),
          dataDir: config.dataDir,
        },
        'member ready',
      );
      return member;
    } catch (err) {
      await backend?.close().catch(() => undefined);
      lock.release();
      throw err;
    }
  }

  header(revision: bigint): etcdserverpb.ResponseHeader {
    return { clusterId: this.clusterId, memberId: this.memberId, revision, raftTerm: this.consensus.term() };
  }

  members(): MemberInfo[] {
    return this.config.initialCluster.map((m) => ({
      id: computeMemberId(m.peerUrls, this.config.initialClusterToken),
      name: m.name,
      peerUrls: m.peerUrls,
      clientUrls: m.name === this.config.name ? this.config.advertiseClientUrls : [],
    }));
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

  /**
   * etcd's quota check before proposing: a request that may grow the backend is refused with
   * NOSPACE when the backend plus the request would exceed the quota, and the alarm is raised.
   */
  private checkQuota(req: Partial<etcdserverpb.InternalRaftRequest>): void {
    const grows = req.put !== undefined || req.txn !== undefined || req.leaseGrant !== undefined;
    if (!grows) return;
    const cost = req.put ? req.put.key.length + req.put.value.length : 0;
    if (this.lastDbSize + cost <= effectiveQuota(this.config)) return;
    if (!this.alarms.has(etcdserverpb.AlarmType.NOSPACE)) {
      this.logger.warn({ dbSize: this.lastDbSize, quota: effectiveQuota(this.config) }, 'backend quota exceeded; raising NOSPACE alarm');
      void this.propose({
        alarm: { action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE, memberID: this.memberId, alarm: etcdserverpb.AlarmType.NOSPACE },
      }).catch(() => undefined);
    }
    throw new RpcError('NoSpace');
  }
  private lastDbSize = 0;

  /** Keep-alive: resets a lease's expiry on the primary lessor. */
  async renew(id: bigint): Promise<bigint> {
    if (this.stopped) throw new RpcError('Stopped');
    await this.consensus.readBarrier();
    return this.lessor.renew(id);
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
    // This member is the leader of its one-member cluster: its lessor is primary. Leases restored
    // from disk get their remaining TTL (from the last checkpoint) plus an election timeout, as on
    // an etcd leader change.
    this.lessor.promote(this.config.electionTimeoutMs);
    this.every(expiryPassMs, () => this.revokeExpired());
    this.every(checkpointIntervalMs, () => this.checkpointLeases());
    this.every(this.config.watchProgressNotifyIntervalMs, () => {
      for (const ws of this.watchStreams) ws.progressNotify();
    });
    const refreshSize = async () => {
      this.lastDbSize = await this.backend.sizeOnDisk();
    };
    void refreshSize();
    this.every(5_000, refreshSize);
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
    await this.checkpointLeases().catch((err) => this.logger.warn({ err }, 'final lease checkpoint failed'));
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    await this.consensus.stop();
    for (const ws of this.watchStreams) ws.close();
    this.watchable.close();
    await this.backend.close();
    this.lock.release();
    this.logger.info('member stopped');
  }
}

// A member: the composition root (etcd's EtcdServer). It is built from the world it is given —
// clock, randomness, data dir (MemberDisk), peer network — and wires the parts: bootstrap
// (cluster/bootstrap.ts) opens the data dir, the peer network is made around this member's
// PeerHandler, consensus (RaftConsensus) is given the network as its sender, lease expiry runs in
// lease/expiry.ts, the apply chain in apply/. The gRPC services are thin adapters over it.
//
// Loops a member owns, all on the world's clock: the raft ticker and read/proposal timeouts
// (consensus), the lease revoke pass and checkpoints (LeaseExpiry), watch progress notifications,
// auto-compaction, the attribute publication retry, the snapshot/WAL file purge (consensus/purge.ts).
//
// Invariant: the network is made before consensus and delivers nothing to it before the member
// exists (its handler forwards to consensus, which is built right after the network, in the same
// synchronous step); kvd's transport only accepts connections once the peer listeners are up,
// after Member.open.
import { etcdserverpb, raftpb } from '@kv/api';
import type { Backend, KVStore, WatchableStore, WatchStream } from '@kv/mvcc';
import type { Logger } from 'pino';
import type { WalStats } from '@kv/wal';
import { AlarmStore } from './apply/alarms.js';
import { Applier, type ApplyResult, type Response } from './apply/applier.js';
import { applyGroup, type GroupEntry } from './apply/apply_group.js';
import { SpaceGuard } from './apply/space.js';
import { mvccClock, openState, type StateParts } from './apply/state.js';
import { Identities } from './auth/identity.js';
import type { AuthInfo, AuthStore } from './auth/store.js';
import { createTokenProvider, type TokenProvider } from './auth/token_provider.js';
import { bootstrap, type Bootstrapped } from './cluster/bootstrap.js';
import type { Membership, MemberRecord } from './cluster/membership.js';
import { Compactor } from './compactor.js';
import { effectiveQuota, parseRetention, type ServerConfig } from './config.js';
import type { Consensus } from './consensus/consensus.js';
import { FilePurger } from './consensus/purge.js';
import { RaftConsensus, type StateMachine } from './consensus/raft_consensus.js';
import type { ReadContextSource } from './consensus/read_context.js';
import { RpcError } from './errors.js';
import { computeMemberId } from './ids.js';
import { IdGenerator } from './idgen.js';
import { LeaseExpiry } from './lease/expiry.js';
import { MemberCounters } from './metrics/counters.js';
import { Recorders } from './metrics/recorders.js';
import type { Lessor } from './lease/lessor.js';
import { promoteMember } from './services/cluster.js';
import type { Clock, Random, Timer } from './world/clock.js';
import type { DiskLock, MemberDisk, ReceivedSnapshot } from './world/disk.js';
import type { MemberWorld } from './world/index.js';
import type { PeerAddress, PeerHandler, PeerNetwork } from './world/network.js';

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
  /** Clock, randomness, data dir and peer network (kvd: KvServer's real world). */
  world: MemberWorld;
  /** Called when the member hits an unrecoverable error and must stop. */
  onFatal?: (err: unknown) => void;
  /** kv's own version, reported next to the etcd API version. */
  kvVersion?: string;
  /** Test hook: where consensus takes its ReadIndex contexts from (default ReadContexts). */
  readContexts?: (memberId: bigint) => ReadContextSource;
  /** The disk and peer histograms (default: the member's own; kvd shares them with its network). */
  recorders?: Recorders;
}

export class Member implements StateMachine {
  readonly ids: IdGenerator;
  readonly version: { server: string; cluster: string; kv: string };
  readonly memberId: bigint;
  readonly clusterId: bigint;
  readonly config: ServerConfig;
  readonly logger: Logger;
  readonly clock: Clock;
  readonly random: Random;
  private readonly disk: MemberDisk;
  private readonly lock: DiskLock;
  private readonly onFatal: (err: unknown) => void;
  private readonly watchStreams = new Set<WatchStream>();
  /** Metric counters bumped on the hot path, read at scrape time (metrics/). Outlive state swaps. */
  readonly counters = new MemberCounters();
  /** Histograms of WAL fsyncs, backend commits and snapshots, peer round trips (metrics/). */
  readonly recorders: Recorders;
  /** The WAL's counters (records, bytes, syncs). */
  readonly walStats: () => WalStats;
  private readonly timers: Timer[] = [];
  /** The peers the network was last given (syncPeers): the other members. */
  private peerIds: bigint[] = [];
  private stopped = false;
  // The state machine; replaced as a whole when a snapshot is installed (setState).
  backend!: Backend;
  store!: KVStore;
  watchable!: WatchableStore;
  lessor!: Lessor;
  alarms!: AlarmStore;
  membership!: Membership;
  /** Users, roles, permissions (replicated; replaced with the rest of the state). */
  auth!: AuthStore;
  /** The --auth-token provider: simple tokens (this member's memory, assigned as Authenticate applies) or JWTs. */
  readonly tokens: TokenProvider;
  /** Who a call is (its token's user), the member's own identity, auth change listeners. */
  readonly identity: Identities;
  applier!: Applier;
  /** The peer network (made by the world's factory before consensus). */
  readonly network: PeerNetwork;
  /** The raft loop; its sender is `network`. */
  readonly raft: RaftConsensus;
  /** Lease expiry, checkpoints and the keep-alive/time-to-live forwarding decision. */
  readonly leases: LeaseExpiry;
  /** Deletes old snapshot and WAL files (--max-snapshots, --max-wals). */
  readonly purger: FilePurger;
  readonly space: SpaceGuard;
  /** The member list fetched from the cluster when this member joined it (its first peers). */
  readonly joinedFrom?: MemberRecord[];
  /** A backend restored from a snapshot stream, waiting for raft to accept the snapshot. */
  private pendingSnapshot?: ReceivedSnapshot;
  private receivedSeq = 0;

  /** What the services need from consensus (the raft loop, seen through its interface). */
  get consensus(): Consensus {
    return this.raft;
  }

  private constructor(o: MemberOptions, b: Bootstrapped, onFatal: (err: unknown) => void) {
    const { config, logger, world } = o;
    this.config = config;
    this.logger = logger;
    this.clock = world.clock;
    this.random = world.random;
    this.disk = world.disk;
    this.lock = b.lock;
    this.onFatal = onFatal;
    this.memberId = b.memberId;
    this.clusterId = b.clusterId;
    this.joinedFrom = b.joinedFrom;
    this.tokens = createTokenProvider(config.authToken, this.clock, this.random, config.authTokenTtlMs);
    if (config.authToken.type === 'jwt' && config.authToken.unknownOptions.length > 0) {
      logger.warn({ keys: config.authToken.unknownOptions }, 'unknown JWT options');
    }
    this.recorders = o.recorders ?? new Recorders();
    b.wal.observeFsync(this.recorders.observeWalFsync);
    this.walStats = () => b.wal.stats();
    this.identity = new Identities({ tokens: this.tokens, auth: () => this.auth, appliedIndex: () => this.appliedIndex(), logger });
    this.setState(b.state);
    this.ids = new IdGenerator(this.memberId, this.clock.wallNow());
    this.version = { server: EtcdApiVersion, cluster: EtcdApiVersion.replace(/\.\d+$/, '.0'), kv: o.kvVersion ?? '0.0.0' };
    this.space = new SpaceGuard({
      quotaBytes: effectiveQuota(config),
      backendSize: () => this.backend.size(),
      freeBytes: () => this.disk.freeBytes(),
      now: () => this.clock.now(),
    });
    // The network first, around a handler that forwards to consensus (built right below).
    this.network = world.network({ memberId: b.memberId, clusterId: b.clusterId }, this.peerHandler());
    this.raft = this.makeConsensus(o, b, onFatal);
    this.leases = new LeaseExpiry({
      clock: this.clock,
      logger,
      lessor: () => this.lessor,
      consensus: this.raft,
      propose: async (req) => (await this.proposeFull(req, this.identity.asMember)).resp!,
      network: this.network,
      leader: () => this.leaderAddress(),
      header: () => this.header(this.store.currentRev()),
      electionTimeoutMs: config.electionTimeoutMs,
    });
    this.purger = new FilePurger({
      clock: this.clock,
      logger,
      wal: b.wal,
      snapshots: b.snapshots,
      maxSnapshots: config.maxSnapshots,
      maxWals: config.maxWals,
      durableSnapshotIndex: () => this.raft.snapshotIndexDurable(),
      onFatal,
    });
  }

  /** Consensus over the bootstrapped log, sending through this member's network. */
  private makeConsensus(o: MemberOptions, b: Bootstrapped, onFatal: (err: unknown) => void): RaftConsensus {
    const { config, logger } = o;
    try {
      return new RaftConsensus({
        memberId: b.memberId,
        wal: b.wal,
        snapshots: b.snapshots,
        storage: b.storage,
        confState: b.confState,
        snapshotIndex: b.snapshotIndex,
        bootstrapPeers: b.bootstrapPeers,
        heartbeatMs: config.heartbeatIntervalMs,
        electionTicks: Math.max(2, Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs)),
        preVote: config.preVote,
        snapshotCount: config.snapshotCount,
        snapshotCatchUpEntries: config.snapshotCatchUpEntries,
        maxRequestBytes: config.maxRequestBytes,
        requestTimeoutMs: 5000 + 2 * config.electionTimeoutMs,
        logger,
        machine: this,
        sender: this.network,
        onFatal,
        clock: this.clock,
        random: this.random,
        readContexts: o.readContexts?.(b.memberId),
      });
    } catch (err) {
      void this.network.stop().catch(() => undefined); // made just before: nobody else will stop it
      throw err;
    }
  }

  private setState(p: StateParts): void {
    p.backend.observeCommits(this.recorders.observeBackendCommit);
    this.backend = p.backend;
    this.store = p.store;
    this.watchable = p.watchable;
    this.lessor = p.lessor;
    this.alarms = p.alarms;
    this.membership = p.membership;
    this.auth = p.auth;
    this.identity.attach(p.auth);
    this.applier = new Applier({
      store: p.store,
      lessor: p.lessor,
      alarms: p.alarms,
      auth: p.auth,
      tokens: this.tokens,
      membership: p.membership,
      header: (rev) => this.header(rev),
      metrics: { counters: this.counters, now: () => this.clock.now() },
    });
  }

  /**
   * Opens (or creates) the data dir through the world's disk, restores every piece of state,
   * makes the peer network and consensus, and starts the member's timers. Consensus starts with
   * start() (kvd: once the peer listeners are up).
   */
  static async open(o: MemberOptions): Promise<Member> {
    const { config, logger, world } = o;
    const onFatal = o.onFatal ?? (() => process.exit(1));
    // The WAL reports a full disk to the member, which exists only once the WAL is open.
    const walEvents = { onNoSpace: (_waiting: boolean): void => undefined };
    const b = await bootstrap({
      config,
      logger,
      disk: world.disk,
      clock: world.clock,
      fetchCluster: world.fetchCluster,
      onNoSpace: (waiting) => walEvents.onNoSpace(waiting),
    });
    let member: Member | undefined;
    try {
      member = new Member(o, b, onFatal);
      const m = member;
      walEvents.onNoSpace = (waiting) => m.onWalNoSpace(waiting);
      member.syncPeers();
      member.startLoops();
      member.logReady();
      return member;
    } catch (err) {
      await member?.network.stop().catch(() => undefined);
      await b.wal.close().catch(() => undefined);
      await b.state.backend.close().catch(() => undefined);
      b.lock.release();
      throw err;
    }
  }

  /** Starts consensus (the raft ticker; a cluster of one campaigns at once). */
  async start(): Promise<void> {
    await this.raft.start();
    this.adjustTicks();
  }

  /**
   * etcd's adjustTicks with --initial-election-tick-advance (server.go): every 50 ms for up to 5 s
   * (rafthttp's ConnReadTimeout), once more than one peer is connected, fast-forward election
   * ticks by electionTicks-2, so that a fresh cluster elects without waiting a whole election
   * timeout and a restarted follower still hears its leader before its own timer fires. A cluster
   * of one has already campaigned (RaftConsensus.start).
   */
  private adjustTicks(): void {
    const electionTicks = Math.max(2, Math.round(this.config.electionTimeoutMs / this.config.heartbeatIntervalMs));
    if (this.peerIds.length === 0) return;
    if (!this.config.initialElectionTickAdvance) {
      this.logger.info({ electionTicks }, 'skipping initial election tick advance');
      return;
    }
    const activeSince = this.network.activeSince?.bind(this.network);
    if (!activeSince) return;
    this.logger.info({ electionTicks }, 'starting initial election tick advance');
    let tries = 0;
    const poll = () => {
      if (this.stopped || ++tries > 100) return;
      const active = this.peerIds.filter((id) => activeSince(id) !== undefined).length;
      if (active > 1) {
        const ticks = electionTicks - 2;
        this.logger.info(
          { forwardTicks: ticks, electionTicks, activeRemoteMembers: active },
          'initialized peer connections; fast-forwarding election ticks',
        );
        this.raft.advanceTicks(ticks);
        return;
      }
      this.timers.push(this.clock.setTimeout(poll, 50));
    };
    this.timers.push(this.clock.setTimeout(poll, 50));
  }

  /** What the network delivers to this member. */
  private peerHandler(): PeerHandler {
    // `this.raft` is set right after the network is made (see the invariant at the top); a
    // network that delivered synchronously from its factory would find none: dropped, as lost.
    return {
      onMessages: (msgs) => this.raft?.step(msgs),
      onUnreachable: (id) => this.raft?.reportUnreachable(id),
      onSnapshotStatus: (id, ok) => this.raft?.reportSnapshot(id, ok),
      onSnapshot: async (msg, data) => {
        await this.receiveSnapshot(data);
        this.raft.step([msg]);
      },
      onRemoved: () => this.onRemoved(),
      renewLease: (id) => this.renew(id, { forwarded: true }),
      leaseTimeToLive: (req) => this.leaseTimeToLive(req),
      promoteMember: (req) => promoteMember(this, req),
    };
  }

  private logReady(): void {
    this.logger.info(
      {
        name: this.config.name,
        memberId: this.memberId.toString(16),
        clusterId: this.clusterId.toString(16),
        revision: this.store.currentRev().toString(),
        consistentIndex: this.store.consistentIndex().toString(),
        dataDir: this.disk.dataDir,
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
    return applyGroup(
      { backend: this.backend, store: this.store, applier: this.applier, sync: false, onCommitFailed: this.commitFailed },
      entries,
    );
  }

  private commitFailedOnce = false;
  /** A batch applied and published did not land in the backend: stop, as a failed apply does
   *  (the log still holds its entries; a restart replays them from the backend's consistent index). */
  private readonly commitFailed = (err: unknown): void => {
    if (this.commitFailedOnce) return;
    this.commitFailedOnce = true;
    this.logger.fatal({ err }, 'backend commit failed');
    this.onFatal(err);
  };

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
    this.syncPeers();
  }

  /**
   * Keeps the network's peers equal to the membership: the initial cluster (or the member list
   * fetched at join, whose ids are the real ones: --initial-cluster's would be the founders') until
   * the bootstrap entries are applied, then the members bucket; a member removed through a conf
   * change is dropped.
   */
  private syncPeers(): void {
    const want = new Map<bigint, PeerAddress>();
    if (this.joinedFrom === undefined) {
      const self = new Set(this.config.initialAdvertisePeerUrls);
      for (const x of this.config.initialCluster) {
        if (x.peerUrls.some((u) => self.has(u))) continue; // this member (its id may differ from the computed one)
        const id = computeMemberId(x.peerUrls, this.config.initialClusterToken);
        if (!this.membership.isRemoved(id)) want.set(id, { id, peerUrls: x.peerUrls, clientUrls: [] });
      }
    }
    for (const x of this.joinedFrom ?? []) {
      if (!this.membership.isRemoved(x.id)) want.set(x.id, { id: x.id, peerUrls: x.peerURLs, clientUrls: x.clientURLs });
    }
    for (const x of this.members()) want.set(x.id, { id: x.id, peerUrls: x.peerUrls, clientUrls: x.clientUrls });
    want.delete(this.memberId);
    this.peerIds = [...want.keys()];
    this.network.setPeers([...want.values()]);
  }

  /** Makes everything applied so far durable in the backend (before a snapshot lets the WAL go). */
  persistApplied(): Promise<void> {
    return this.backend.sync();
  }

  snapshotData(): AsyncIterable<Buffer> {
    return this.backend.snapshotStream();
  }

  /** Restores a snapshot stream aside; the swap happens when raft accepts it (installSnapshot). */
  async receiveSnapshot(data: AsyncIterable<Buffer>): Promise<void> {
    // Names sort in arrival order across restarts (wall time first), and differ within one ms.
    const name = `${Math.floor(this.clock.wallNow()).toString().padStart(16, '0')}-${(this.receivedSeq++).toString().padStart(6, '0')}`;
    const r = await this.disk.receiveSnapshot(name, data, mvccClock(this.clock));
    if (this.pendingSnapshot) await this.disk.discardReceived(this.pendingSnapshot);
    this.pendingSnapshot = r;
  }

  async installSnapshot(snapshot: raftpb.Snapshot): Promise<void> {
    const r = this.pendingSnapshot;
    if (!r) throw new Error(`raft installed snapshot ${snapshot.metadata?.index} but no state was received for it`);
    this.pendingSnapshot = undefined;
    for (const ws of this.watchStreams) ws.close(); // clients re-create their watches
    this.watchStreams.clear();
    this.watchable.close();
    await this.store.close?.();
    await this.backend.close();
    await this.disk.installReceived(r);
    this.setState(await openState(this.disk, this.config, this.clock, this.logger));
    this.leases.onLessorReplaced();
    this.syncPeers();
    this.logger.info({ index: snapshot.metadata?.index.toString(), revision: this.store.currentRev().toString() }, 'installed snapshot');
  }

  onLeaderChange(leader: bigint, isLeader: boolean): void {
    this.leases.onLeaderChange(isLeader);
    if (leader !== 0n && !this.published) void this.publishAttributes();
  }

  private published = false;

  /**
   * This member's name and client URLs are in its own applied member list — etcd's ReadyNotify
   * (etcd serves nothing on the client port before it; kvd's health says so instead).
   */
  hasPublished(): boolean {
    const self = this.membership.get(this.memberId);
    return self !== undefined && self.name === this.config.name && self.clientURLs.join(',') === this.config.advertiseClientUrls.join(',');
  }

  /** Publishes this member's name and client URLs through the log (etcd's attribute update). */
  private async publishAttributes(): Promise<void> {
    this.published = true;
    const val = JSON.stringify({ name: this.config.name, clientURLs: this.config.advertiseClientUrls });
    if (this.hasPublished()) return;
    try {
      await this.proposeFull({
        v2: etcdserverpb.Request.fromPartial({ Method: 'PUT', Path: `/0/members/${this.memberId.toString(16)}/attributes`, Val: val }),
      });
      this.logger.info({ name: this.config.name, clientURLs: this.config.advertiseClientUrls }, 'published member attributes');
    } catch (err) {
      this.logger.warn({ err }, 'publishing member attributes failed; retrying');
      if (!this.stopped) this.timers.push(this.clock.setTimeout(() => void this.publishAttributes(), this.config.electionTimeoutMs));
    }
  }

  onRemoved(): void {
    this.logger.warn('this member has been permanently removed from the cluster; stopping');
    this.clock.setImmediate(() => this.onFatal(new Error('member removed')));
  }

  header(revision: bigint): etcdserverpb.ResponseHeader {
    return { clusterId: this.clusterId, memberId: this.memberId, revision, raftTerm: this.consensus.term() };
  }

  members(): MemberInfo[] {
    return this.membership
      .list()
      .map((m) => ({ id: m.id, name: m.name, peerUrls: m.peerURLs, clientUrls: m.clientURLs, isLearner: m.isLearner }));
  }

  /** Sends a request through the log; throws its error or returns its response. */
  async propose(req: Partial<etcdserverpb.InternalRaftRequest>): Promise<Response> {
    const r = await this.proposeFull(req);
    return r.resp!;
  }

  /**
   * Proposes `req` on behalf of the requester `who` resolves (a call's token, Identities): the
   * entry's header carries its name and the auth revision it was resolved at. An entry refused
   * with AuthOldRevision (the auth store moved on between resolve and apply) is proposed again
   * with a fresh resolution, as etcd's raftRequest does, if that names a newer revision; bounded.
   */
  async proposeFull(req: Partial<etcdserverpb.InternalRaftRequest>, who?: () => AuthInfo | undefined): Promise<ApplyResult> {
    let ai = who?.();
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) throw new RpcError('Stopped');
      this.checkQuota(req);
      const full = etcdserverpb.InternalRaftRequest.fromPartial({
        header: { ID: this.ids.next(), username: ai?.username ?? '', authRevision: ai?.revision ?? 0n },
      });
      Object.assign(full, req);
      const r = await this.consensus.propose(full);
      if (r.err instanceof RpcError && r.err.etcdName === 'AuthOldRevision' && who && attempt < 10) {
        // A JWT names the revision it was issued at: resolving it again changes nothing (its
        // client must authenticate again), so the entry is not proposed again in vain.
        const again = who();
        if (again?.revision !== ai?.revision) {
          ai = again;
          continue;
        }
      }
      if (r.err !== undefined) throw r.err;
      return r;
    }
  }

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
    this.raft.setStorageWaiting(waiting);
    if (waiting)
      this.logger.error({ freeBytes: this.space.freeBytes() }, 'the WAL has no space for a write; refusing requests until it has');
    else {
      this.logger.warn('the WAL has space again');
      this.raiseNoSpace({ reason: 'wal' });
    }
  }

  /** Whether this member is a learner (it answers only Status and serializable reads). */
  isLearner(): boolean {
    return this.membership.get(this.memberId)?.isLearner ?? false;
  }

  /** The current leader as the network addresses it; undefined while none is known. */
  leaderAddress(): PeerAddress | undefined {
    const lead = this.consensus.leader();
    if (lead === 0n) return undefined;
    const m = this.membership.get(lead);
    return { id: lead, peerUrls: m?.peerURLs ?? [], clientUrls: m?.clientURLs ?? [] };
  }

  /** Client URLs of the current leader, empty if unknown. */
  leaderClientUrls(): string[] {
    return this.leaderAddress()?.clientUrls ?? [];
  }

  /** A follower's MemberPromote, forwarded to the leader through the peer network. */
  forwardPromote(req: etcdserverpb.MemberPromoteRequest, token?: string): Promise<etcdserverpb.MemberPromoteResponse> {
    const lead = this.leaderAddress();
    if (!lead) return Promise.reject(new RpcError('NoLeader'));
    if (!this.network.promoteMember) return Promise.reject(new RpcError('NotLeader'));
    return this.network.promoteMember(lead, req, 10_000, token);
  }

  /**
   * Keep-alive: resets a lease's expiry on the primary lessor (forwarded there by followers until
   * one answers; a `forwarded` renew is answered only by this member's lessor, see LeaseExpiry.renew).
   */
  renew(id: bigint, opts: { forwarded?: boolean } = {}): Promise<bigint> {
    if (this.stopped) return Promise.reject(new RpcError('Stopped'));
    return this.leases.renew(id, opts);
  }

  /** Time-to-live, answered by the primary lessor; `token` (the caller's) goes along when forwarded. */
  leaseTimeToLive(req: etcdserverpb.LeaseTimeToLiveRequest, token?: string): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    return this.leases.timeToLive(req, token);
  }

  /** Watch streams open on this member (etcd_debugging_mvcc_watch_stream_total). */
  get watchStreamCount(): number {
    return this.watchStreams.size;
  }

  trackWatchStream(ws: WatchStream): void {
    this.watchStreams.add(ws);
  }
  untrackWatchStream(ws: WatchStream): void {
    this.watchStreams.delete(ws);
  }

  private every(ms: number, fn: () => void | Promise<void>): void {
    this.timers.push(
      this.clock.setInterval(() => {
        Promise.resolve()
          .then(fn)
          .catch((err) => this.logger.error({ err }, 'background task failed'));
      }, ms),
    );
  }

  private startLoops(): void {
    // The lessor becomes primary when this member is elected (onLeaderChange → LeaseExpiry).
    this.leases.start();
    this.purger.start();
    this.every(this.config.watchProgressNotifyIntervalMs, () => {
      for (const ws of this.watchStreams) ws.progressNotify();
    });
    const retention = parseRetention(this.config.autoCompactionMode, this.config.autoCompactionRetention);
    if (retention > 0) {
      const compactor = new Compactor({
        mode: this.config.autoCompactionMode,
        retention,
        now: this.clock.now(),
        rev: () => this.store.currentRev(),
        compactRev: () => this.store.compactRev(),
        compact: async (revision) => {
          await this.proposeFull({ compaction: { revision, physical: false } }, this.identity.asMember);
        },
        active: () => this.raft.isLeader(),
        logger: this.logger,
      });
      this.every(compactor.intervalMs, () => compactor.tick(this.clock.now()));
    }
  }

  /** Persists lease checkpoints, stops consensus, timers and the network, closes the store. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    // Persist the leases' remaining TTLs, but don't hold the stop up if there is no quorum.
    await this.leases.stop(this.config.electionTimeoutMs);
    this.stopped = true;
    for (const t of this.timers) t.clear();
    await this.purger.stop(); // before the WAL closes
    // Consensus stops first (a leader hands leadership over, which needs the network).
    await this.consensus.stop();
    await this.network.stop();
    for (const ws of this.watchStreams) ws.close();
    this.watchable.close();
    await this.backend.close();
    this.lock.release();
    this.logger.info('member stopped');
  }
}

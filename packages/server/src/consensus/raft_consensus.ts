// Consensus through @kv/raft: the member's Ready loop. It persists each Ready's hard state and
// entries in the WAL (fsync when raft says so) before sending the messages that depend on them,
// applies committed entries in log order through the state machine, answers proposals when their
// entry is applied, serves ReadIndex for linearizable reads, takes snapshots every
// --snapshot-count entries and compacts the raft log behind them.
//
// Invariants:
// - One Ready at a time: ready() → persist → send → apply → advance(); the loop never runs twice
//   concurrently (`running`).
// - On a follower or candidate, hard state and entries are durable (WAL fsync, when mustSync)
//   before any message of the same Ready is sent, so no vote or acknowledgement is ever given for
//   state that a crash could lose. A leader sends its appends while it persists them: nothing
//   that depends on its own copy (a commit index it sends, an entry it applies or answers) leaves
//   before the next Ready, which comes only after this one is persisted and advanced.
// - Entries are applied in index order, each once; the backend's consistent index makes replay
//   after a crash skip what was already applied.
// - A proposal is answered by the member that proposed it, when the entry carrying its request
//   id and its exact bytes is applied there (on a leader change a proposal may be lost: it then
//   times out). Request ids are unique per member (IdGenerator); comparing the bytes as well keeps
//   another member's entry that happens to carry the same id from answering a local waiter.
// - Every ReadIndex round has a context no other round of any member or any start ever had
//   (ReadContexts). A round stays in flight until a read state with its context arrives or the
//   request timeout passes; until then it is re-sent every readIndexRetryMs and whenever a new
//   leader becomes known, so one lost message or a leader change costs a retry interval, not the
//   whole request timeout. Any read state carrying the round's context is a valid answer, whoever
//   sent it and whenever: its index was the leader's commit index when the context first reached
//   it, after the round began, confirmed by a quorum.
// - A full disk: the WAL keeps a write refused for lack of space and retries it (saves stay
//   pending), so a Ready whose entries are not persisted is never advanced, applied from or
//   answered; the loop just waits in persist. Meanwhile (storageWaiting) a sole voter that leads
//   answers linearizable reads from its applied state: no other leader can exist, and every
//   write it acknowledged is applied.
import { encodeToBuffer, etcdserverpb, raftpb } from '@kv/api';
import {
  ErrProposalDropped,
  RaftPanic,
  MemoryStorage,
  RawNode,
  RaftState,
  SnapshotStatus,
  entryConfChangeV2,
  seededRandom,
  type Ready,
} from '@kv/raft';
import type { SnapshotFiles, WalStorage } from '@kv/wal';
import type { Logger } from 'pino';
import type { ApplyResult } from '../apply/applier.js';
import type { GroupEntry } from '../apply/apply_group.js';
import { RpcError } from '../errors.js';
import { sleep, type Clock, type Random, type Timer } from '../world/clock.js';
import type { Consensus } from './consensus.js';
import { ReadContexts, type ReadContextSource } from './read_context.js';
import { failpoint, failpointsArmed } from '../failpoints.js';

/** What the Ready loop needs from the rest of the member. */
export interface StateMachine {
  /** Last index whose effects the backend holds. */
  appliedIndex(): bigint;
  /** Applies normal entries (a commit group) and returns one result per entry. */
  applyEntries(entries: GroupEntry[]): Promise<(ApplyResult | undefined)[]>;
  /** Applies a committed conf change at `index` (membership persisted with the consistent index). */
  applyConfChange(index: bigint, cc: raftpb.ConfChange): Promise<void>;
  /** Makes every applied entry durable in the backend (the WAL behind a snapshot is then released). */
  persistApplied(): Promise<void>;
  /** A consistent copy of the state for a follower that needs a snapshot. */
  snapshotData(): AsyncIterable<Buffer>;
  /** Installs a received snapshot (state already restored aside by the transport handler). */
  installSnapshot(snapshot: raftpb.Snapshot): Promise<void>;
  /** Leadership changed (lease expiry runs on the leader only). */
  onLeaderChange(leader: bigint, isLeader: boolean): void;
  /** This member was removed from the cluster. */
  onRemoved(): void;
}

/** What the Ready loop needs from the peer transport. */
export interface MessageSender {
  send(msgs: raftpb.Message[]): void;
  sendSnapshot(msg: raftpb.Message, data: () => AsyncIterable<Buffer>): void;
}

export interface RaftConsensusOptions {
  memberId: bigint;
  /** The durable log, through the small face raft needs (save, saveSnapshot, release, close). */
  wal: WalStorage;
  snapshots: SnapshotFiles;
  storage: MemoryStorage;
  /** Configuration the log's snapshot (or bootstrap) left; kept current by conf changes. */
  confState: raftpb.ConfState;
  /** Index of the newest snapshot in `storage`. */
  snapshotIndex: bigint;
  /** Brand-new member of a new cluster: the initial members (raft bootstrap). */
  bootstrapPeers?: { id: bigint; context: Buffer }[];
  heartbeatMs: number;
  electionTicks: number;
  /** Raft pre-vote (etcd's --pre-vote). Default true (kv's choice before the flag existed). */
  preVote?: boolean;
  snapshotCount: number;
  /** Entries kept behind a snapshot so that slow followers can catch up without one. */
  snapshotCatchUpEntries: number;
  maxRequestBytes: number;
  requestTimeoutMs: number;
  logger: Logger;
  machine: StateMachine;
  /**
   * The peer network, built before consensus (world/network.ts). Invariant: nothing is sent
   * before start(), and the network delivers to this consensus only once it exists.
   */
  sender: MessageSender;
  onFatal: (err: unknown) => void;
  /** The ticker, proposal and read timeouts, and every wait (the member's world). */
  clock: Clock;
  /** Where the election-timeout seed and the ReadIndex nonce come from (the member's world). */
  random: Random;
  /** Seed of the election-timeout randomness (default: drawn from `random`). */
  seed?: number;
  /** 8 random bytes, fresh for each start, in every ReadIndex context (default: random.bytes(8)). */
  readNonce?: Buffer;
  /**
   * Where ReadIndex contexts come from (default: ReadContexts over the member id and readNonce).
   * Only tests pass one: the whole-cluster simulation puts the old per-start counter back with it.
   */
  readContexts?: ReadContextSource;
  /** How long a ReadIndex round waits for its answer before it is re-sent (default 500 ms). */
  readIndexRetryMs?: number;
}

/** etcd's readIndexRetryTime. */
const defaultReadIndexRetryMs = 500;

/**
 * A committed normal entry's request. One that does not decode cannot be applied, and skipping
 * it could make members diverge, so this is a fault that stops the member (etcd panics) — with
 * the entry named. The transport refuses such entries from peers (transport/validate.ts), so
 * only a bug or a damaged log gets here.
 */
function decodeCommitted(e: raftpb.Entry): etcdserverpb.InternalRaftRequest {
  try {
    return etcdserverpb.InternalRaftRequest.decode(e.Data);
  } catch (err) {
    throw new Error(
      `committed entry ${e.Index} (term ${e.Term}, ${e.Data.length} bytes) is not a request: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** etcd's maxGapBetweenApplyAndCommitIndex: beyond it, proposals get 'too many requests'. */
const maxGapBetweenApplyAndCommit = 5000n;
/** etcd's maxInflightMsgs and maxSizePerMsg. */
const maxInflightMsgs = 4096 / 8;
const maxSizePerMsg = 1024n * 1024n;

interface Waiter {
  resolve: (r: ApplyResult) => void;
  reject: (err: unknown) => void;
  timer: Timer;
  /** The proposed entry's bytes (normal entries): only the entry with these bytes answers. */
  data?: Buffer;
}

interface ReadWaiter {
  resolve: () => void;
  reject: (e: unknown) => void;
}

/** A ReadIndex round in flight: its readers and its timers (re-send, give up). */
interface ReadRound {
  ctx: Buffer;
  waiters: ReadWaiter[];
  retry: Timer;
  deadline: Timer;
}

export class RaftConsensus implements Consensus {
  private readonly node: RawNode;
  private readonly waiters = new Map<bigint, Waiter>();
  private running = false;
  /** The Ready loop's run in progress (set while `running`). */
  private loopRun?: Promise<void>;
  private again = false;
  private stopped = false;
  private ticker?: Timer;
  private lead = 0n;
  /** A conf change was applied in the Ready being handled (see campaignIfAlone). */
  private confChangeApplied = false;
  private term_ = 0n;
  private commit_ = 0n;
  private confState: raftpb.ConfState;
  private snapshotIndex: bigint;
  /**
   * Linearizable reads: those waiting for the next ReadIndex round, and the round in flight.
   * Invariant: at most one round in flight (readRounds.size <= 1).
   */
  private readQueue: ReadWaiter[] = [];
  /** The round in flight (at most one), by context (hex). */
  private readonly readRounds = new Map<string, ReadRound>();
  private readonly readContexts: ReadContextSource;
  /** Reads whose ReadIndex came back, waiting for apply to reach it. */
  private readApplied: { index: bigint; waiters: { resolve: () => void }[] }[] = [];
  private leaderWaiters: (() => void)[] = [];
  /**
   * Plain counters the member's metrics read at scrape time (etcd_server_*): leader changes
   * seen (a known leader replacing another or none), proposals that failed (dropped or timed
   * out), and heartbeats the leader sent later than twice the heartbeat interval after the
   * previous one to the same peer (etcd's TimeoutDetector: a leader stalled by a slow disk).
   */
  readonly counters = { leaderChanges: 0, proposalsFailed: 0, heartbeatSendFailures: 0 };
  /** Last heartbeat sent to each peer (monotonic ms), for heartbeatSendFailures. */
  private readonly lastHeartbeat = new Map<bigint, number>();
  private readonly sender: MessageSender;
  private readonly clock: Clock;
  /** The WAL is waiting for space for a write (the Ready loop waits in persist). */
  private storageWaiting = false;

  constructor(private readonly o: RaftConsensusOptions) {
    this.sender = o.sender;
    this.clock = o.clock;
    this.confState = o.confState;
    this.snapshotIndex = o.snapshotIndex;
    // A restart reports the term and commit it recovered until a Ready changes them (Status and
    // response headers showed term 0 on a restarted member that had nothing new to persist).
    const { hardState } = o.storage.initialState();
    this.term_ = hardState.term;
    this.commit_ = hardState.commit;
    this.readContexts = o.readContexts ?? new ReadContexts(o.memberId, o.readNonce ?? o.random.bytes(8));
    this.node = new RawNode({
      id: o.memberId,
      electionTick: o.electionTicks,
      heartbeatTick: 1,
      storage: o.storage,
      applied: o.snapshotIndex,
      maxSizePerMsg,
      maxInflightMsgs,
      checkQuorum: true,
      preVote: o.preVote ?? true,
      random: seededRandom(o.seed ?? Math.floor(o.random.next() * 0x1_0000_0000)),
    });
    if (o.bootstrapPeers) this.node.bootstrap(o.bootstrapPeers);
  }

  /**
   * A cluster of one needs nobody's vote: campaign at once instead of after an election timeout.
   * Checked at start and after a Ready that applied a conf change: a member restarted before its
   * first snapshot learns its configuration only when the log's conf changes are applied again,
   * after start (without this its first election waited a whole election timeout).
   */
  private campaignIfAlone(): void {
    if (this.lead !== 0n) return;
    const voters = this.node.status().config.voters.ids();
    if (voters.size !== 1 || !voters.has(this.o.memberId)) return;
    this.node.campaign();
    this.kick();
  }

  async start(): Promise<void> {
    this.campaignIfAlone();
    this.ticker = this.clock.setInterval(() => {
      this.node.tick();
      this.kick();
    }, this.o.heartbeatMs);
    this.kick();
  }

  /**
   * Ticks raft `ticks` times at once (etcd's advanceTicks): the start-up fast-forward of
   * --initial-election-tick-advance, so a member with connected peers and no leader campaigns
   * within a few ticks instead of a whole election timeout.
   */
  advanceTicks(ticks: number): void {
    for (let i = 0; i < ticks; i++) this.node.tick();
    this.kick();
  }

  leader(): bigint {
    return this.lead;
  }
  /** Index of the newest snapshot whose WAL marker is durable (the one a restart opens at). */
  snapshotIndexDurable(): bigint {
    return this.snapshotIndex;
  }
  term(): bigint {
    return this.term_;
  }
  commitIndex(): bigint {
    return this.commit_;
  }
  appliedIndex(): bigint {
    return this.o.machine.appliedIndex();
  }
  isLeader(): boolean {
    return this.lead === this.o.memberId;
  }

  /** Messages from peers. */
  step(msgs: raftpb.Message[]): void {
    if (this.stopped) return;
    for (const m of msgs) {
      try {
        this.node.step(m);
      } catch (err) {
        // A message raft refuses in the normal run of things (from a removed peer, a local type)
        // is a debug line; one that breaks raft's invariants (etcd panics, e.g. a commit index
        // past this member's log) leaves the member unable to follow until it is handled, so
        // the operator must see it.
        if (err instanceof RaftPanic)
          this.o.logger.error({ err, type: m.type, from: m.from.toString(16) }, 'raft refused a message that breaks its invariants');
        else this.o.logger.debug({ err, type: m.type, from: m.from.toString(16) }, 'raft step refused a message');
      }
    }
    this.kick();
  }

  reportUnreachable(id: bigint): void {
    this.node.reportUnreachable(id);
  }

  reportSnapshot(id: bigint, ok: boolean): void {
    this.node.reportSnapshot(id, ok ? SnapshotStatus.Finish : SnapshotStatus.Failure);
    this.kick();
  }

  /**
   * etcd's readiness rule for promoting a learner: the leader sees its match index at 90% or more
   * of its own. Only the leader knows; elsewhere false.
   */
  learnerReady(id: bigint): boolean {
    const st = this.node.status();
    const pr = st.progress.get(id);
    const self = st.progress.get(this.o.memberId);
    if (!pr || !self) return false;
    return Number(pr.match) >= 0.9 * Number(self.match);
  }

  transferLeader(to: bigint): void {
    this.node.transferLeader(to);
    this.kick();
  }

  /** Transfers leadership to `to` and waits until it leads (etcd's MoveLeader); Timeout otherwise. */
  async moveLeader(to: bigint, timeoutMs: number): Promise<void> {
    this.transferLeader(to);
    const deadline = this.clock.now() + timeoutMs;
    while (this.lead !== to) {
      // etcd's ErrTimeoutLeaderTransfer, which v3rpc passes on as an unknown error with this text.
      if (this.clock.now() > deadline || this.stopped) throw new Error('etcdserver: request timed out, leader transfer took too long');
      await sleep(this.clock, this.o.heartbeatMs);
    }
  }

  proposeConfChange(cc: raftpb.ConfChange): Promise<ApplyResult> {
    return this.submit(cc.id, () => this.node.proposeConfChange(cc));
  }

  propose(req: etcdserverpb.InternalRaftRequest): Promise<ApplyResult> {
    const data = encodeToBuffer(etcdserverpb.InternalRaftRequest, req);
    if (data.length > this.o.maxRequestBytes) return Promise.reject(new RpcError('RequestTooLarge'));
    // etcd's back-pressure: refuse new work while apply lags far behind commit.
    if (this.commit_ - this.o.machine.appliedIndex() > maxGapBetweenApplyAndCommit) {
      return Promise.reject(new RpcError('TooManyRequests'));
    }
    const id = req.header?.ID ?? 0n;
    return this.submit(id, () => this.node.propose(data), data);
  }

  private async submit(id: bigint, doPropose: () => void, data?: Buffer): Promise<ApplyResult> {
    if (this.stopped) throw new RpcError('Stopped');
    await this.waitLeader();
    return new Promise<ApplyResult>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.waiters.delete(id);
        this.counters.proposalsFailed++;
        reject(new RpcError(this.lead === 0n ? 'TimeoutDueToLeaderFail' : 'Timeout'));
      }, this.o.requestTimeoutMs);
      this.waiters.set(id, { resolve, reject, timer, data });
      try {
        doPropose();
      } catch (err) {
        timer.clear();
        this.waiters.delete(id);
        this.counters.proposalsFailed++;
        // A dropped proposal never entered the log: a definite failure. With a leader known (raft
        // drops proposals during a leader transfer) etcd answers raft's own error, code Unknown,
        // text 'raft proposal dropped'; without one, 'no leader'.
        reject(err === ErrProposalDropped && this.lead === 0n ? new RpcError('NoLeader') : err);
        return;
      }
      this.kick();
    });
  }

  /** Waits (up to two election timeouts) until some member leads; NoLeader otherwise. */
  async waitLeader(): Promise<void> {
    if (this.lead !== 0n) return;
    const wait = 2 * this.o.electionTicks * this.o.heartbeatMs;
    await new Promise<void>((resolve, reject) => {
      const t = this.clock.setTimeout(() => {
        this.leaderWaiters = this.leaderWaiters.filter((f) => f !== done);
        reject(new RpcError('NoLeader'));
      }, wait);
      const done = () => {
        t.clear();
        resolve();
      };
      this.leaderWaiters.push(done);
    });
  }

  /**
   * Linearizable read barrier (ReadIndex): concurrent readers share one round. Resolves once this
   * member has applied everything committed when the round started. As in etcd, one round is in
   * flight at a time: readers that arrive meanwhile wait for the next one (the round in flight may
   * have recorded its index before they arrived), which starts when it ends. So a member sends
   * one ReadIndex request, and the leader one heartbeat round, per batch of readers, however many.
   */
  async readBarrier(): Promise<void> {
    if (this.stopped) throw new RpcError('Stopped');
    if (this.storageWaiting && this.isSoleVoterLeader()) return;
    await this.waitLeader();
    return new Promise<void>((resolve, reject) => {
      this.readQueue.push({ resolve, reject });
      if (this.readQueue.length === 1 && this.readRounds.size === 0) queueMicrotask(() => this.startReadRound());
    });
  }

  /** The WAL started or stopped waiting for space (see the invariant at the top). */
  setStorageWaiting(waiting: boolean): void {
    this.storageWaiting = waiting;
  }

  private isSoleVoterLeader(): boolean {
    if (!this.node.isLeader()) return false;
    const voters = this.node.status().config.voters.ids();
    return voters.size === 1 && voters.has(this.o.memberId);
  }

  private startReadRound(): void {
    if (this.readQueue.length === 0 || this.readRounds.size > 0 || this.stopped) return;
    const waiters = this.readQueue;
    this.readQueue = [];
    const ctx = this.readContexts.next();
    const key = ctx.toString('hex');
    const retryMs = this.o.readIndexRetryMs ?? defaultReadIndexRetryMs;
    const round: ReadRound = {
      ctx,
      waiters,
      // The request or its answer may have been lost (a dropped message, a leader that stepped
      // down with the request queued, no leader known yet): ask again with the same context.
      retry: this.clock.setInterval(() => {
        this.o.logger.warn({ ctx: key, retryMs }, 'waiting for ReadIndex response took too long, retrying');
        this.sendReadIndex(key);
      }, retryMs),
      deadline: this.clock.setTimeout(
        () => this.failReadRound(key, new RpcError(this.lead === 0n ? 'NoLeader' : 'Timeout')),
        this.o.requestTimeoutMs,
      ),
    };
    this.readRounds.set(key, round);
    this.sendReadIndex(key);
  }

  /** Asks raft for a read index for the round `key` (again, on a retry). */
  private sendReadIndex(key: string): void {
    const round = this.readRounds.get(key);
    if (!round || this.stopped) return;
    try {
      this.node.readIndex(round.ctx);
    } catch (err) {
      this.failReadRound(key, err);
      return;
    }
    this.kick();
  }

  /** Removes the round `key` from flight and stops its timers; undefined if it was not in flight. */
  private takeReadRound(key: string): ReadRound | undefined {
    const round = this.readRounds.get(key);
    if (!round) return undefined;
    this.readRounds.delete(key);
    round.retry.clear();
    round.deadline.clear();
    // The readers that arrived during this round get the next one.
    if (this.readQueue.length > 0) queueMicrotask(() => this.startReadRound());
    return round;
  }

  /** The round `key` got its read index: its readers wait for apply to reach it. */
  private answerReadRound(key: string, index: bigint): void {
    const round = this.takeReadRound(key);
    if (round) this.readApplied.push({ index, waiters: round.waiters });
  }

  private failReadRound(key: string, err: unknown): void {
    const round = this.takeReadRound(key);
    if (round) for (const w of round.waiters) w.reject(err);
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    this.loopRun = this.loop();
  }

  /**
   * Runs Readies until there are none and no kick came meanwhile. Invariant: `running` turns
   * false in the same synchronous step as the last check of `again`, so a kick is never lost
   * between the loop's end and its bookkeeping (it would wait for the next tick).
   */
  private async loop(): Promise<void> {
    try {
      do {
        this.again = false;
        while (!this.stopped && this.node.hasReady()) {
          await this.handleReady(this.node.ready());
        }
      } while (this.again && !this.stopped);
    } catch (err) {
      if (this.stopped) {
        // stop() closed the WAL under a persist that waited for space: nothing of it was
        // acknowledged, and nothing after it runs.
        this.o.logger.warn({ err }, 'raft loop ended by stop');
        return;
      }
      this.o.logger.fatal({ err }, 'raft loop failed');
      this.stopped = true;
      this.o.onFatal(err);
    } finally {
      this.running = false;
    }
  }

  private async handleReady(rd: Ready): Promise<void> {
    const { wal, storage, machine, logger } = this.o;
    if (rd.softState) {
      const lead = rd.softState.lead;
      if (lead !== this.lead) {
        logger.info(
          { leader: lead.toString(16), term: this.node.basicStatus().hardState.term.toString() },
          lead === 0n ? 'lost leader' : 'leader elected',
        );
        if (lead !== 0n) this.counters.leaderChanges++;
        this.lastHeartbeat.clear(); // a new term's heartbeats are not late for an old one's
        this.lead = lead;
        machine.onLeaderChange(lead, rd.softState.raftState === RaftState.Leader);
        if (lead !== 0n) for (const f of this.leaderWaiters.splice(0)) f();
        // Rounds sent to the old leader (or while none was known) are lost: ask the new one.
        if (lead !== 0n) for (const key of this.readRounds.keys()) this.sendReadIndex(key);
      }
    }
    if (rd.hardState) {
      this.term_ = rd.hardState.term;
      this.commit_ = rd.hardState.commit;
    }
    // A leader sends before persisting: its appends are replicated while it writes its own copy
    // (Raft thesis §10.2.1; etcd does the same). A follower must persist first.
    const isLeader = this.node.isLeader();
    if (isLeader && failpointsArmed()) await failpoint('raftBeforeLeaderSend');
    if (isLeader) this.send(rd.messages);

    // 1. Persist. A received snapshot: its state first (the backend swapped in, durable), then
    // the raft snapshot that points at it (the WAL's replay starts from it), then hard state and
    // entries. Invariant: a snapshot in the WAL never points past what the backend holds — a
    // crash between the two steps leaves a backend ahead of the log, which replay skips through.
    if (rd.snapshot) {
      if (failpointsArmed()) await failpoint('raftBeforeApplySnap');
      await machine.installSnapshot(rd.snapshot);
      await this.o.snapshots.save(rd.snapshot);
      const md = rd.snapshot.metadata!;
      await wal.saveSnapshot({ index: md.index, term: md.term });
      await wal.release(md.index); // the purge loop may delete what it covers (etcd's Release)
    }
    let lazySave: Promise<void> | undefined;
    if (rd.hardState || rd.entries.length > 0) {
      if (failpointsArmed()) await failpoint('raftBeforeSave');
      // With a snapshot the hard state is synced even when only its commit moved (raft's mustSync
      // says lazy): a restart ignores a snapshot above the durable commit (Wal.validSnapshots), so
      // a lost commit would bring the member back below the snapshot it acknowledged, and the
      // leader's next heartbeat would carry a commit past its log (etcd #10219; found by the
      // whole-cluster simulation, tools/sim).
      const sync = rd.mustSync || rd.snapshot !== undefined;
      const saving = wal.save(rd.hardState, rd.entries, { sync });
      // A lazy save (only the commit index moved: no entries, term or vote) need not land before
      // this Ready's messages go out or its entries apply — raft recovers a lost commit index, and
      // etcd applies while it persists — so it overlaps with apply and is awaited before advance.
      // Saves land in call order (the WAL's single writer), failpoints keep the strict order.
      if (sync || failpointsArmed()) await saving;
      else {
        lazySave = saving;
        saving.catch(() => undefined); // awaited below; if apply throws first, the loop fails anyway
      }
      if (failpointsArmed()) await failpoint('raftAfterSave');
    }
    if (rd.snapshot) {
      storage.applySnapshot(rd.snapshot);
      this.confState = rd.snapshot.metadata!.confState!;
      this.snapshotIndex = rd.snapshot.metadata!.index;
    }
    if (rd.hardState) storage.setHardState(rd.hardState);
    if (rd.entries.length > 0) storage.append(rd.entries);

    // 2. Send (after persisting, unless sent above as leader).
    if (!isLeader && failpointsArmed()) await failpoint('raftBeforeFollowerSend');
    if (!isLeader) this.send(rd.messages);

    // 3. Apply committed entries in order.
    if (failpointsArmed()) await failpoint('raftBeforeApply');
    await this.apply(rd.committedEntries);

    // 4. Read states: release their readers once applied reaches the read index.
    // A read state for a round no longer in flight answers a re-sent request twice, or a round
    // that timed out: nothing waits for it.
    for (const rs of rd.readStates) this.answerReadRound(rs.requestCtx.toString('hex'), rs.index);
    this.releaseReads();

    if (lazySave) await lazySave;
    this.node.advance(rd);
    // raft refuses to campaign while committed conf changes are unapplied: check after advance
    if (this.confChangeApplied) {
      this.confChangeApplied = false;
      this.campaignIfAlone();
    }
    await this.maybeSnapshot();
  }

  private send(messages: raftpb.Message[]): void {
    const plain: raftpb.Message[] = [];
    for (const m of messages) {
      if (m.type === raftpb.MessageType.MsgSnap) this.sendSnapshot(m);
      else plain.push(m);
      if (m.type === raftpb.MessageType.MsgHeartbeat) this.observeHeartbeat(m.to);
    }
    if (plain.length > 0) this.sender.send(plain);
  }

  private observeHeartbeat(to: bigint): void {
    const now = this.clock.now();
    const last = this.lastHeartbeat.get(to);
    this.lastHeartbeat.set(to, now);
    if (last !== undefined && now - last > 2 * this.o.heartbeatMs) this.counters.heartbeatSendFailures++;
  }

  /** Proposals waiting to be applied here (etcd_server_proposals_pending). */
  pendingProposals(): number {
    return this.waiters.size;
  }

  private releaseReads(): void {
    const applied = this.o.machine.appliedIndex();
    this.readApplied = this.readApplied.filter((r) => {
      if (r.index > applied) return true;
      for (const w of r.waiters) w.resolve();
      return false;
    });
  }

  private async apply(entries: raftpb.Entry[]): Promise<void> {
    let group: GroupEntry[] = [];
    const ids = new Map<bigint, bigint>(); // entry index → request id
    const dataOf = new Map<bigint, Buffer>(); // entry index → entry bytes (entries with an id)
    const applied = this.o.machine.appliedIndex();
    const flush = async () => {
      if (group.length === 0) return;
      const g = group;
      group = [];
      const results = await this.o.machine.applyEntries(g);
      g.forEach((e, i) => {
        const id = ids.get(e.index);
        if (id === undefined) return;
        const w = this.waiters.get(id);
        if (!w) return;
        // Same id, other bytes: another member's request, not the one waited for here.
        if (w.data !== undefined && !w.data.equals(dataOf.get(e.index) ?? Buffer.alloc(0))) return;
        this.waiters.delete(id);
        w.timer.clear();
        w.resolve(results[i] ?? {});
      });
    };
    for (const e of entries) {
      if (e.Type === raftpb.EntryType.EntryNormal) {
        if (e.Data.length === 0) {
          group.push({ index: e.Index }); // a new leader's empty entry
          continue;
        }
        if (e.Index <= applied && this.waiters.size === 0) {
          // Already in the backend (a restart replays the log from the last snapshot; applyGroup
          // skips it): not worth decoding, since nobody here waits for its answer.
          group.push({ index: e.Index });
          continue;
        }
        const req = decodeCommitted(e);
        const id = req.header?.ID ?? 0n;
        if (id !== 0n) {
          ids.set(e.Index, id);
          dataOf.set(e.Index, e.Data);
        }
        group.push({ index: e.Index, req });
        continue;
      }
      await flush();
      const ccv2 = entryConfChangeV2(e);
      if (!ccv2) continue;
      this.confState = this.node.applyConfChange(ccv2);
      this.confChangeApplied = true;
      const cc = e.Type === raftpb.EntryType.EntryConfChange ? raftpb.ConfChange.decode(e.Data) : undefined;
      if (cc) {
        if (e.Index > this.o.machine.appliedIndex()) await this.o.machine.applyConfChange(e.Index, cc);
        const w = this.waiters.get(cc.id);
        if (w) {
          this.waiters.delete(cc.id);
          w.timer.clear();
          w.resolve({});
        }
        if (cc.type === raftpb.ConfChangeType.ConfChangeRemoveNode && cc.nodeId === this.o.memberId) {
          this.o.machine.onRemoved();
        }
      }
    }
    await flush();
  }

  /** Sends a snapshot of the current state, labelled with the applied index (etcd's merged snapshot). */
  private sendSnapshot(m: raftpb.Message): void {
    const applied = this.o.machine.appliedIndex();
    const term = this.o.storage.term(applied);
    const msg: raftpb.Message = {
      ...m,
      snapshot: { data: Buffer.alloc(0), metadata: { index: applied, term, confState: this.confState } },
    };
    // The backend is read when the transport starts streaming, so it may already hold entries
    // past `applied`: harmless, since the receiver skips every entry at or below the consistent
    // index the backend carries (and still applies their conf changes to raft's configuration).
    this.sender.sendSnapshot(msg, () => this.o.machine.snapshotData());
  }

  private async maybeSnapshot(): Promise<void> {
    const applied = this.o.machine.appliedIndex();
    if (applied - this.snapshotIndex < BigInt(this.o.snapshotCount)) return;
    // A backend installed from a leader's snapshot may be ahead of this log; snapshot once the
    // log has caught up with it.
    if (applied > this.o.storage.lastIndex()) return;
    // Invariant: the backend holds every entry up to a snapshot durably before the snapshot is
    // saved and the WAL behind it released (its batches are not synced one by one).
    await this.o.machine.persistApplied();
    const snap = this.o.storage.createSnapshot(applied, this.confState, Buffer.alloc(0));
    await this.o.snapshots.save(snap);
    await this.o.wal.saveSnapshot({ index: applied, term: snap.metadata!.term });
    this.snapshotIndex = applied;
    const keep = BigInt(this.o.snapshotCatchUpEntries);
    const compactTo = applied > keep ? applied - keep : 0n;
    if (compactTo > this.o.storage.firstIndex()) this.o.storage.compact(compactTo);
    // Released segments and old snapshot files are deleted by the purge loop (--max-wals,
    // --max-snapshots; consensus/purge.ts).
    await this.o.wal.release(applied);
    this.o.logger.info({ index: applied.toString() }, 'saved snapshot and compacted the raft log');
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    // Hand leadership to a caught-up peer first, as etcd does on a clean stop.
    if (this.isLeader()) {
      const st = this.node.status();
      let best: bigint | undefined;
      let bestMatch = -1n;
      for (const [id, pr] of st.progress) {
        if (id === this.o.memberId || pr.isLearner) continue;
        if (pr.match > bestMatch) {
          best = id;
          bestMatch = pr.match;
        }
      }
      if (best !== undefined) {
        this.node.transferLeader(best);
        this.kick();
        const deadline = this.clock.now() + this.o.electionTicks * this.o.heartbeatMs;
        while (this.isLeader() && this.clock.now() < deadline) await sleep(this.clock, this.o.heartbeatMs);
      }
    }
    this.stopped = true;
    this.ticker?.clear();
    // A persist waiting for space would hold the loop (and this stop) until space returns:
    // closing the WAL makes it give up, its saves reject and the loop ends.
    if (this.storageWaiting) void this.o.wal.close().catch(() => undefined);
    // The loop sees `stopped` at its next step; wait for the run in progress (no timer: a
    // simulated clock that nobody advances must not hold a stop up).
    while (this.running) await this.loopRun;
    for (const [, w] of this.waiters) {
      w.timer.clear();
      w.reject(new RpcError('Stopped'));
    }
    this.waiters.clear();
    for (const key of [...this.readRounds.keys()]) this.failReadRound(key, new RpcError('Stopped'));
    for (const w of this.readQueue) w.reject(new RpcError('Stopped'));
    this.readQueue = [];
    await this.o.wal.close();
  }
}

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
//   id is applied there (on a leader change a proposal may be lost: it then times out).
// - A full disk: the WAL keeps a write refused for lack of space and retries it (saves stay
//   pending), so a Ready whose entries are not persisted is never advanced, applied from or
//   answered; the loop just waits in persist. Meanwhile (storageWaiting) a sole voter that leads
//   answers linearizable reads from its applied state: no other leader can exist, and every
//   write it acknowledged is applied.
import { etcdserverpb, raftpb } from '@kv/api';
import {
  ErrProposalDropped,
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
import type { Consensus } from './consensus.js';

/** What the Ready loop needs from the rest of the member. */
export interface StateMachine {
  /** Last index whose effects the backend holds. */
  appliedIndex(): bigint;
  /** Applies normal entries (a commit group) and returns one result per entry. */
  applyEntries(entries: GroupEntry[]): Promise<(ApplyResult | undefined)[]>;
  /** Applies a committed conf change at `index` (membership persisted with the consistent index). */
  applyConfChange(index: bigint, cc: raftpb.ConfChange): Promise<void>;
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
  snapshotCount: number;
  /** Entries kept behind a snapshot so that slow followers can catch up without one. */
  snapshotCatchUpEntries: number;
  maxRequestBytes: number;
  requestTimeoutMs: number;
  logger: Logger;
  machine: StateMachine;
  /** Where messages go until attachSender() sets the transport. */
  sender: MessageSender;
  onFatal: (err: unknown) => void;
  /** Seed of the election-timeout randomness (defaults to the member id). */
  seed?: number;
}

/** etcd's maxGapBetweenApplyAndCommitIndex: beyond it, proposals get 'too many requests'. */
const maxGapBetweenApplyAndCommit = 5000n;
/** etcd's maxInflightMsgs and maxSizePerMsg. */
const maxInflightMsgs = 4096 / 8;
const maxSizePerMsg = 1024n * 1024n;

interface Waiter {
  resolve: (r: ApplyResult) => void;
  reject: (err: unknown) => void;
  timer: NodeJS.Timeout;
}

export class RaftConsensus implements Consensus {
  private readonly node: RawNode;
  private readonly waiters = new Map<bigint, Waiter>();
  private running = false;
  private again = false;
  private stopped = false;
  private ticker?: NodeJS.Timeout;
  private lead = 0n;
  private term_ = 0n;
  private commit_ = 0n;
  private confState: raftpb.ConfState;
  private snapshotIndex: bigint;
  /** Linearizable reads: those waiting for the next ReadIndex round, and the rounds in flight. */
  private readQueue: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  private readRounds = new Map<string, { resolve: () => void; reject: (e: unknown) => void }[]>();
  private readSeq = 0n;
  /** Reads whose ReadIndex came back, waiting for apply to reach it. */
  private readApplied: { index: bigint; waiters: { resolve: () => void }[] }[] = [];
  private leaderWaiters: (() => void)[] = [];
  private sender: MessageSender;
  /** The WAL is waiting for space for a write (the Ready loop waits in persist). */
  private storageWaiting = false;

  constructor(private readonly o: RaftConsensusOptions) {
    this.sender = o.sender;
    this.confState = o.confState;
    this.snapshotIndex = o.snapshotIndex;
    this.node = new RawNode({
      id: o.memberId,
      electionTick: o.electionTicks,
      heartbeatTick: 1,
      storage: o.storage,
      applied: o.snapshotIndex,
      maxSizePerMsg,
      maxInflightMsgs,
      checkQuorum: true,
      preVote: true,
      random: seededRandom(o.seed ?? Number(o.memberId & 0xffff_ffffn)),
    });
    if (o.bootstrapPeers) this.node.bootstrap(o.bootstrapPeers);
  }

  /** Sets where outgoing messages go (the server's peer transport); before start(). */
  attachSender(sender: MessageSender): void {
    this.sender = sender;
  }

  async start(): Promise<void> {
    // A cluster of one needs nobody's vote: campaign at once instead of after an election timeout.
    const voters = this.node.status().config.voters.ids();
    if (voters.size === 1 && voters.has(this.o.memberId)) this.node.campaign();
    this.ticker = setInterval(() => {
      this.node.tick();
      this.kick();
    }, this.o.heartbeatMs);
    this.kick();
  }

  leader(): bigint {
    return this.lead;
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
        this.o.logger.debug({ err, type: m.type, from: m.from.toString(16) }, 'raft step refused a message');
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
    const deadline = Date.now() + timeoutMs;
    while (this.lead !== to) {
      // etcd's ErrTimeoutLeaderTransfer, which v3rpc passes on as an unknown error with this text.
      if (Date.now() > deadline || this.stopped) throw new Error('etcdserver: request timed out, leader transfer took too long');
      await new Promise((r) => setTimeout(r, this.o.heartbeatMs));
    }
  }

  proposeConfChange(cc: raftpb.ConfChange): Promise<ApplyResult> {
    return this.submit(cc.id, () => this.node.proposeConfChange(cc));
  }

  propose(req: etcdserverpb.InternalRaftRequest): Promise<ApplyResult> {
    const data = Buffer.from(etcdserverpb.InternalRaftRequest.encode(req).finish());
    if (data.length > this.o.maxRequestBytes) return Promise.reject(new RpcError('RequestTooLarge'));
    // etcd's back-pressure: refuse new work while apply lags far behind commit.
    if (this.commit_ - this.o.machine.appliedIndex() > maxGapBetweenApplyAndCommit) {
      return Promise.reject(new RpcError('TooManyRequests'));
    }
    const id = req.header?.ID ?? 0n;
    return this.submit(id, () => this.node.propose(data));
  }

  private async submit(id: bigint, doPropose: () => void): Promise<ApplyResult> {
    if (this.stopped) throw new RpcError('Stopped');
    await this.waitLeader();
    return new Promise<ApplyResult>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(id);
        reject(new RpcError(this.lead === 0n ? 'TimeoutDueToLeaderFail' : 'Timeout'));
      }, this.o.requestTimeoutMs);
      this.waiters.set(id, { resolve, reject, timer });
      try {
        doPropose();
      } catch (err) {
        clearTimeout(timer);
        this.waiters.delete(id);
        reject(err === ErrProposalDropped ? new RpcError(this.lead === 0n ? 'NoLeader' : 'Timeout') : err);
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
      const t = setTimeout(() => {
        this.leaderWaiters = this.leaderWaiters.filter((f) => f !== done);
        reject(new RpcError('NoLeader'));
      }, wait);
      const done = () => {
        clearTimeout(t);
        resolve();
      };
      this.leaderWaiters.push(done);
    });
  }

  /**
   * Linearizable read barrier (ReadIndex): concurrent readers share one round. Resolves once this
   * member has applied everything committed when the round started.
   */
  async readBarrier(): Promise<void> {
    if (this.stopped) throw new RpcError('Stopped');
    if (this.storageWaiting && this.isSoleVoterLeader()) return;
    await this.waitLeader();
    return new Promise<void>((resolve, reject) => {
      this.readQueue.push({ resolve, reject });
      if (this.readQueue.length === 1) queueMicrotask(() => this.startReadRound());
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
    if (this.readQueue.length === 0) return;
    const waiters = this.readQueue;
    this.readQueue = [];
    this.readSeq += 1n;
    const ctx = Buffer.alloc(8);
    ctx.writeBigUInt64BE(this.readSeq);
    const key = ctx.toString('hex');
    this.readRounds.set(key, waiters);
    const timer = setTimeout(() => {
      const ws = this.readRounds.get(key);
      if (!ws) return;
      this.readRounds.delete(key);
      for (const w of ws) w.reject(new RpcError(this.lead === 0n ? 'NoLeader' : 'Timeout'));
    }, this.o.requestTimeoutMs);
    timer.unref();
    try {
      this.node.readIndex(ctx);
    } catch (err) {
      this.readRounds.delete(key);
      for (const w of waiters) w.reject(err);
      return;
    }
    this.kick();
  }

  private kick(): void {
    if (this.stopped) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.loop()
      .catch((err) => {
        if (this.stopped) {
          // stop() closed the WAL under a persist that waited for space: nothing of it was
          // acknowledged, and nothing after it runs.
          this.o.logger.warn({ err }, 'raft loop ended by stop');
          return;
        }
        this.o.logger.fatal({ err }, 'raft loop failed');
        this.stopped = true;
        this.o.onFatal(err);
      })
      .finally(() => {
        this.running = false;
      });
  }

  private async loop(): Promise<void> {
    do {
      this.again = false;
      while (!this.stopped && this.node.hasReady()) {
        await this.handleReady(this.node.ready());
      }
    } while (this.again && !this.stopped);
  }

  private async handleReady(rd: Ready): Promise<void> {
    const { wal, storage, machine, logger } = this.o;
    if (rd.softState) {
      const lead = rd.softState.lead;
      if (lead !== this.lead) {
        logger.info({ leader: lead.toString(16), term: this.node.basicStatus().hardState.term.toString() }, lead === 0n ? 'lost leader' : 'leader elected');
        this.lead = lead;
        machine.onLeaderChange(lead, rd.softState.raftState === RaftState.Leader);
        if (lead !== 0n) for (const f of this.leaderWaiters.splice(0)) f();
      }
    }
    if (rd.hardState) {
      this.term_ = rd.hardState.term;
      this.commit_ = rd.hardState.commit;
    }
    // A leader sends before persisting: its appends are replicated while it writes its own copy
    // (Raft thesis §10.2.1; etcd does the same). A follower must persist first.
    const isLeader = this.node.isLeader();
    if (isLeader) this.send(rd.messages);

    // 1. Persist: snapshot first (the WAL's replay starts from it), then hard state and entries.
    if (rd.snapshot) {
      await this.o.snapshots.save(rd.snapshot);
      const md = rd.snapshot.metadata!;
      await wal.saveSnapshot({ index: md.index, term: md.term });
    }
    if (rd.hardState || rd.entries.length > 0) {
      await wal.save(rd.hardState, rd.entries, { sync: rd.mustSync });
    }
    if (rd.snapshot) {
      storage.applySnapshot(rd.snapshot);
      await machine.installSnapshot(rd.snapshot);
      this.confState = rd.snapshot.metadata!.confState!;
      this.snapshotIndex = rd.snapshot.metadata!.index;
    }
    if (rd.hardState) storage.setHardState(rd.hardState);
    if (rd.entries.length > 0) storage.append(rd.entries);

    // 2. Send (after persisting, unless sent above as leader).
    if (!isLeader) this.send(rd.messages);

    // 3. Apply committed entries in order.
    await this.apply(rd.committedEntries);

    // 4. Read states: release their readers once applied reaches the read index.
    for (const rs of rd.readStates) {
      const key = rs.requestCtx.toString('hex');
      const ws = this.readRounds.get(key);
      if (!ws) continue;
      this.readRounds.delete(key);
      this.readApplied.push({ index: rs.index, waiters: ws });
    }
    this.releaseReads();

    this.node.advance(rd);
    await this.maybeSnapshot();
  }

  private send(messages: raftpb.Message[]): void {
    const plain: raftpb.Message[] = [];
    for (const m of messages) {
      if (m.type === raftpb.MessageType.MsgSnap) this.sendSnapshot(m);
      else plain.push(m);
    }
    if (plain.length > 0) this.sender.send(plain);
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
        this.waiters.delete(id);
        clearTimeout(w.timer);
        w.resolve(results[i] ?? {});
      });
    };
    for (const e of entries) {
      if (e.Type === raftpb.EntryType.EntryNormal) {
        if (e.Data.length === 0) {
          group.push({ index: e.Index }); // a new leader's empty entry
          continue;
        }
        const req = etcdserverpb.InternalRaftRequest.decode(e.Data);
        const id = req.header?.ID ?? 0n;
        if (id !== 0n) ids.set(e.Index, id);
        group.push({ index: e.Index, req });
        continue;
      }
      await flush();
      const ccv2 = entryConfChangeV2(e);
      if (!ccv2) continue;
      this.confState = this.node.applyConfChange(ccv2);
      const cc = e.Type === raftpb.EntryType.EntryConfChange ? raftpb.ConfChange.decode(e.Data) : undefined;
      if (cc) {
        if (e.Index > this.o.machine.appliedIndex()) await this.o.machine.applyConfChange(e.Index, cc);
        const w = this.waiters.get(cc.id);
        if (w) {
          this.waiters.delete(cc.id);
          clearTimeout(w.timer);
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
    const snap = this.o.storage.createSnapshot(applied, this.confState, Buffer.alloc(0));
    await this.o.snapshots.save(snap);
    await this.o.wal.saveSnapshot({ index: applied, term: snap.metadata!.term });
    this.snapshotIndex = applied;
    const keep = BigInt(this.o.snapshotCatchUpEntries);
    const compactTo = applied > keep ? applied - keep : 0n;
    if (compactTo > this.o.storage.firstIndex()) this.o.storage.compact(compactTo);
    await this.o.wal.release(applied);
    await this.o.snapshots.purge(5);
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
        const deadline = Date.now() + this.o.electionTicks * this.o.heartbeatMs;
        while (this.isLeader() && Date.now() < deadline) await new Promise((r) => setTimeout(r, this.o.heartbeatMs));
      }
    }
    this.stopped = true;
    clearInterval(this.ticker);
    // A persist waiting for space would hold the loop (and this stop) until space returns:
    // closing the WAL makes it give up, its saves reject and the loop ends.
    if (this.storageWaiting) void this.o.wal.close().catch(() => undefined);
    while (this.running) await new Promise((r) => setTimeout(r, 5));
    for (const [, w] of this.waiters) {
      clearTimeout(w.timer);
      w.reject(new RpcError('Stopped'));
    }
    this.waiters.clear();
    for (const ws of this.readRounds.values()) for (const w of ws) w.reject(new RpcError('Stopped'));
    for (const w of this.readQueue) w.reject(new RpcError('Stopped'));
    await this.o.wal.close();
  }
}

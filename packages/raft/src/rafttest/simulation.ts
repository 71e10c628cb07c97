// A seeded whole-cluster simulation of Raft. Nodes are RawNodes driven only through the public
// Ready/advance contract by a seeded scheduler over a simulated network and simulated disks:
//
// - network: message loss, duplication, reordering and delay; partitions (two sides, one node
//   isolated, one-way link cuts) that change and heal; unreachable/snapshot reports to senders;
// - disks (SimDisk): what a Ready hands over is durable only once the node persisted it; crashes
//   lose everything else (raft's unstable state, a Ready taken but not yet written, a torn
//   write's suffix, lazily written commit-only hard states); messages are sent only after their
//   Ready was persisted (a leader's, in the asynchronous mode, while it persists);
// - the application loop: each Ready handled to completion at once, or (half the seeds) in stages
//   spread over steps while messages and ticks keep reaching the node, as etcd's Node does;
// - nodes: crashes at any point of Ready handling or between steps, restarts that rebuild the
//   RawNode from the durable state (snapshot, entries, hard state) and replay the state machine;
//   log compaction with snapshots, snapshot transfer and install; clock skew (ticks are skipped);
// - membership: add voters and learners, promote learners, demote and remove voters (the leader
//   too), joint consensus (ConfChangeV2, auto-leave, implicit and explicit transitions), proposed
//   through proposeConfChange and applied with applyConfChange; removed nodes stop for good once
//   every member applied their removal; leader transfers;
// - linearizable reads: leader and followers call readIndex in the same step, with contexts built
//   as kv's server builds them (member id, per-start nonce, sequence; or, to show what that fixes,
//   the old per-start counter that collides between nodes and restarts), re-sent every few steps
//   until answered as the server does (or not, readRetry false).
//
// SafetyChecker checks Election Safety, Log Matching, commit agreement, Leader Completeness and
// State Machine Safety on every step. Every read state is checked against the read it answers:
// its index must cover everything committed when the read was issued (ReadIndex linearizability).
// At the end the network heals, faults stop, every node not stopped for good restarts, and a new
// proposal must be applied by every member of the latest configuration within a bounded number
// of steps; then every member issues reads at once, and every read a member of that configuration
// still waits for (from the chaos phase too, when reads are retried) must be answered within the
// same bound (liveness after healing).
//
// Deterministic: one seeded SimRng drives every choice; no clock, no I/O.

import { raftpb } from '@kv/api';
import { ErrProposalDropped, ErrSnapshotTemporarilyUnavailable, ErrStepPeerNotFound } from '../errors.js';
import type { Config } from '../raft.js';
import { seededRandom } from '../rand.js';
import { RawNode, SnapshotStatus, type Ready } from '../rawnode.js';
import { noLimit, RaftState } from '../state.js';
import type { InitialState, Storage } from '../storage.js';
import { progressMapString } from '../tracker/index.js';
import { describeMessage, emptyConfState, entryConfChangeV2, type ConfChangeI } from '../util.js';
import { digestEntry, SafetyChecker, SafetyViolation } from './sim_checker.js';
import { SimDisk } from './sim_disk.js';
import { SimRng } from './sim_rng.js';

const MT = raftpb.MessageType;
const CCT = raftpb.ConfChangeType;
const Transition = raftpb.ConfChangeTransition;

export interface SimulationOptions {
  seed: number;
  /** Initial voters (3 or 5 in CI). Up to 4 more nodes may join through membership changes. */
  nodes: number;
  /** Steps with faults (default 250). */
  chaosSteps?: number;
  /** Bound on the steps after healing until the final proposal must be applied (default 600). */
  healSteps?: number;
  /** Receives a line per notable event (crashes, elections, conf changes, ...). */
  trace?: (line: string) => void;
  /** Also trace every delivered message (verbose). */
  traceMessages?: boolean;
  /**
   * The application handles each Ready in stages spread over steps (take, persist, then send,
   * apply and advance) while messages keep being stepped into the node, as etcd's Node and an
   * asynchronous application loop do; a leader sends its messages before persisting (thesis
   * §10.2.1). Otherwise each Ready is handled to completion at once. Default: drawn from the seed
   * (half the seeds).
   */
  asyncReady?: boolean;
  /**
   * How read contexts are made: 'unique' (default; member id, a nonce per start and a sequence,
   * as kv's server does) or 'perStartCounter' (a counter from 1 at every start, what the server
   * did before: it collides between nodes and across restarts).
   */
  readContexts?: 'unique' | 'perStartCounter';
  /** Re-send a read's request every READ_RETRY_STEPS until answered (default true, as kv does). */
  readRetry?: boolean;
}

/** What happened in one run (summed over seeds by the tests to prove the faults occur). */
export interface SimulationStats {
  /** 1 if this run handled Readies asynchronously (see SimulationOptions.asyncReady). */
  asyncReady: number;
  steps: number;
  leaderTerms: number;
  proposalsApplied: number;
  crashes: number;
  tornWrites: number;
  lostLazyHardStates: number;
  restarts: number;
  partitions: number;
  dropped: number;
  duplicated: number;
  delayed: number;
  compactions: number;
  snapshotsSent: number;
  snapshotsInstalled: number;
  confChangesApplied: number;
  jointEntered: number;
  jointLeft: number;
  learnersAdded: number;
  votersAdded: number;
  learnersPromoted: number;
  votersDemoted: number;
  votersRemoved: number;
  leaderRemoved: number;
  transfersRequested: number;
  transferElections: number;
  readsIssued: number;
  readsAnswered: number;
  readRetries: number;
  healSteps: number;
}

export interface SimulationResult {
  seed: number;
  nodes: number;
  stats: SimulationStats;
  /** Members of the final configuration that applied the final proposal. */
  finalMembers: bigint[];
}

/** A failed run: the message names the seed and how to rerun just it. */
export class SimulationFailure extends Error {
  constructor(
    readonly seed: number,
    readonly nodes: number,
    readonly step: number,
    cause: unknown,
  ) {
    const what = cause instanceof Error ? `${cause.name}: ${cause.message}` : String(cause);
    super(
      `raft simulation failed (seed=${seed}, nodes=${nodes}, step=${step}): ${what}\n` +
        `  reproduce: RAFT_SIM_SEED=${seed} pnpm --filter @kv/raft exec vitest run src/rafttest/simulation_${nodes}\n` +
        `  (add RAFT_SIM_TRACE=1 to print the event trace, RAFT_SIM_TRACE=msgs to add every message)`,
      { cause },
    );
    this.name = 'SimulationFailure';
  }
}

/** Per-seed raft configuration knobs. */
interface Variant {
  asyncReady: boolean;
  preVote: boolean;
  checkQuorum: boolean;
  stepDownOnRemoval: boolean;
  heartbeatTick: number;
  maxSizePerMsg: bigint;
  maxInflightMsgs: number;
  maxCommittedSizePerReady: bigint;
}

/** A linearizable read a node waits for: its context and what was committed when it began. */
interface PendingRead {
  ctx: Buffer;
  issuedAt: number;
  lastSent: number;
  /** Highest index known committed anywhere when the read was issued. */
  committedAtIssue: bigint;
}

interface SimNode {
  readonly id: bigint;
  readonly disk: SimDisk;
  /** Running node; undefined while down or retired. */
  rn: RawNode | undefined;
  /** Stopped for good: it was removed and every member of the configuration applied that. */
  retired: boolean;
  /** Volatile state machine: applied index/term, digest of the applied prefix, configuration. */
  appliedIndex: bigint;
  appliedTerm: bigint;
  digest: number;
  confState: raftpb.ConfState;
  /** asyncReady: the Ready taken and not yet advanced, and how far its handling got. */
  pending: { rd: Ready; persisted: boolean; sent: boolean } | undefined;
  /** Commit-agreement watermark (over the durable log). */
  checkedCommit: bigint;
  /** Reads of the running incarnation waiting for their read state, by context (latin1). */
  reads: Map<string, PendingRead>;
  /** Read contexts of this start: nonce and sequence. */
  readNonce: bigint;
  readSeq: bigint;
}

const ELECTION_TICK = 10;
/** A read's request is re-sent after this many steps without an answer (readRetry). */
const READ_RETRY_STEPS = 6;

function snapshotData(digest: number): Buffer {
  return Buffer.from(String(digest));
}

function isMember(cs: raftpb.ConfState, id: bigint): boolean {
  return cs.voters.includes(id) || cs.votersOutgoing.includes(id) || cs.learners.includes(id) || cs.learnersNext.includes(id);
}

function cloneMessage(m: raftpb.Message): raftpb.Message {
  return m.entries.length === 0 ? { ...m } : { ...m, entries: m.entries.map((e) => ({ ...e })) };
}

/**
 * The Storage a running node reads: its durable log, except that snapshot() returns a snapshot
 * of the node's current state machine (what a leader sends to a follower that fell behind).
 */
class SimStorage implements Storage {
  constructor(
    private readonly node: SimNode,
    private readonly rng: SimRng,
  ) {}
  initialState(): InitialState {
    return this.node.disk.log.initialState();
  }
  entries(lo: bigint, hi: bigint, maxSize: bigint): raftpb.Entry[] {
    return this.node.disk.log.entries(lo, hi, maxSize);
  }
  term(i: bigint): bigint {
    return this.node.disk.log.term(i);
  }
  lastIndex(): bigint {
    return this.node.disk.log.lastIndex();
  }
  firstIndex(): bigint {
    return this.node.disk.log.firstIndex();
  }
  snapshot(): raftpb.Snapshot {
    // Now and then the application is still producing it.
    if (this.rng.chance(0.1)) throw ErrSnapshotTemporarilyUnavailable;
    const n = this.node;
    return {
      data: snapshotData(n.digest),
      metadata: { index: n.appliedIndex, term: n.appliedTerm, confState: n.confState },
    };
  }
}

export class Simulation {
  readonly rng: SimRng;
  readonly checker = new SafetyChecker();
  readonly nodes = new Map<bigint, SimNode>();
  readonly variant: Variant;
  readonly stats: SimulationStats = {
    asyncReady: 0,
    steps: 0,
    leaderTerms: 0,
    proposalsApplied: 0,
    crashes: 0,
    tornWrites: 0,
    lostLazyHardStates: 0,
    restarts: 0,
    partitions: 0,
    dropped: 0,
    duplicated: 0,
    delayed: 0,
    compactions: 0,
    snapshotsSent: 0,
    snapshotsInstalled: 0,
    confChangesApplied: 0,
    jointEntered: 0,
    jointLeft: 0,
    learnersAdded: 0,
    votersAdded: 0,
    learnersPromoted: 0,
    votersDemoted: 0,
    votersRemoved: 0,
    leaderRemoved: 0,
    transfersRequested: 0,
    transferElections: 0,
    readsIssued: 0,
    readsAnswered: 0,
    readRetries: 0,
    healSteps: 0,
  };

  /** Current step. */
  now = 0;
  /** Faults on (chaos phase) or off (healing). */
  private chaos = true;
  /** In-flight messages by delivery step. */
  private readonly inflight = new Map<number, raftpb.Message[]>();
  /** Messages dropped while their sender was handling a Ready, to report afterwards. */
  private lostOnSend: raftpb.Message[] = [];
  /** Cut links, `${from}>${to}`. Empty: healed. */
  private cut = new Set<string>();
  private nextId: bigint;
  private readonly maxId: bigint;
  private proposals = 0;
  /** Removed node → index of the conf change that removed it (first seen applied). */
  private readonly removedAt = new Map<bigint, bigint>();
  /** Indexes of applied conf changes already counted in stats. */
  private readonly countedConfChanges = new Set<bigint>();
  /** Final phase: index of the first applied final proposal. */
  private finalIndex = 0n;
  private readonly trace: ((line: string) => void) | undefined;
  private readonly traceMessages: boolean;
  /** Highest index seen committed anywhere (durable commit indexes, applied indexes). */
  private maxCommitted = 0n;
  /** Reads are issued while this holds (the final phase stops it to wait for the answers). */
  private issuingReads = true;

  constructor(readonly opts: SimulationOptions) {
    this.rng = new SimRng(opts.seed);
    this.trace = opts.trace;
    this.traceMessages = opts.trace !== undefined && opts.traceMessages === true;
    const rng = this.rng;
    this.variant = {
      asyncReady: opts.asyncReady ?? rng.chance(0.5),
      preVote: rng.chance(0.7),
      checkQuorum: rng.chance(0.6),
      stepDownOnRemoval: rng.chance(0.5),
      heartbeatTick: 1 + rng.int(3),
      maxSizePerMsg: rng.pick([noLimit, noLimit, 0n, 64n, 300n]),
      maxInflightMsgs: rng.pick([1, 2, 4, 256]),
      maxCommittedSizePerReady: rng.pick([0n, 0n, 1n, 100n]),
    };
    this.stats.asyncReady = this.variant.asyncReady ? 1 : 0;
    this.log(`variant ${JSON.stringify(this.variant, (_, v: unknown) => (typeof v === 'bigint' ? v.toString() : v))}`);
    const ids = Array.from({ length: opts.nodes }, (_, i) => BigInt(i + 1));
    this.nextId = BigInt(opts.nodes + 1);
    this.maxId = BigInt(opts.nodes + 4);
    const cs: raftpb.ConfState = { ...emptyConfState(), voters: ids };
    for (const id of ids) {
      const node = this.newNode(id);
      // Every initial member starts from the same snapshot at index 1 holding the configuration.
      node.disk.log.applySnapshot({ data: snapshotData(0), metadata: { index: 1n, term: 1n, confState: cs } });
      this.start(node);
    }
  }

  private log(line: string): void {
    if (this.trace !== undefined) this.trace(`[${this.now}] ${line}`);
  }

  private newNode(id: bigint): SimNode {
    const node: SimNode = {
      id,
      disk: new SimDisk(),
      rn: undefined,
      retired: false,
      appliedIndex: 0n,
      appliedTerm: 0n,
      digest: 0,
      confState: emptyConfState(),
      pending: undefined,
      checkedCommit: 0n,
      reads: new Map(),
      readNonce: 0n,
      readSeq: 0n,
    };
    this.nodes.set(id, node);
    return node;
  }

  /** (Re)starts a node from its disk: state machine from the durable snapshot, raft from the log. */
  private start(n: SimNode): void {
    const storage = n.disk.recover();
    const snap = storage.snapshot();
    const md = snap.metadata!;
    n.appliedIndex = md.index;
    n.appliedTerm = md.term;
    n.digest = snap.data.length > 0 ? Number(snap.data.toString()) : 0;
    n.confState = md.confState ?? emptyConfState();
    n.reads = new Map();
    n.readSeq = 0n;
    n.readNonce = BigInt(this.rng.int(0x7fff_ffff)) * 0x1_0000_0000n + BigInt(this.rng.int(0x7fff_ffff));
    const v = this.variant;
    const config: Config = {
      id: n.id,
      electionTick: ELECTION_TICK,
      heartbeatTick: v.heartbeatTick,
      storage: new SimStorage(n, this.rng),
      applied: md.index,
      maxSizePerMsg: v.maxSizePerMsg,
      maxCommittedSizePerReady: v.maxCommittedSizePerReady,
      maxInflightMsgs: v.maxInflightMsgs,
      preVote: v.preVote,
      checkQuorum: v.checkQuorum,
      stepDownOnRemoval: v.stepDownOnRemoval,
      random: seededRandom(this.rng.int(0x7fff_ffff)),
    };
    n.rn = new RawNode(config);
  }

  private crash(n: SimNode, why: string): void {
    if (n.rn === undefined) return;
    n.rn = undefined;
    n.pending = undefined;
    n.reads = new Map(); // their clients get an error
    this.stats.crashes++;
    if (n.disk.crash(this.rng)) this.stats.lostLazyHardStates++;
    this.log(`crash ${n.id} (${why})`);
  }

  private retire(n: SimNode, why: string): void {
    n.rn = undefined;
    n.pending = undefined;
    n.retired = true;
    this.log(`retire ${n.id} (${why})`);
  }

  /** Up, non-retired nodes. */
  private upNodes(): SimNode[] {
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) if (n.rn !== undefined) out.push(n);
    return out;
  }

  /**
   * The leader with the highest term among running members, if any. (A leader demoted to learner
   * keeps leading, as in etcd 3.4, unless stepDownOnRemoval.)
   */
  private currentLeader(): SimNode | undefined {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      const r = n.rn?.raft;
      if (r === undefined || r.state !== RaftState.Leader || !r.prs.progress.has(r.id)) continue;
      if (best === undefined || r.term > best.rn!.raft.term) best = n;
    }
    return best;
  }

  // ---- network ---------------------------------------------------------------------------

  private linkCut(from: bigint, to: bigint): boolean {
    return this.cut.size > 0 && this.cut.has(`${from}>${to}`);
  }

  private send(m: raftpb.Message): void {
    if (m.type === MT.MsgApp || m.type === MT.MsgHeartbeat || m.type === MT.MsgSnap) {
      // Only a leader of m.term sends these.
      this.checker.leader(m.from, m.term);
    }
    if (m.type === MT.MsgSnap) this.stats.snapshotsSent++;
    const rng = this.rng;
    let copies = 1;
    if (this.chaos) {
      if (rng.chance(0.05)) {
        // Lost on the way out; the transport reports it once the sender's Ready is handled.
        this.stats.dropped++;
        this.lostOnSend.push(m);
        return;
      }
      if (rng.chance(0.02)) {
        copies = 2;
        this.stats.duplicated++;
      }
    }
    for (let c = 0; c < copies; c++) {
      let delay = 0;
      if (this.chaos && rng.chance(0.15)) {
        delay = rng.chance(0.1) ? 5 + rng.int(25) : 1 + rng.int(4);
        this.stats.delayed++;
      }
      const at = this.now + 1 + delay;
      let q = this.inflight.get(at);
      if (q === undefined) {
        q = [];
        this.inflight.set(at, q);
      }
      q.push(c === 0 ? m : cloneMessage(m));
    }
  }

  /** A message did not arrive: the transport tells the sender (if it still runs). */
  private lost(m: raftpb.Message): void {
    const from = this.nodes.get(m.from)?.rn;
    if (from === undefined) return;
    if (m.type === MT.MsgSnap) from.reportSnapshot(m.to, SnapshotStatus.Failure);
    else if (this.rng.chance(0.3)) from.reportUnreachable(m.to);
  }

  private deliver(): void {
    const due = this.inflight.get(this.now);
    if (due === undefined) return;
    this.inflight.delete(this.now);
    this.rng.shuffle(due);
    for (const m of due) {
      const to = this.nodes.get(m.to);
      if (to?.rn === undefined || this.linkCut(m.from, m.to)) {
        this.stats.dropped++;
        this.lost(m);
        continue;
      }
      if (this.traceMessages) this.log(`deliver ${describeMessage(m)}`);
      try {
        to.rn.step(cloneMessage(m));
      } catch (err) {
        if (err !== ErrProposalDropped && err !== ErrStepPeerNotFound) throw err;
      }
      if (m.type === MT.MsgSnap) this.nodes.get(m.from)?.rn?.reportSnapshot(m.to, SnapshotStatus.Finish);
      if (m.type === MT.MsgTimeoutNow) this.stats.transferElections++;
    }
  }

  private changePartition(): void {
    const rng = this.rng;
    const ids = [...this.nodes.keys()];
    const cut = new Set<string>();
    const kind = rng.int(3);
    if (kind === 0) {
      // Two sides.
      const side = new Map(ids.map((id) => [id, rng.int(2)]));
      for (const a of ids) for (const b of ids) if (side.get(a) !== side.get(b)) cut.add(`${a}>${b}`);
    } else if (kind === 1) {
      // One node isolated.
      const x = rng.pick(ids);
      for (const b of ids) if (b !== x) cut.add(`${x}>${b}`).add(`${b}>${x}`);
    } else {
      // A few one-way link failures.
      for (let k = 1 + rng.int(3); k > 0; k--) cut.add(`${rng.pick(ids)}>${rng.pick(ids)}`);
    }
    this.cut = cut;
    this.stats.partitions++;
    this.log(`partition ${[...cut].join(' ')}`);
  }

  // ---- the application loop of one node ------------------------------------------------

  /** Handles the node's pending Readies: persist, send, apply, advance (with crash points). */
  private handleReadies(n: SimNode): void {
    if (this.variant.asyncReady) {
      this.handleReadiesAsync(n);
      return;
    }
    const rng = this.rng;
    for (let k = 0; k < 4; k++) {
      const rn = n.rn;
      if (rn === undefined || !rn.hasReady()) return;
      const rd = rn.ready();
      if (rd.softState !== undefined && rd.softState.raftState === RaftState.Leader) {
        this.log(`${n.id} leads term ${rn.raft.term}`);
      }
      // 1. Persist; a crash now keeps only a prefix of the writes.
      if (this.chaos && rng.chance(0.004)) {
        const ents = n.disk.writeTorn(rd, rng);
        this.checker.durableEntries(n.id, n.disk.log, ents);
        this.stats.tornWrites++;
        this.crash(n, 'while persisting');
        return;
      }
      const written = n.disk.write(rd);
      this.checker.durableEntries(n.id, n.disk.log, written);
      if (this.chaos && rng.chance(0.003)) {
        this.crash(n, 'before sending');
        return;
      }
      // 2. Send (only now: they may promise what was just persisted).
      for (const m of rd.messages) this.send(m);
      // 3. Apply; answer reads.
      this.apply(n, rd);
      this.checker.observeCommit(rn.raft.term, n.appliedIndex);
      this.readStates(n, rd);
      // 4. Acknowledge.
      rn.advance(rd);
    }
  }

  /**
   * asyncReady: moves the node's Ready handling on by a few stages, stopping at random in between
   * so that messages and ticks reach the node while a Ready is outstanding.
   */
  private handleReadiesAsync(n: SimNode): void {
    const rng = this.rng;
    for (let k = 0; k < 6; k++) {
      const rn = n.rn;
      if (rn === undefined) return;
      const p = n.pending;
      if (p === undefined) {
        if (!rn.hasReady()) return;
        const rd = rn.ready();
        if (rd.softState !== undefined && rd.softState.raftState === RaftState.Leader) {
          this.log(`${n.id} leads term ${rn.raft.term}`);
        }
        // A leader replicates while it writes its own copy.
        const early = rn.raft.state === RaftState.Leader;
        n.pending = { rd, persisted: false, sent: early };
        if (early) for (const m of rd.messages) this.send(m);
      } else if (!p.persisted) {
        if (this.chaos && rng.chance(0.004)) {
          const ents = n.disk.writeTorn(p.rd, rng);
          this.checker.durableEntries(n.id, n.disk.log, ents);
          this.stats.tornWrites++;
          this.crash(n, 'while persisting');
          return;
        }
        const written = n.disk.write(p.rd);
        this.checker.durableEntries(n.id, n.disk.log, written);
        p.persisted = true;
      } else {
        if (this.chaos && rng.chance(0.003)) {
          this.crash(n, 'before sending');
          return;
        }
        if (!p.sent) for (const m of p.rd.messages) this.send(m);
        this.apply(n, p.rd);
        this.checker.observeCommit(rn.raft.term, n.appliedIndex);
        this.readStates(n, p.rd);
        rn.advance(p.rd);
        n.pending = undefined;
      }
      if (this.chaos && rng.chance(0.3)) return;
    }
  }

  /**
   * Read states of rd: each answers the pending read with its context, and must cover everything
   * that was committed when that read was issued (the leader confirmed, after the read began,
   * that it still led when it recorded its commit index). A read state for no pending read
   * answers a request sent twice, or one of a previous start: nobody waits for it.
   */
  private readStates(n: SimNode, rd: Ready): void {
    for (const rs of rd.readStates) {
      const k = rs.requestCtx.toString('latin1');
      const r = n.reads.get(k);
      if (r === undefined) continue;
      n.reads.delete(k);
      this.stats.readsAnswered++;
      if (rs.index < r.committedAtIssue) {
        throw new SafetyViolation(
          `linearizable read: node ${n.id}'s read ${rs.requestCtx.toString('hex')} issued at step ${r.issuedAt}, when index ${r.committedAtIssue} was committed, answered at step ${this.now} with read index ${rs.index}`,
        );
      }
    }
  }

  /** Applies rd's snapshot and committed entries. */
  private apply(n: SimNode, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      const md = rd.snapshot.metadata!;
      n.appliedIndex = md.index;
      n.appliedTerm = md.term;
      n.digest = Number(rd.snapshot.data.toString());
      n.confState = md.confState ?? emptyConfState();
      this.checker.snapshotInstalled(n.id, md.index, md.term, n.digest);
      this.stats.snapshotsInstalled++;
      this.log(`${n.id} installed snapshot ${md.index}/${md.term}`);
    }
    for (const e of rd.committedEntries) {
      if (e.Index !== n.appliedIndex + 1n) {
        throw new SafetyViolation(`node ${n.id} was handed entry ${e.Index} to apply after ${n.appliedIndex}`);
      }
      const firstTime = this.checker.appliedEntry(e.Index) === undefined;
      const cc = entryConfChangeV2(e);
      const before = n.confState;
      // applyConfChange may call Storage.snapshot() (a leader probing a new peer): the state
      // machine must still look consistent then, so it moves to e only afterwards.
      let after = before;
      if (cc !== undefined) {
        try {
          after = n.rn!.applyConfChange(cc);
        } catch (err) {
          const cfg = n.rn!.raft.prs.config.toString();
          throw new Error(`node ${n.id} applying conf change ${e.Index}/${e.Term} in configuration ${cfg}: ${String(err)}`, { cause: err });
        }
      }
      n.digest = digestEntry(n.digest, e);
      n.appliedIndex = e.Index;
      n.appliedTerm = e.Term;
      n.confState = after;
      this.checker.applied(n.id, e, n.digest);
      if (cc === undefined) {
        if (firstTime && e.Data.length > 0) this.stats.proposalsApplied++;
        if (this.finalIndex === 0n && e.Data.toString().startsWith('final')) {
          this.finalIndex = e.Index;
          this.log(
            `final proposal applied at ${e.Index} (config ${JSON.stringify(after, (_, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))})`,
          );
        }
        continue;
      }
      if (firstTime) this.countConfChange(e.Index, before, after);
      for (const id of [...before.voters, ...before.votersOutgoing, ...before.learners]) {
        if (!isMember(after, id) && !this.removedAt.has(id)) this.removedAt.set(id, e.Index);
      }
      if (isMember(before, n.id) && !isMember(after, n.id) && n.rn!.raft.state === RaftState.Leader) {
        this.stats.leaderRemoved++;
      }
    }
  }

  private countConfChange(index: bigint, before: raftpb.ConfState, after: raftpb.ConfState): void {
    if (this.countedConfChanges.has(index)) return;
    this.countedConfChanges.add(index);
    const s = this.stats;
    s.confChangesApplied++;
    if (before.votersOutgoing.length === 0 && after.votersOutgoing.length > 0) s.jointEntered++;
    if (before.votersOutgoing.length > 0 && after.votersOutgoing.length === 0) s.jointLeft++;
    const inc = (xs: bigint[], id: bigint) => xs.includes(id);
    const oldVoters = [...before.voters, ...before.votersOutgoing];
    for (const id of after.voters) if (!inc(oldVoters, id)) inc(before.learners, id) ? s.learnersPromoted++ : s.votersAdded++;
    for (const id of after.learners) {
      if (inc(before.learners, id)) continue;
      if (inc(oldVoters, id)) s.votersDemoted++;
      else s.learnersAdded++;
    }
    for (const id of before.voters) if (!isMember(after, id)) s.votersRemoved++;
    this.log(`conf change at ${index}: ${JSON.stringify(after, (_, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}`);
  }

  // ---- client and operator actions ------------------------------------------------------

  private propose(): void {
    const rng = this.rng;
    const up = this.upNodes();
    if (up.length === 0) return;
    const leader = this.currentLeader();
    const n = leader !== undefined && rng.chance(0.6) ? leader : rng.pick(up);
    try {
      n.rn!.propose(Buffer.from(`p${this.proposals}`));
      this.proposals++;
    } catch (err) {
      if (err !== ErrProposalDropped) throw err;
    }
  }

  /** The highest index known committed anywhere right now (and before). */
  private committedNow(): bigint {
    for (const n of this.nodes.values()) {
      const c = n.disk.durableHardState().commit;
      if (c > this.maxCommitted) this.maxCommitted = c;
      if (n.appliedIndex > this.maxCommitted) this.maxCommitted = n.appliedIndex;
    }
    return this.maxCommitted;
  }

  private nextReadContext(n: SimNode): Buffer {
    n.readSeq++;
    if (this.opts.readContexts === 'perStartCounter') {
      const ctx = Buffer.alloc(8);
      ctx.writeBigUInt64BE(n.readSeq);
      return ctx;
    }
    const ctx = Buffer.alloc(24);
    ctx.writeBigUInt64BE(n.id, 0);
    ctx.writeBigUInt64BE(n.readNonce, 8);
    ctx.writeBigUInt64BE(n.readSeq, 16);
    return ctx;
  }

  /** Node n starts a linearizable read. */
  private read(n: SimNode): void {
    const ctx = this.nextReadContext(n);
    const k = ctx.toString('latin1');
    // A context equal to one still pending here is the same request to raft: one read, not two.
    if (n.reads.has(k)) return;
    n.reads.set(k, { ctx, issuedAt: this.now, lastSent: this.now, committedAtIssue: this.committedNow() });
    this.stats.readsIssued++;
    n.rn!.readIndex(ctx);
  }

  /** Several nodes (often the leader and followers together) start reads in the same step. */
  private concurrentReads(): void {
    const rng = this.rng;
    const leader = this.currentLeader();
    for (const n of this.upNodes()) {
      if (n !== leader && !rng.chance(0.6)) continue;
      for (let k = 1 + rng.int(2); k > 0; k--) this.read(n);
    }
  }

  /** Re-sends the requests of reads that have waited READ_RETRY_STEPS (same context). */
  private retryReads(): void {
    if (this.opts.readRetry === false) return;
    for (const n of this.upNodes()) {
      for (const r of n.reads.values()) {
        if (this.now - r.lastSent < READ_RETRY_STEPS) continue;
        r.lastSent = this.now;
        this.stats.readRetries++;
        n.rn!.readIndex(r.ctx);
      }
    }
  }

  private allocId(): bigint | undefined {
    return this.nextId <= this.maxId ? this.nextId : undefined;
  }

  /** Proposes a random membership change valid for the leader's current configuration. */
  private proposeConfChange(): void {
    const rng = this.rng;
    const leader = this.currentLeader();
    if (leader === undefined) return;
    const r = leader.rn!.raft;
    const cs = r.prs.confState();
    if (cs.votersOutgoing.length > 0) {
      // Joint: leave explicitly if the transition asked for it (auto-leave is raft's job).
      if (!cs.autoLeave)
        this.tryConfChange(leader, { transition: Transition.ConfChangeTransitionAuto, changes: [], context: Buffer.alloc(0) }, undefined);
      return;
    }
    // One change at a time (the leader would neutralize a second one; do that rarely on purpose).
    if (r.pendingConfIndex > r.raftLog.applied && !rng.chance(0.2)) return;
    const voters = cs.voters;
    const learners = cs.learners;
    const fresh = this.allocId();
    type Single = raftpb.ConfChangeSingle;
    const options: Single[][] = [];
    const add = (nodeId: bigint): Single => ({ type: CCT.ConfChangeAddNode, nodeId });
    const addLearner = (nodeId: bigint): Single => ({ type: CCT.ConfChangeAddLearnerNode, nodeId });
    const remove = (nodeId: bigint): Single => ({ type: CCT.ConfChangeRemoveNode, nodeId });
    if (fresh !== undefined) {
      options.push([addLearner(fresh)]);
      if (voters.length < 7) options.push([add(fresh)]);
    }
    if (learners.length > 0) {
      options.push([add(rng.pick(learners))], [remove(rng.pick(learners))]);
    }
    // Remove or demote a voter only from three or more. With two, the survivor may be unable to
    // ever learn that the removal committed: until it applies it, it needs the removed node's vote
    // in the old configuration, and the removed node refuses it if its own log is longer (it may
    // have appended entries as leader). etcd warns against removing a member from a 2-member
    // cluster for this reason (configurations take effect when applied, not when appended).
    if (voters.length > 2) {
      const victim = rng.chance(0.3) ? leader.id : rng.pick(voters);
      options.push([remove(victim)], [addLearner(victim)]);
      // Replace a voter through joint consensus.
      const replacement = learners.length > 0 && rng.chance(0.5) ? rng.pick(learners) : fresh;
      if (replacement !== undefined) options.push([add(replacement), remove(victim)]);
      if (learners.length > 0) options.push([addLearner(victim), add(rng.pick(learners))]);
    }
    if (options.length === 0) return;
    const changes = rng.pick(options);
    let cc: ConfChangeI;
    if (changes.length === 1 && rng.chance(0.5)) {
      cc = { type: changes[0].type, nodeId: changes[0].nodeId, context: Buffer.alloc(0), id: 0n };
    } else {
      const transition = rng.pick([
        Transition.ConfChangeTransitionAuto,
        Transition.ConfChangeTransitionAuto,
        Transition.ConfChangeTransitionJointImplicit,
        Transition.ConfChangeTransitionJointExplicit,
      ]);
      cc = { transition, changes, context: Buffer.alloc(0) };
    }
    const newId = fresh !== undefined && changes.some((c) => c.nodeId === fresh) ? fresh : undefined;
    this.tryConfChange(leader, cc, newId);
  }

  private tryConfChange(leader: SimNode, cc: ConfChangeI, newId: bigint | undefined): void {
    try {
      leader.rn!.proposeConfChange(cc);
    } catch (err) {
      if (err !== ErrProposalDropped) throw err;
      return;
    }
    this.log(`${leader.id} proposed conf change ${JSON.stringify(cc, (_, v: unknown) => (typeof v === 'bigint' ? Number(v) : v))}`);
    if (newId !== undefined) {
      // The new member starts empty; the leader brings it up to date (a snapshot).
      this.nextId++;
      this.start(this.newNode(newId));
    }
  }

  private transferLeader(): void {
    const rng = this.rng;
    const leader = this.currentLeader();
    if (leader === undefined) return;
    const voters = leader.rn!.raft.prs.voterNodes().filter((id) => id !== leader.id);
    if (voters.length === 0) return;
    const target = rng.pick(voters);
    // Ask the leader, or the target (which forwards the request to its leader).
    const via = rng.chance(0.7) ? leader : this.nodes.get(target);
    if (via?.rn === undefined) return;
    via.rn.transferLeader(target);
    this.stats.transfersRequested++;
    this.log(`transfer leadership ${leader.id} -> ${target} (via ${via.id})`);
  }

  private compact(n: SimNode): void {
    const log = n.disk.log;
    const snapIndex = log.firstIndex() - 1n;
    if (n.appliedIndex <= snapIndex + 1n) return;
    // Keep a few entries behind the snapshot for slow followers, now and then.
    let to = n.appliedIndex - BigInt(this.rng.int(3));
    if (to <= snapIndex) to = snapIndex;
    const current = log.snapshot().metadata!.index;
    if (n.appliedIndex <= current) return;
    n.disk.compact(n.appliedIndex, n.confState, snapshotData(n.digest), to);
    this.stats.compactions++;
  }

  // ---- steps -----------------------------------------------------------------------------

  /** One step: faults, client/operator actions, ticks, delivery, Ready handling, checks. */
  step(): void {
    this.now++;
    this.stats.steps++;
    const rng = this.rng;
    if (this.chaos) {
      if (rng.chance(1 / 40)) this.changePartition();
      if (this.cut.size > 0 && rng.chance(1 / 25)) {
        this.cut = new Set();
        this.log('heal partition');
      }
      if (rng.chance(1 / 60)) {
        const up = this.upNodes();
        if (up.length > 0) this.crash(rng.pick(up), 'between steps');
      }
      for (const n of this.nodes.values()) {
        if (n.rn === undefined && !n.retired && rng.chance(1 / 12)) {
          this.start(n);
          this.stats.restarts++;
          this.log(`restart ${n.id} (applied ${n.appliedIndex})`);
        }
      }
      if (rng.chance(1 / 25)) {
        const up = this.upNodes();
        if (up.length > 0) this.compact(rng.pick(up));
      }
      if (rng.chance(1 / 18)) this.proposeConfChange();
      if (rng.chance(1 / 50)) this.transferLeader();
      if (rng.chance(0.3)) this.propose();
    }
    if (this.issuingReads && rng.chance(0.15)) this.concurrentReads();
    this.retryReads();

    for (const n of this.nodes.values()) {
      // Clock skew: a node now and then misses a tick.
      if (n.rn !== undefined && (!this.chaos || rng.chance(0.95))) n.rn.tick();
    }
    this.deliver();
    for (const n of rng.shuffle(this.upNodes())) {
      if (!this.chaos || rng.chance(0.85)) this.handleReadies(n);
      if (this.lostOnSend.length > 0) {
        const lost = this.lostOnSend;
        this.lostOnSend = [];
        for (const m of lost) this.lost(m);
      }
    }
    this.retireRemoved();
    this.check();
  }

  /** The per-step safety checks (the per-write and per-apply ones run where they happen). */
  private check(): void {
    const c = this.checker;
    for (const n of this.nodes.values()) {
      if (!n.retired) n.checkedCommit = c.committed(n.id, n.disk.durableHardState(), n.disk.log, n.checkedCommit);
    }
    for (const n of this.nodes.values()) {
      const r = n.rn?.raft;
      if (r === undefined || r.state !== RaftState.Leader) continue;
      c.leader(n.id, r.term);
      c.leaderCompleteness(n.id, r);
    }
  }

  /** Stops faults, heals the network and restarts every node that was not retired. */
  heal(): void {
    this.chaos = false;
    this.cut = new Set();
    for (const n of this.nodes.values()) {
      if (n.rn === undefined && !n.retired) {
        this.start(n);
        this.stats.restarts++;
      }
    }
    this.log('healed');
  }

  /**
   * A removed node shuts down for good once every member of the latest configuration applied
   * its removal. Until then it keeps running (not campaigning once it applied its removal) so that
   * members still in an older configuration can reach a quorum and learn of the commit; etcd
   * approximates this by stopping a removed member after a delay.
   */
  private retireRemoved(): void {
    if (this.removedAt.size === 0) return;
    const latest = this.latestConf();
    const members = [...latest.voters, ...latest.votersOutgoing, ...latest.learners];
    for (const [id, at] of this.removedAt) {
      const n = this.nodes.get(id)!;
      if (n.retired || isMember(latest, id)) continue;
      if (members.every((m) => this.nodes.get(m)!.appliedIndex >= at)) this.retire(n, `removed at ${at}`);
    }
  }

  /** Configuration of the node that applied the most. */
  private latestConf(): raftpb.ConfState {
    let best: SimNode | undefined;
    for (const n of this.nodes.values()) {
      if (best === undefined || n.appliedIndex > best.appliedIndex) best = n;
    }
    return best!.confState;
  }

  /** Running members of the latest configuration that still wait for reads. */
  private readWaiters(): SimNode[] {
    const latest = this.latestConf();
    const out: SimNode[] = [];
    for (const n of this.nodes.values()) {
      if (!n.retired && n.rn !== undefined && isMember(latest, n.id) && n.reads.size > 0) out.push(n);
    }
    return out;
  }

  /**
   * The final entry is applied everywhere: no new reads at random; every member issues reads in
   * the same step (the leader with its followers, contexts from all of them at once). Without
   * retries, reads lost during the chaos phase are given up (their clients timed out).
   */
  private startReadPhase(members: bigint[]): void {
    this.issuingReads = false;
    this.log(`read phase: ${members.join(',')} read at once`);
    for (const id of members) {
      const n = this.nodes.get(id)!;
      if (this.opts.readRetry === false) n.reads.clear();
      if (n.rn === undefined) continue;
      for (let k = 0; k < 3; k++) this.read(n);
    }
  }

  /**
   * Healing phase: proposes a final entry (again if it does not commit), until every member of
   * the configuration at the final entry applied it. Returns those members; throws if the budget
   * runs out.
   */
  finish(budget: number): bigint[] {
    let proposedAt = -Infinity;
    let members: bigint[] | undefined;
    for (let s = 0; s < budget; s++) {
      if (this.finalIndex === 0n && this.now - proposedAt > 3 * ELECTION_TICK) {
        const leader = this.currentLeader();
        if (leader !== undefined) {
          try {
            leader.rn!.propose(Buffer.from(`final${this.now}`));
            proposedAt = this.now;
            this.log(`${leader.id} proposed final entry`);
          } catch (err) {
            if (err !== ErrProposalDropped) throw err;
          }
        }
      }
      this.step();
      this.stats.healSteps++;
      if (members !== undefined) {
        // The read phase: done once no member waits for a read any more (a member removed by a
        // conf change still pending at the final entry, retired since, has no clients left).
        if (this.readWaiters().length === 0) return members;
      } else if (this.finalIndex !== 0n) {
        const latest = this.latestConf();
        // The final configuration: the latest one applied anywhere (a conf change committed
        // before or after the final entry may still have been pending).
        const final = [...new Set([...latest.voters, ...latest.votersOutgoing, ...latest.learners, ...latest.learnersNext])];
        const done = final.every((id) => {
          const n = this.nodes.get(id);
          return n !== undefined && n.appliedIndex >= this.finalIndex;
        });
        if (done) {
          members = final.sort((a, b) => (a < b ? -1 : 1));
          this.startReadPhase(members);
        }
      }
    }
    const lagging = [...this.nodes.values()]
      .map((n) => {
        const r = n.rn?.raft;
        const role = n.retired
          ? 'retired'
          : r === undefined
            ? 'down'
            : `${RaftState[r.state]} term ${r.term} lead ${r.lead} commit ${r.raftLog.committed} last ${r.raftLog.lastIndex()}/${r.raftLog.lastTerm()}`;
        return `${n.id}: ${role}, applied ${n.appliedIndex}`;
      })
      .join('; ');
    const leader = this.currentLeader();
    if (members !== undefined) {
      const waiting = this.readWaiters()
        .flatMap((n) => [...n.reads.values()].map((r) => `node ${n.id} ${r.ctx.toString('hex')} issued at step ${r.issuedAt}`))
        .join('; ');
      throw new SafetyViolation(
        `liveness: reads not answered within ${budget} steps after healing (leader ${leader?.id ?? 'none'}; now step ${this.now}): ${waiting}`,
      );
    }
    const conf = JSON.stringify(this.latestConf(), (_, v: unknown) => (typeof v === 'bigint' ? Number(v) : v));
    const progress =
      leader === undefined
        ? `no leader; latest configuration ${conf}`
        : `leader ${leader.id} progress: ${progressMapString(leader.rn!.raft.prs.progress).trim().replace(/\n/g, '; ')}`;
    throw new SafetyViolation(
      `liveness: no final proposal applied by every member within ${budget} steps after healing (final index ${this.finalIndex}; ${lagging}; ${progress})`,
    );
  }
}

/** Runs one seeded simulation; throws SimulationFailure (with the seed) on any violation. */
export function runSimulation(opts: SimulationOptions): SimulationResult {
  let sim: Simulation | undefined;
  try {
    sim = new Simulation(opts);
    const chaos = opts.chaosSteps ?? 250;
    for (let i = 0; i < chaos; i++) sim.step();
    sim.heal();
    const finalMembers = sim.finish(opts.healSteps ?? 600);
    sim.stats.leaderTerms = sim.checker.leaderTerms();
    return { seed: opts.seed, nodes: opts.nodes, stats: sim.stats, finalMembers };
  } catch (err) {
    throw new SimulationFailure(opts.seed, opts.nodes, sim?.now ?? 0, err);
  }
}

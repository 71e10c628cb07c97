// The Raft state machine of one node. It performs no I/O and keeps no clock: the owner feeds it
// ticks (tick()) and messages (step()), and collects outgoing messages (msgs), read states and the
// log changes through RawNode's Ready. References: Ongaro & Ousterhout, "In Search of an
// Understandable Consensus Algorithm" (§5 numbering) and Ongaro's thesis (§3 leader transfer,
// §4 membership, §6.4 read index, §9.6 pre-vote).

import { raftpb } from '@kv/api';
import { Changer, type ConfigAndProgress, restore as restoreConfig } from './confchange/index.js';
import { ErrProposalDropped, ErrSnapshotTemporarilyUnavailable, panic } from './errors.js';
import { maxTerm } from './limits.js';
import { isStorageGap, RaftLog } from './log.js';
import { discardLogger, type Logger } from './logger.js';
import { VoteResult } from './quorum/index.js';
import { seededRandom, type RandomSource } from './rand.js';
import { ReadOnly, type ReadState } from './read_only.js';
import { None, noLimit, RaftState, raftStateString, ReadOnlyOption, type SoftState } from './state.js';
import type { Storage } from './storage.js';
import { Inflights, Progress, ProgressTracker, StateType as ProgressState } from './tracker/index.js';
import {
  confChangeEnterJoint,
  confChangeLeaveJoint,
  confStatesEquivalent,
  describeConfState,
  entryConfChangeV2,
  isEmptyHardState,
  isEmptySnap,
  minBig,
  newEntry,
  newMessage,
  payloadSize,
  snapConfState,
  snapIndex,
  snapTerm,
  voteRespMsgType,
} from './util.js';

const MT = raftpb.MessageType;

/** Why a node campaigns. */
export enum CampaignType {
  /** First phase of an election when pre-vote is on: no term change, no vote recorded. */
  PreElection = 'CampaignPreElection',
  /** A normal, timeout-driven election (or the second phase after a won pre-vote). */
  Election = 'CampaignElection',
  /** Election triggered by MsgTimeoutNow (leader transfer); overrides leases of other voters. */
  Transfer = 'CampaignTransfer',
}

/** Parameters of a raft node. Ticks are abstract units; the owner decides how long one lasts. */
export interface Config {
  /** This node's id; never 0. */
  id: bigint;
  /**
   * A follower that hears nothing from a leader for a randomized timeout in
   * [electionTick, 2*electionTick) starts an election. Must exceed heartbeatTick
   * (10 × heartbeatTick is a good choice).
   */
  electionTick: number;
  /** A leader sends heartbeats every heartbeatTick ticks. */
  heartbeatTick: number;
  /** Read access to the persisted log, hard state and configuration. */
  storage: Storage;
  /**
   * Last applied index when restarting; committed entries at or below it are not handed out
   * again. 0 (default) means "replay from the snapshot".
   */
  applied?: bigint;
  /**
   * Byte limit of the entries in one MsgApp (noLimit for unbounded, 0n for one entry per
   * message). Default: noLimit.
   */
  maxSizePerMsg?: bigint;
  /** Byte limit of Ready.committedEntries; default (0n/undefined) = maxSizePerMsg. */
  maxCommittedSizePerReady?: bigint;
  /**
   * Byte limit of the leader's uncommitted log tail; proposals beyond it are dropped with
   * ErrProposalDropped. Default (0n/undefined): unlimited.
   */
  maxUncommittedEntriesSize?: bigint;
  /** Bound of in-flight MsgApp per follower during optimistic replication; > 0, default 256. */
  maxInflightMsgs?: number;
  /** The leader steps down if it did not hear from a quorum within an election timeout. */
  checkQuorum?: boolean;
  /** Run a pre-vote round (thesis §9.6) before disrupting the cluster with a higher term. */
  preVote?: boolean;
  /** How readIndex is served; LeaseBased requires checkQuorum. Default Safe. */
  readOnlyOption?: ReadOnlyOption;
  /** Followers drop proposals instead of forwarding them to the leader. */
  disableProposalForwarding?: boolean;
  /**
   * A leader that applies its own removal (or demotion to learner) steps down to follower at once.
   * Default false: it keeps leading (without counting itself or taking proposals) until a new
   * leader emerges, as etcd 3.4 does.
   */
  stepDownOnRemoval?: boolean;
  /** Source of randomness for election timeouts. Default: seededRandom(id) (deterministic). */
  random?: RandomSource;
  logger?: Logger;
  /**
   * Test only: the initial voters / learners when the storage holds no ConfState. Must not be
   * combined with a non-empty ConfState in storage.
   */
  peers?: bigint[];
  learners?: bigint[];
}

interface ValidConfig {
  maxSizePerMsg: bigint;
  maxCommittedSizePerReady: bigint;
  maxUncommittedEntriesSize: bigint;
  maxInflightMsgs: number;
}

function validate(c: Config): ValidConfig {
  if (c.id === None) throw new Error('cannot use none as id');
  if (!(c.heartbeatTick > 0)) throw new Error('heartbeat tick must be greater than 0');
  if (!(c.electionTick > c.heartbeatTick)) {
    throw new Error('election tick must be greater than heartbeat tick');
  }
  if (c.storage === undefined || c.storage === null) throw new Error('storage cannot be nil');
  const maxInflightMsgs = c.maxInflightMsgs ?? 256;
  if (!(maxInflightMsgs > 0)) throw new Error('max inflight messages must be greater than 0');
  if (c.readOnlyOption === ReadOnlyOption.LeaseBased && !c.checkQuorum) {
    throw new Error('CheckQuorum must be enabled when ReadOnlyOption is ReadOnlyLeaseBased');
  }
  const maxSizePerMsg = c.maxSizePerMsg ?? noLimit;
  const mcs = c.maxCommittedSizePerReady ?? 0n;
  const mus = c.maxUncommittedEntriesSize ?? 0n;
  return {
    maxSizePerMsg,
    maxCommittedSizePerReady: mcs === 0n ? maxSizePerMsg : mcs,
    maxUncommittedEntriesSize: mus === 0n ? noLimit : mus,
    maxInflightMsgs,
  };
}

function numOfPendingConf(ents: raftpb.Entry[]): number {
  let n = 0;
  for (const e of ents) {
    if (e.Type === raftpb.EntryType.EntryConfChange || e.Type === raftpb.EntryType.EntryConfChangeV2) n++;
  }
  return n;
}

const enc = (s: string): Buffer => Buffer.from(s, 'latin1');
const CAMPAIGN_TRANSFER_CTX = enc(CampaignType.Transfer);

export class Raft {
  readonly id: bigint;

  /** Current term. Persisted (HardState). Invariant: never decreases. */
  term = 0n;
  /** Whom we voted for in `term` (None if nobody). Persisted. At most one vote per term (§5.2). */
  vote: bigint = None;

  /** Answers to readIndex requests, drained into Ready.readStates. */
  readStates: ReadState[] = [];

  readonly raftLog: RaftLog;

  readonly maxMsgSize: bigint;
  readonly maxUncommittedSize: bigint;
  /** Configuration, per-peer replication progress and election votes. */
  prs: ProgressTracker;

  state: RaftState = RaftState.Follower;
  /** Whether this node is a learner in the current configuration (it never campaigns). */
  isLearner = false;

  /** Outgoing messages, drained into Ready.messages. */
  msgs: raftpb.Message[] = [];

  /** Leader of `term` as far as we know (None if unknown). */
  lead: bigint = None;
  /**
   * Target of an ongoing leadership transfer (thesis §3.10), None otherwise. While set, the
   * leader refuses proposals.
   */
  leadTransferee: bigint = None;
  /**
   * Only one conf change may be pending (appended but not applied) at a time.
   * Invariant: pendingConfIndex >= the index of the latest conf change in the log, if that change
   * is unapplied; a new conf change is accepted only when applied >= pendingConfIndex.
   */
  pendingConfIndex = 0n;
  /**
   * Leader only: estimated payload bytes of the uncommitted log tail, reset on term changes.
   * Never overestimates.
   */
  uncommittedSize = 0n;

  readOnly: ReadOnly;

  /**
   * Follower/candidate: ticks since the last election timeout or the last valid message from the
   * leader. Leader: ticks since the last election timeout (drives check-quorum and transfer
   * abort).
   */
  electionElapsed = 0;
  /** Leader only: ticks since the last heartbeat broadcast. */
  heartbeatElapsed = 0;

  /** Leader steps down without quorum contact; vote requests inside a lease are ignored. */
  checkQuorum: boolean;
  /** Campaign with a pre-vote round first (thesis §9.6). */
  preVote: boolean;

  readonly heartbeatTimeout: number;
  readonly electionTimeout: number;
  /**
   * Invariant: electionTimeout <= randomizedElectionTimeout < 2*electionTimeout; re-drawn on
   * every role change (reset()).
   */
  randomizedElectionTimeout = 0;
  readonly disableProposalForwarding: boolean;
  readonly stepDownOnRemoval: boolean;

  /** The role's tick function. */
  private tickFn: () => void;
  /** The role's step function for messages not handled by step() itself. */
  private stepFn: (m: raftpb.Message) => void;

  readonly logger: Logger;
  private readonly rand: RandomSource;

  /**
   * MsgReadIndex requests received as a leader before it committed an entry of its own term;
   * answered once it has (until then its commit index may be stale).
   */
  pendingReadIndexMessages: raftpb.Message[] = [];

  constructor(c: Config) {
    const v = validate(c);
    this.id = c.id;
    this.logger = c.logger ?? discardLogger;
    this.rand = c.random ?? seededRandom(c.id);
    this.raftLog = new RaftLog(c.storage, v.maxCommittedSizePerReady);
    const { hardState: hs, confState } = c.storage.initialState();
    let cs = confState;
    const peers = c.peers ?? [];
    const learners = c.learners ?? [];
    if (peers.length > 0 || learners.length > 0) {
      if (cs.voters.length > 0 || cs.learners.length > 0) {
        throw new Error('cannot specify both newRaft(peers, learners) and ConfState.(Voters, Learners)');
      }
      cs = { ...cs, voters: [...peers], learners: [...learners] };
    }
    this.maxMsgSize = v.maxSizePerMsg;
    this.maxUncommittedSize = v.maxUncommittedEntriesSize;
    this.prs = new ProgressTracker(v.maxInflightMsgs);
    this.electionTimeout = c.electionTick;
    this.heartbeatTimeout = c.heartbeatTick;
    this.checkQuorum = c.checkQuorum ?? false;
    this.preVote = c.preVote ?? false;
    this.readOnly = new ReadOnly(c.readOnlyOption ?? ReadOnlyOption.Safe);
    this.disableProposalForwarding = c.disableProposalForwarding ?? false;
    this.stepDownOnRemoval = c.stepDownOnRemoval ?? false;
    this.tickFn = () => this.tickElection();
    this.stepFn = (m) => this.stepFollower(m);

    const restored = restoreConfig(new Changer(this.prs, this.raftLog.lastIndex()), cs);
    this.assertConfStatesEquivalent(cs, this.switchToConfig(restored));

    if (!isEmptyHardState(hs)) this.loadState(hs);
    if (c.applied !== undefined && c.applied > 0n) this.raftLog.appliedTo(c.applied);
    this.becomeFollower(this.term, None);

    this.logger.info(
      `newRaft ${this.id.toString(16)} [peers: [${this.prs
        .voterNodes()
        .map((n) => n.toString(16))
        .join(
          ',',
        )}], term: ${this.term}, commit: ${this.raftLog.committed}, applied: ${this.raftLog.applied}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}]`,
    );
  }

  private assertConfStatesEquivalent(a: raftpb.ConfState, b: raftpb.ConfState): void {
    if (!confStatesEquivalent(a, b)) {
      panic(`ConfStates not equivalent after sorting:\n${describeConfState(a)}\n${describeConfState(b)}`);
    }
  }

  hasLeader(): boolean {
    return this.lead !== None;
  }

  softState(): SoftState {
    return { lead: this.lead, raftState: this.state };
  }

  hardState(): raftpb.HardState {
    return { term: this.term, vote: this.vote, commit: this.raftLog.committed };
  }

  /** Advances the logical clock by one tick (election timeout or heartbeat, by role). */
  tick(): void {
    this.tickFn();
  }

  /**
   * Queues a message for sending. Vote messages carry an explicit term; every other message gets
   * the current term, except proposals and read-index requests, which are forwarded as local
   * requests (term 0).
   */
  send(p: Partial<raftpb.Message>): void {
    const m = newMessage(p);
    m.from = this.id;
    if (m.type === MT.MsgVote || m.type === MT.MsgVoteResp || m.type === MT.MsgPreVote || m.type === MT.MsgPreVoteResp) {
      if (m.term === 0n) {
        // A (pre-)vote request names the term campaigned for; a response names the term of the
        // request (granted) or ours (rejected). Either way it is never 0.
        panic(`term should be set when sending ${raftpb.messageTypeToJSON(m.type)}`);
      }
    } else {
      if (m.term !== 0n) {
        panic(`term should not be set when sending ${raftpb.messageTypeToJSON(m.type)} (was ${m.term})`);
      }
      if (m.type !== MT.MsgProp && m.type !== MT.MsgReadIndex) m.term = this.term;
    }
    this.msgs.push(m);
  }

  /** Sends an append (with entries if any, else an empty one carrying the commit index). */
  sendAppend(to: bigint): void {
    this.maybeSendAppend(to, true);
  }

  /**
   * Sends the next MsgApp to `to` if its progress allows (or a snapshot if the entries it needs
   * were compacted). With sendIfEmpty false, nothing is sent when there are no new entries.
   * Returns whether a message was sent.
   */
  maybeSendAppend(to: bigint, sendIfEmpty: boolean): boolean {
    const pr = this.prs.progress.get(to);
    if (pr === undefined || pr.isPaused()) return false;
    const prevIndex = pr.next - 1n;

    // Either lookup fails (ErrCompacted / ErrUnavailable) when the follower needs entries we no
    // longer hold; other errors are fatal.
    let term: bigint | undefined;
    let ents: raftpb.Entry[] | undefined;
    try {
      term = this.raftLog.term(prevIndex);
    } catch (err) {
      if (!isStorageGap(err)) throw err;
      term = undefined;
    }
    try {
      ents = this.raftLog.entries(pr.next, this.maxMsgSize);
    } catch (err) {
      if (!isStorageGap(err)) throw err;
      ents = undefined;
    }
    if (ents !== undefined && ents.length === 0 && !sendIfEmpty) return false;

    if (term === undefined || ents === undefined) {
      // The follower needs entries we no longer have: send a snapshot instead.
      if (!pr.recentActive) {
        this.logger.debug(`ignore sending snapshot to ${to.toString(16)} since it is not recently active`);
        return false;
      }
      let snapshot: raftpb.Snapshot;
      try {
        snapshot = this.raftLog.snapshot();
      } catch (err) {
        if (err === ErrSnapshotTemporarilyUnavailable) {
          this.logger.debug(
            `${this.id.toString(16)} failed to send snapshot to ${to.toString(16)} because snapshot is temporarily unavailable`,
          );
          return false;
        }
        throw err;
      }
      if (isEmptySnap(snapshot)) panic('need non-empty snapshot');
      const sindex = snapIndex(snapshot);
      this.logger.debug(
        `${this.id.toString(16)} [firstindex: ${this.raftLog.firstIndex()}, commit: ${this.raftLog.committed}] sent snapshot[index: ${sindex}, term: ${snapTerm(snapshot)}] to ${to.toString(16)} [${pr.toString()}]`,
      );
      pr.becomeSnapshot(sindex);
      this.send({ to, type: MT.MsgSnap, snapshot });
      return true;
    }

    if (ents.length !== 0) {
      switch (pr.state) {
        case ProgressState.StateReplicate: {
          // Optimistic: assume the append will succeed and move next past it.
          const last = ents[ents.length - 1].Index;
          pr.optimisticUpdate(last);
          pr.inflights.add(last);
          break;
        }
        case ProgressState.StateProbe:
          pr.probeSent = true;
          break;
        default:
          panic(`${this.id.toString(16)} is sending append in unhandled state ${pr.state}`);
      }
    }
    this.send({
      to,
      type: MT.MsgApp,
      index: prevIndex,
      logTerm: term,
      entries: ents,
      commit: this.raftLog.committed,
    });
    return true;
  }

  /**
   * Sends a heartbeat. Its commit is min(match, committed): the follower may not have the
   * leader's committed entries yet and must not commit past what it is known to hold.
   */
  sendHeartbeat(to: bigint, ctx: Buffer | undefined): void {
    const pr = this.prs.progress.get(to);
    const commit = minBig(pr?.match ?? 0n, this.raftLog.committed);
    this.send({ to, type: MT.MsgHeartbeat, commit, context: ctx ?? Buffer.alloc(0) });
  }

  /** Sends appends to every peer that is not paused. */
  bcastAppend(): void {
    this.prs.visit((id) => {
      if (id !== this.id) this.sendAppend(id);
    });
  }

  /** Heartbeats to every peer, carrying the newest pending read-index context. */
  bcastHeartbeat(): void {
    this.bcastHeartbeatWithCtx(this.readOnly.lastPendingRequestCtx());
  }

  bcastHeartbeatWithCtx(ctx: Buffer | undefined): void {
    this.prs.visit((id) => {
      if (id !== this.id) this.sendHeartbeat(id, ctx);
    });
  }

  /**
   * The application handled a Ready: entries up to `appliedIndex` (0 if none) are applied,
   * `stableEntry` (if any) and every entry before it are persisted, as is the snapshot at
   * `stableSnapIndex` (0 if none). `committedEntries` lets the leader shrink its uncommitted budget.
   */
  advance(args: {
    appliedIndex: bigint;
    committedEntries: raftpb.Entry[];
    stableEntry?: { index: bigint; term: bigint };
    stableSnapIndex: bigint;
  }): void {
    const index = args.appliedIndex;
    if (index > 0n) {
      this.raftLog.appliedTo(index);
      if (this.prs.config.autoLeave && index >= this.pendingConfIndex && this.state === RaftState.Leader) {
        // The joint configuration we are in asks to be left automatically, and its entry is
        // applied: propose the empty ConfChangeV2 that leaves it. A leadership transfer in
        // progress drops it; it is then retried on a later advance.
        const ent = newEntry({ Type: raftpb.EntryType.EntryConfChangeV2 });
        try {
          this.step(newMessage({ type: MT.MsgProp, from: this.id, entries: [ent] }));
          this.logger.info(`initiating automatic transition out of joint configuration ${this.prs.config.toString()}`);
        } catch (err) {
          if (err !== ErrProposalDropped) throw err;
          this.logger.debug(`not initiating automatic transition out of joint configuration ${this.prs.config.toString()}: ${String(err)}`);
        }
      }
    }
    this.reduceUncommittedSize(args.committedEntries);
    if (args.stableEntry !== undefined) this.raftLog.stableTo(args.stableEntry.index, args.stableEntry.term);
    if (args.stableSnapIndex > 0n) this.raftLog.stableSnapTo(args.stableSnapIndex);
  }

  /** Advances the commit index to what a quorum has matched (current-term entries only). */
  maybeCommit(): boolean {
    const mci = this.prs.committed();
    return this.raftLog.maybeCommit(mci, this.term);
  }

  /** Common part of every role change: new term (clearing the vote), timers, progress. */
  reset(term: bigint): void {
    if (this.term !== term) {
      this.term = term;
      this.vote = None;
    }
    this.lead = None;
    this.electionElapsed = 0;
    this.heartbeatElapsed = 0;
    this.resetRandomizedElectionTimeout();
    this.abortLeaderTransfer();
    this.prs.resetVotes();
    const last = this.raftLog.lastIndex();
    for (const [id, pr] of this.prs.progress) {
      this.prs.progress.set(
        id,
        new Progress({
          match: id === this.id ? last : 0n,
          next: last + 1n,
          inflights: new Inflights(this.prs.maxInflight),
          isLearner: pr.isLearner,
        }),
      );
    }
    this.pendingConfIndex = 0n;
    this.uncommittedSize = 0n;
    this.readOnly = new ReadOnly(this.readOnly.option);
  }

  /**
   * Leader: appends entries at the end of its log in the current term. Returns false (appending
   * nothing) when the uncommitted-size budget would be exceeded.
   */
  appendEntry(es: raftpb.Entry[]): boolean {
    const li = this.raftLog.lastIndex();
    const ents = es.map((e, i) => ({ ...e, Term: this.term, Index: li + 1n + BigInt(i) }));
    if (!this.increaseUncommittedSize(ents)) {
      this.logger.debug(
        `${this.id.toString(16)} appending new entries to log would exceed uncommitted entry size limit; dropping proposal`,
      );
      return false;
    }
    const newLast = this.raftLog.append(ents);
    this.prs.progress.get(this.id)?.maybeUpdate(newLast);
    // The caller broadcasts regardless; a single-voter cluster commits right here.
    this.maybeCommit();
    return true;
  }

  /** Followers and candidates: count towards the (randomized) election timeout. */
  tickElection(): void {
    this.electionElapsed++;
    if (this.promotable() && this.pastElectionTimeout()) {
      this.electionElapsed = 0;
      this.step(newMessage({ from: this.id, type: MT.MsgHup }));
    }
  }

  /** Leader: heartbeat timer, plus check-quorum and transfer-abort on election timeouts. */
  tickHeartbeat(): void {
    this.heartbeatElapsed++;
    this.electionElapsed++;

    if (this.electionElapsed >= this.electionTimeout) {
      this.electionElapsed = 0;
      if (this.checkQuorum) this.step(newMessage({ from: this.id, type: MT.MsgCheckQuorum }));
      // A transfer that did not finish within an election timeout is abandoned.
      if (this.state === RaftState.Leader && this.leadTransferee !== None) this.abortLeaderTransfer();
    }

    if (this.state !== RaftState.Leader) return;

    if (this.heartbeatElapsed >= this.heartbeatTimeout) {
      this.heartbeatElapsed = 0;
      this.step(newMessage({ from: this.id, type: MT.MsgBeat }));
    }
  }

  becomeFollower(term: bigint, lead: bigint): void {
    this.stepFn = (m) => this.stepFollower(m);
    this.reset(term);
    this.tickFn = () => this.tickElection();
    this.lead = lead;
    this.state = RaftState.Follower;
    this.logger.info(`${this.id.toString(16)} became follower at term ${this.term}`);
  }

  becomeCandidate(): void {
    if (this.state === RaftState.Leader) panic('invalid transition [leader -> candidate]');
    this.stepFn = (m) => this.stepCandidate(m);
    this.reset(this.term + 1n);
    this.tickFn = () => this.tickElection();
    this.vote = this.id;
    this.state = RaftState.Candidate;
    this.logger.info(`${this.id.toString(16)} became candidate at term ${this.term}`);
  }

  /** Pre-candidate: like a candidate, but neither the term nor the vote changes (§9.6). */
  becomePreCandidate(): void {
    if (this.state === RaftState.Leader) panic('invalid transition [leader -> pre-candidate]');
    this.stepFn = (m) => this.stepCandidate(m);
    this.prs.resetVotes();
    this.tickFn = () => this.tickElection();
    this.lead = None;
    this.state = RaftState.PreCandidate;
    this.logger.info(`${this.id.toString(16)} became pre-candidate at term ${this.term}`);
  }

  becomeLeader(): void {
    if (this.state === RaftState.Follower) panic('invalid transition [follower -> leader]');
    this.stepFn = (m) => this.stepLeader(m);
    this.reset(this.term);
    this.tickFn = () => this.tickHeartbeat();
    this.lead = this.id;
    this.state = RaftState.Leader;
    // The leader trivially has its own log: it replicates to itself.
    this.prs.progress.get(this.id)?.becomeReplicate();

    // Any entry in our log may be an unapplied conf change; be conservative and refuse new conf
    // changes until everything up to the current last index is applied.
    this.pendingConfIndex = this.raftLog.lastIndex();

    // An empty entry of the new term: committing it commits everything before it (§5.4.2) and
    // tells us our commit index is current (needed for read index, §6.4).
    const empty = newEntry();
    if (!this.appendEntry([empty])) panic('empty entry was dropped');
    // The empty entry does not count against the uncommitted budget.
    this.reduceUncommittedSize([empty]);
    this.logger.info(`${this.id.toString(16)} became leader at term ${this.term}`);
  }

  /** Starts a (pre-)election: vote for ourselves and request votes from every other voter. */
  campaign(t: CampaignType): void {
    // Both kinds of election ask for term + 1: past maxTerm it could not be persisted or sent.
    if (this.term >= maxTerm) {
      this.logger.error(`${this.id.toString(16)} cannot campaign: term ${this.term} has reached the maximum term ${maxTerm}`);
      return;
    }
    if (!this.promotable()) {
      this.logger.warn(`${this.id.toString(16)} is unpromotable; campaign() should have been called`);
    }
    let term: bigint;
    let voteMsg: raftpb.MessageType;
    if (t === CampaignType.PreElection) {
      this.becomePreCandidate();
      voteMsg = MT.MsgPreVote;
      // Pre-votes are requested for the term we would campaign in, without adopting it.
      term = this.term + 1n;
    } else {
      this.becomeCandidate();
      voteMsg = MT.MsgVote;
      term = this.term;
    }
    if (this.poll(this.id, voteRespMsgType(voteMsg), true).result === VoteResult.VoteWon) {
      // Our own vote is a quorum: single-voter cluster.
      if (t === CampaignType.PreElection) this.campaign(CampaignType.Election);
      else this.becomeLeader();
      return;
    }
    const lastIndex = this.raftLog.lastIndex();
    const lastTerm = this.raftLog.lastTerm();
    for (const id of this.prs.voterNodes()) {
      if (id === this.id) continue;
      this.logger.info(
        `${this.id.toString(16)} [logterm: ${lastTerm}, index: ${lastIndex}] sent ${raftpb.messageTypeToJSON(voteMsg)} request to ${id.toString(16)} at term ${this.term}`,
      );
      this.send({
        term,
        to: id,
        type: voteMsg,
        index: lastIndex,
        logTerm: lastTerm,
        context: t === CampaignType.Transfer ? CAMPAIGN_TRANSFER_CTX : Buffer.alloc(0),
      });
    }
  }

  /** Records a vote and tallies the election. */
  poll(id: bigint, t: raftpb.MessageType, v: boolean): { granted: number; rejected: number; result: VoteResult } {
    const name = raftpb.messageTypeToJSON(t);
    if (v) this.logger.info(`${this.id.toString(16)} received ${name} from ${id.toString(16)} at term ${this.term}`);
    else this.logger.info(`${this.id.toString(16)} received ${name} rejection from ${id.toString(16)} at term ${this.term}`);
    this.prs.recordVote(id, v);
    return this.prs.tallyVotes();
  }

  /**
   * The single entry point for messages, local (term 0) and remote. Handles terms first
   * (stepping down on a higher term, answering or ignoring lower ones), then elections and votes,
   * then dispatches to the role's step function. Throws ErrProposalDropped for proposals that
   * cannot be accepted.
   */
  step(m: raftpb.Message): void {
    if (m.term > maxTerm) {
      // Only a forged or corrupted message carries one (the transport refuses them already).
      this.logger.warn(
        `${this.id.toString(16)} ignored a ${raftpb.messageTypeToJSON(m.type)} message from ${m.from.toString(16)} with term ${m.term} above the maximum term ${maxTerm}`,
      );
      return;
    }
    if (m.term === 0n) {
      // Local message (or proposal / read index forwarded as one).
    } else if (m.term > this.term) {
      if (m.type === MT.MsgVote || m.type === MT.MsgPreVote) {
        const force = m.context.equals(CAMPAIGN_TRANSFER_CTX);
        const inLease = this.checkQuorum && this.lead !== None && this.electionElapsed < this.electionTimeout;
        if (!force && inLease) {
          // We heard from a live leader within the minimum election timeout: neither update our
          // term nor grant the vote (§6 of the paper: disruption by removed servers).
          this.logger.info(
            `${this.id.toString(16)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote.toString(16)}] ignored ${raftpb.messageTypeToJSON(m.type)} from ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}: lease is not expired (remaining ticks: ${this.electionTimeout - this.electionElapsed})`,
          );
          return;
        }
      }
      if (m.type === MT.MsgPreVote) {
        // Never change our term in response to a pre-vote request.
      } else if (m.type === MT.MsgPreVoteResp && !m.reject) {
        // A granted pre-vote carries the term we will campaign in; we adopt it only once a quorum
        // granted. A rejection carries the rejecter's term and makes us follow it (below).
      } else {
        this.logger.info(
          `${this.id.toString(16)} [term: ${this.term}] received a ${raftpb.messageTypeToJSON(m.type)} message with higher term from ${m.from.toString(16)} [term: ${m.term}]`,
        );
        if (m.type === MT.MsgApp || m.type === MT.MsgHeartbeat || m.type === MT.MsgSnap) {
          this.becomeFollower(m.term, m.from);
        } else {
          this.becomeFollower(m.term, None);
        }
      }
    } else if (m.term < this.term) {
      if (m.type === MT.MsgHeartbeat || m.type === MT.MsgApp) {
        // A leader of an older term is talking to us (§5.1: reject, naming our term). Perhaps only
        // a delayed message, but perhaps we advanced our term while partitioned and can neither
        // win nor rejoin: with check-quorum or pre-vote our higher term would otherwise never
        // reach it. Without them too (unlike etcd, which then relies on our vote requests
        // reaching the stale leader): a member campaigning with an outdated configuration may
        // never ask it. Answer so that it steps down and a fresh election can include us.
        // (Found by the simulation, seed 13187 with 3 nodes: the leader of the current
        // configuration sat at term 6 forever while its only other voter, restarted with an old
        // configuration, campaigned up to term 47 among nodes that could not elect it.)
        this.send({ to: m.from, type: MT.MsgAppResp });
      } else if (m.type === MT.MsgVote) {
        // §5.1: a request with a stale term is rejected, and the reply's term makes the candidate
        // catch up. (etcd ignores it instead. Found by the simulation, seed 318 with 3 nodes and
        // pre-vote off: the only member able to win sat at a lower term than a member that had
        // slept through the configuration change and did not even know it; neither could ever
        // win, since the sleeper only asked its old peers and ignored the lower-term requests.)
        this.logger.info(
          `${this.id.toString(16)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote.toString(16)}] rejected ${raftpb.messageTypeToJSON(m.type)} from ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
        );
        this.send({ to: m.from, term: this.term, type: MT.MsgVoteResp, reject: true });
      } else if (m.type === MT.MsgPreVote) {
        // Reject explicitly, or a pre-candidate with a stale term but a current log could wait
        // forever (a deadlock when enabling pre-vote on a running cluster).
        this.logger.info(
          `${this.id.toString(16)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote.toString(16)}] rejected ${raftpb.messageTypeToJSON(m.type)} from ${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`,
        );
        this.send({ to: m.from, term: this.term, type: MT.MsgPreVoteResp, reject: true });
      } else {
        this.logger.info(
          `${this.id.toString(16)} [term: ${this.term}] ignored a ${raftpb.messageTypeToJSON(m.type)} message with lower term from ${m.from.toString(16)} [term: ${m.term}]`,
        );
      }
      return;
    }

    switch (m.type) {
      case MT.MsgHup:
        this.hup();
        return;
      case MT.MsgVote:
      case MT.MsgPreVote:
        this.handleVoteRequest(m);
        return;
      default:
        this.stepFn(m);
    }
  }

  /** Starts an election unless we are leader, cannot be promoted, or have unapplied conf changes. */
  private hup(): void {
    if (this.state === RaftState.Leader) {
      this.logger.debug(`${this.id.toString(16)} ignoring MsgHup because already leader`);
      return;
    }
    if (!this.promotable()) {
      this.logger.warn(`${this.id.toString(16)} is unpromotable and can not campaign; ignoring MsgHup`);
      return;
    }
    // A committed but unapplied conf change could change whether we may campaign at all.
    if (this.raftLog.committed > this.raftLog.applied) {
      const ents = this.raftLog.slice(this.raftLog.applied + 1n, this.raftLog.committed + 1n, noLimit);
      const n = numOfPendingConf(ents);
      if (n !== 0) {
        this.logger.warn(
          `${this.id.toString(16)} cannot campaign at term ${this.term} since there are still ${n} pending configuration changes to apply`,
        );
        return;
      }
    }
    this.logger.info(`${this.id.toString(16)} is starting a new election at term ${this.term}`);
    this.campaign(this.preVote ? CampaignType.PreElection : CampaignType.Election);
  }

  /**
   * Votes (§5.2, §5.4.1): grant if we can still vote for this candidate in this term (or it is a
   * pre-vote for a later term) and its log is at least as up to date as ours.
   */
  private handleVoteRequest(m: raftpb.Message): void {
    const canVote =
      // A repeat of the vote we already cast...
      this.vote === m.from ||
      // ...or we have not voted and know of no leader in this term...
      (this.vote === None && this.lead === None) ||
      // ...or a pre-vote for a future term.
      (m.type === MT.MsgPreVote && m.term > this.term);
    const name = raftpb.messageTypeToJSON(m.type);
    const me = `${this.id.toString(16)} [logterm: ${this.raftLog.lastTerm()}, index: ${this.raftLog.lastIndex()}, vote: ${this.vote.toString(16)}]`;
    const them = `${m.from.toString(16)} [logterm: ${m.logTerm}, index: ${m.index}] at term ${this.term}`;
    if (canVote && this.raftLog.isUpToDate(m.index, m.logTerm)) {
      // Learners vote too: a learner promoted by a committed conf change it has not yet seen may
      // be needed for a quorum; a vote request tells it the candidate considers it a voter.
      this.logger.info(`${me} cast ${name} for ${them}`);
      // Answer with the request's term, not ours: for a pre-vote ours may be lower, and the
      // pre-candidate would ignore a response from an older term.
      this.send({ to: m.from, term: m.term, type: voteRespMsgType(m.type) });
      if (m.type === MT.MsgVote) {
        // Only real votes are recorded (and reset the election timer).
        this.electionElapsed = 0;
        this.vote = m.from;
      }
    } else {
      this.logger.info(`${me} rejected ${name} from ${them}`);
      // A rejection names our term. Only a pre-vote can reach us while our term is still 0 (a
      // real vote makes us adopt its term first): a node whose crash kept appended entries but
      // lost the hard state naming their term can have a log newer than a pre-candidate's while it
      // has no term to name. Silence then is just a lost message. (Found by the simulation, seed
      // 2985 with 5 nodes: the term-0 rejection was a RaftPanic.)
      if (this.term === 0n) return;
      this.send({ to: m.from, term: this.term, type: voteRespMsgType(m.type), reject: true });
    }
  }

  // ---- leader --------------------------------------------------------------------------------

  private stepLeader(m: raftpb.Message): void {
    // Messages that need no progress for m.from.
    switch (m.type) {
      case MT.MsgBeat:
        this.bcastHeartbeat();
        return;
      case MT.MsgCheckQuorum: {
        // We always count ourselves as active (if still a member).
        const self = this.prs.progress.get(this.id);
        if (self !== undefined) self.recentActive = true;
        if (!this.prs.quorumActive()) {
          this.logger.warn(`${this.id.toString(16)} stepped down to follower since quorum is not active`);
          this.becomeFollower(this.term, None);
        }
        // Everyone else must prove liveness again before the next check.
        this.prs.visit((id, pr) => {
          if (id !== this.id) pr.recentActive = false;
        });
        return;
      }
      case MT.MsgProp:
        this.leaderPropose(m);
        return;
      case MT.MsgReadIndex:
        // With a single voter, the commit index is trivially confirmed.
        if (this.prs.isSingleton()) {
          const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
          if (resp !== undefined) this.send(resp);
          return;
        }
        // Until an entry of our term is committed, our commit index may lag behind the real one
        // (§6.4 step 1): postpone.
        if (!this.committedEntryInCurrentTerm()) {
          this.pendingReadIndexMessages.push(m);
          return;
        }
        this.sendMsgReadIndexResponse(m);
        return;
    }

    // All other messages require a progress for m.from.
    const pr = this.prs.progress.get(m.from);
    if (pr === undefined) {
      this.logger.debug(`${this.id.toString(16)} no progress available for ${m.from.toString(16)}`);
      return;
    }
    switch (m.type) {
      case MT.MsgAppResp:
        this.handleAppendResponse(m, pr);
        return;
      case MT.MsgHeartbeatResp:
        this.handleHeartbeatResponse(m, pr);
        return;
      case MT.MsgSnapStatus:
        if (pr.state !== ProgressState.StateSnapshot) return;
        if (!m.reject) {
          pr.becomeProbe();
          this.logger.debug(
            `${this.id.toString(16)} snapshot succeeded, resumed sending replication messages to ${m.from.toString(16)} [${pr.toString()}]`,
          );
        } else {
          // Forget the snapshot first, or probing would start after an index never installed.
          pr.pendingSnapshot = 0n;
          pr.becomeProbe();
          this.logger.debug(
            `${this.id.toString(16)} snapshot failed, resumed sending replication messages to ${m.from.toString(16)} [${pr.toString()}]`,
          );
        }
        // Success: wait for the follower's MsgAppResp before appending. Failure: wait for the
        // next heartbeat response before retrying.
        pr.probeSent = true;
        return;
      case MT.MsgUnreachable:
        // An optimistic append was probably lost: go back to probing.
        if (pr.state === ProgressState.StateReplicate) pr.becomeProbe();
        this.logger.debug(
          `${this.id.toString(16)} failed to send message to ${m.from.toString(16)} because it is unreachable [${pr.toString()}]`,
        );
        return;
      case MT.MsgTransferLeader:
        this.handleTransferLeader(m, pr);
        return;
      default:
        return;
    }
  }

  /** Leader: append proposed entries (screening conf changes) and replicate them. */
  private leaderPropose(m: raftpb.Message): void {
    if (m.entries.length === 0) panic(`${this.id.toString(16)} stepped empty MsgProp`);
    if (!this.prs.progress.has(this.id)) {
      // We were removed from the configuration while leading: take no new proposals.
      throw ErrProposalDropped;
    }
    if (this.leadTransferee !== None) {
      this.logger.debug(
        `${this.id.toString(16)} [term ${this.term}] transfer leadership to ${this.leadTransferee.toString(16)} is in progress; dropping proposal`,
      );
      throw ErrProposalDropped;
    }

    const entries = m.entries.slice();
    for (let i = 0; i < entries.length; i++) {
      const cc = entryConfChangeV2(entries[i]);
      if (cc === undefined) continue;
      const alreadyPending = this.pendingConfIndex > this.raftLog.applied;
      const alreadyJoint = this.prs.config.voters.outgoing.size > 0;
      const wantsLeaveJoint = cc.changes.length === 0;
      let refused = '';
      if (alreadyPending) {
        refused = `possible unapplied conf change at index ${this.pendingConfIndex} (applied to ${this.raftLog.applied})`;
      } else if (alreadyJoint && !wantsLeaveJoint) {
        refused = 'must transition out of joint config first';
      } else if (!alreadyJoint && wantsLeaveJoint) {
        refused = 'not in joint state; refusing empty conf change';
      }
      if (refused !== '') {
        // Keep the slot (the proposer may be waiting on its index) but neutralize the change.
        this.logger.info(`${this.id.toString(16)} ignoring conf change at config ${this.prs.config.toString()}: ${refused}`);
        entries[i] = newEntry({ Type: raftpb.EntryType.EntryNormal });
      } else {
        this.pendingConfIndex = this.raftLog.lastIndex() + BigInt(i) + 1n;
      }
    }

    if (!this.appendEntry(entries)) throw ErrProposalDropped;
    this.bcastAppend();
  }

  /** Leader: a follower answered an append (§5.3). */
  private handleAppendResponse(m: raftpb.Message, pr: Progress): void {
    pr.recentActive = true;

    if (m.reject) {
      // The follower's log does not contain (m.index, term). Its hint names the largest index it
      // has whose term is <= the term we sent (m.logTerm carries that entry's term). Search our
      // own log for the last index at or below the hint whose term is <= the follower's term:
      // everything above it certainly differs, so the next probe can skip whole terms.
      this.logger.debug(
        `${this.id.toString(16)} received MsgAppResp(rejected, hint: (index ${m.rejectHint}, term ${m.logTerm})) from ${m.from.toString(16)} for index ${m.index}`,
      );
      let nextProbeIdx = m.rejectHint;
      if (m.logTerm > 0n) nextProbeIdx = this.raftLog.findConflictByTerm(m.rejectHint, m.logTerm);
      if (pr.maybeDecrTo(m.index, nextProbeIdx)) {
        this.logger.debug(`${this.id.toString(16)} decreased progress of ${m.from.toString(16)} to [${pr.toString()}]`);
        if (pr.state === ProgressState.StateReplicate) pr.becomeProbe();
        this.sendAppend(m.from);
      }
      return;
    }

    const oldPaused = pr.isPaused();
    if (!pr.maybeUpdate(m.index)) return;

    if (pr.state === ProgressState.StateProbe) {
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.StateSnapshot && pr.match >= pr.pendingSnapshot) {
      // The follower caught up past the snapshot: resume normal replication (through probe,
      // which accounts for the snapshot index).
      this.logger.debug(
        `${this.id.toString(16)} recovered from needing snapshot, resumed sending replication messages to ${m.from.toString(16)} [${pr.toString()}]`,
      );
      pr.becomeProbe();
      pr.becomeReplicate();
    } else if (pr.state === ProgressState.StateReplicate) {
      pr.inflights.freeLE(m.index);
    }

    if (this.maybeCommit()) {
      // Our term's entry got committed: read requests held back may be answered now.
      this.releasePendingReadIndexMessages();
      this.bcastAppend();
    } else if (oldPaused) {
      // It was paused and may have missed our latest commit index.
      this.sendAppend(m.from);
    }
    // The window may have opened enough for several (size-limited) appends: send what we can,
    // without empty appends.
    while (this.maybeSendAppend(m.from, false)) {
      // keep sending
    }
    // A transfer target that just caught up can take over now.
    if (m.from === this.leadTransferee && pr.match === this.raftLog.lastIndex()) {
      this.logger.info(`${this.id.toString(16)} sent MsgTimeoutNow to ${m.from.toString(16)} after received MsgAppResp`);
      this.sendTimeoutNow(m.from);
    }
  }

  /** Leader: heartbeat acknowledged; also counts as an ack of a pending read-index context. */
  private handleHeartbeatResponse(m: raftpb.Message, pr: Progress): void {
    pr.recentActive = true;
    pr.probeSent = false;

    // A full window may have lost its acks: free one slot so replication can make progress.
    if (pr.state === ProgressState.StateReplicate && pr.inflights.full()) pr.inflights.freeFirstOne();
    if (pr.match < this.raftLog.lastIndex()) this.sendAppend(m.from);

    if (this.readOnly.option !== ReadOnlyOption.Safe || m.context.length === 0) return;
    const acks = this.readOnly.recvAck(m.from, m.context);
    if (acks === undefined || this.prs.config.voters.voteResult(acks) !== VoteResult.VoteWon) return;

    for (const rs of this.readOnly.advance(m)) {
      const resp = this.responseToReadIndexReq(rs.req, rs.index);
      if (resp !== undefined) this.send(resp);
    }
  }

  /** Leader: start transferring leadership to m.from (thesis §3.10). */
  private handleTransferLeader(m: raftpb.Message, pr: Progress): void {
    if (pr.isLearner) {
      this.logger.debug(`${this.id.toString(16)} is learner. Ignored transferring leadership`);
      return;
    }
    const leadTransferee = m.from;
    const last = this.leadTransferee;
    if (last !== None) {
      if (last === leadTransferee) {
        this.logger.info(
          `${this.id.toString(16)} [term ${this.term}] transfer leadership to ${leadTransferee.toString(16)} is in progress, ignores request to same node ${leadTransferee.toString(16)}`,
        );
        return;
      }
      this.abortLeaderTransfer();
      this.logger.info(`${this.id.toString(16)} [term ${this.term}] abort previous transferring leadership to ${last.toString(16)}`);
    }
    if (leadTransferee === this.id) {
      this.logger.debug(`${this.id.toString(16)} is already leader. Ignored transferring leadership to self`);
      return;
    }
    this.logger.info(`${this.id.toString(16)} [term ${this.term}] starts to transfer leadership to ${leadTransferee.toString(16)}`);
    // The transfer must complete within one election timeout.
    this.electionElapsed = 0;
    this.leadTransferee = leadTransferee;
    if (pr.match === this.raftLog.lastIndex()) {
      this.sendTimeoutNow(leadTransferee);
      this.logger.info(
        `${this.id.toString(16)} sends MsgTimeoutNow to ${leadTransferee.toString(16)} immediately as ${leadTransferee.toString(16)} already has up-to-date log`,
      );
    } else {
      // Bring it up to date first; MsgTimeoutNow follows its catching-up MsgAppResp.
      this.sendAppend(leadTransferee);
    }
  }

  // ---- candidate / pre-candidate ------------------------------------------------------------

  /** Shared by Candidate and PreCandidate; each counts only its own kind of vote response. */
  private stepCandidate(m: raftpb.Message): void {
    // In Candidate state, late pre-vote responses of this term are ignored (and vice versa).
    const myVoteRespType = this.state === RaftState.PreCandidate ? MT.MsgPreVoteResp : MT.MsgVoteResp;
    switch (m.type) {
      case MT.MsgProp:
        this.logger.info(`${this.id.toString(16)} no leader at term ${this.term}; dropping proposal`);
        throw ErrProposalDropped;
      case MT.MsgApp:
        // A leader exists for our term (m.term === term here): follow it.
        this.becomeFollower(m.term, m.from);
        this.handleAppendEntries(m);
        return;
      case MT.MsgHeartbeat:
        this.becomeFollower(m.term, m.from);
        this.handleHeartbeat(m);
        return;
      case MT.MsgSnap:
        this.becomeFollower(m.term, m.from);
        this.handleSnapshot(m);
        return;
      case myVoteRespType: {
        const { granted, rejected, result } = this.poll(m.from, m.type, !m.reject);
        this.logger.info(
          `${this.id.toString(16)} has received ${granted} ${raftpb.messageTypeToJSON(m.type)} votes and ${rejected} vote rejections`,
        );
        if (result === VoteResult.VoteWon) {
          if (this.state === RaftState.PreCandidate) {
            this.campaign(CampaignType.Election);
          } else {
            this.becomeLeader();
            this.bcastAppend();
          }
        } else if (result === VoteResult.VoteLost) {
          // A pre-vote response may carry a future term; we stay in ours.
          this.becomeFollower(this.term, None);
        }
        return;
      }
      case MT.MsgTimeoutNow:
        this.logger.debug(
          `${this.id.toString(16)} [term ${this.term} state ${raftStateString(this.state)}] ignored MsgTimeoutNow from ${m.from.toString(16)}`,
        );
        return;
      default:
        return;
    }
  }

  // ---- follower --------------------------------------------------------------------------

  private stepFollower(m: raftpb.Message): void {
    switch (m.type) {
      case MT.MsgProp:
        if (this.lead === None) {
          this.logger.info(`${this.id.toString(16)} no leader at term ${this.term}; dropping proposal`);
          throw ErrProposalDropped;
        } else if (this.disableProposalForwarding) {
          this.logger.info(
            `${this.id.toString(16)} not forwarding to leader ${this.lead.toString(16)} at term ${this.term}; dropping proposal`,
          );
          throw ErrProposalDropped;
        }
        this.send({ ...m, to: this.lead, from: None, term: 0n });
        return;
      case MT.MsgApp:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleAppendEntries(m);
        return;
      case MT.MsgHeartbeat:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleHeartbeat(m);
        return;
      case MT.MsgSnap:
        this.electionElapsed = 0;
        this.lead = m.from;
        this.handleSnapshot(m);
        return;
      case MT.MsgTransferLeader:
        if (this.lead === None) {
          this.logger.info(`${this.id.toString(16)} no leader at term ${this.term}; dropping leader transfer msg`);
          return;
        }
        // Forwarded with its original sender (the transferee) intact.
        this.msgs.push({ ...newMessage(m), to: this.lead, term: this.term });
        return;
      case MT.MsgTimeoutNow:
        if (this.promotable()) {
          this.logger.info(
            `${this.id.toString(16)} [term ${this.term}] received MsgTimeoutNow from ${m.from.toString(16)} and starts an election to get leadership.`,
          );
          // No pre-vote for transfers: the old leader asked for this, there is no partition to
          // guard against.
          this.campaign(CampaignType.Transfer);
        } else {
          this.logger.info(`${this.id.toString(16)} received MsgTimeoutNow from ${m.from.toString(16)} but is not promotable`);
        }
        return;
      case MT.MsgReadIndex:
        if (this.lead === None) {
          this.logger.info(`${this.id.toString(16)} no leader at term ${this.term}; dropping index reading msg`);
          return;
        }
        this.send({ ...m, to: this.lead, from: None, term: 0n });
        return;
      case MT.MsgReadIndexResp:
        if (m.entries.length !== 1) {
          this.logger.error(
            `${this.id.toString(16)} invalid format of MsgReadIndexResp from ${m.from.toString(16)}, entries count: ${m.entries.length}`,
          );
          return;
        }
        this.readStates.push({ index: m.index, requestCtx: m.entries[0].Data });
        return;
      default:
        return;
    }
  }

  /** Follower side of AppendEntries (§5.3). */
  handleAppendEntries(m: raftpb.Message): void {
    if (m.index < this.raftLog.committed) {
      // Everything up to our commit index matches the leader's log already (Log Matching).
      this.send({ to: m.from, type: MT.MsgAppResp, index: this.raftLog.committed });
      return;
    }
    const last = this.raftLog.maybeAppend(m.index, m.logTerm, m.commit, m.entries);
    if (last !== undefined) {
      this.send({ to: m.from, type: MT.MsgAppResp, index: last });
      return;
    }
    // Consistency check failed. Hint the leader at the largest index <= m.index whose term is
    // <= m.logTerm: entries after it cannot match, so the leader may skip them all at once.
    const hintIndex = this.raftLog.findConflictByTerm(minBig(m.index, this.raftLog.lastIndex()), m.logTerm);
    // If that entry's term is unknown (compacted concurrently), send 0: the leader then falls back
    // to the plain index hint.
    const hintTerm = this.raftLog.termOrZero(hintIndex);
    this.logger.debug(
      `${this.id.toString(16)} [logterm: ${this.raftLog.termOrZero(m.index)}, index: ${m.index}] rejected MsgApp [logterm: ${m.logTerm}, index: ${m.index}] from ${m.from.toString(16)}`,
    );
    this.send({
      to: m.from,
      type: MT.MsgAppResp,
      index: m.index,
      reject: true,
      rejectHint: hintIndex,
      logTerm: hintTerm,
    });
  }

  /** Heartbeats carry a commit index the follower is known to have the entries for. */
  handleHeartbeat(m: raftpb.Message): void {
    this.raftLog.commitTo(m.commit);
    this.send({ to: m.from, type: MT.MsgHeartbeatResp, context: m.context });
  }

  handleSnapshot(m: raftpb.Message): void {
    const s = m.snapshot;
    if (s === undefined) return;
    const sindex = snapIndex(s);
    const sterm = snapTerm(s);
    if (this.restore(s)) {
      this.logger.info(`${this.id.toString(16)} [commit: ${this.raftLog.committed}] restored snapshot [index: ${sindex}, term: ${sterm}]`);
      this.send({ to: m.from, type: MT.MsgAppResp, index: this.raftLog.lastIndex() });
    } else {
      this.logger.info(`${this.id.toString(16)} [commit: ${this.raftLog.committed}] ignored snapshot [index: ${sindex}, term: ${sterm}]`);
      this.send({ to: m.from, type: MT.MsgAppResp, index: this.raftLog.committed });
    }
  }

  /**
   * Installs a snapshot: replaces the log and the configuration. Returns false if it was ignored
   * (not newer than our commit index, we are not a follower, we are not in its configuration, or
   * our log already contains its last entry, in which case we only fast-forward the commit).
   */
  restore(s: raftpb.Snapshot): boolean {
    const sindex = snapIndex(s);
    const sterm = snapTerm(s);
    if (sindex <= this.raftLog.committed) return false;
    if (this.raftLog.applying > this.raftLog.applied) {
      // The application holds committed entries of a Ready it has not acknowledged yet (messages
      // are being stepped while it handles that Ready). They may carry configuration changes it
      // will apply through applyConfChange: on top of the snapshot's configuration they would be
      // wrong, or invalid. Refuse for now; the leader sends the snapshot again. (Found by the
      // simulation with asynchronous Ready handling, seed 636 with 3 nodes: a restarted node
      // replaying a leave-joint change installed a snapshot before applying it.)
      this.logger.info(
        `${this.id.toString(16)} [commit: ${this.raftLog.committed}, applied: ${this.raftLog.applied}, applying: ${this.raftLog.applying}] ignored snapshot [index: ${sindex}, term: ${sterm}] while committed entries are being applied`,
      );
      return false;
    }
    if (this.state !== RaftState.Follower) {
      // Defensive: only followers install snapshots. Should never happen.
      this.logger.warn(`${this.id.toString(16)} attempted to restore snapshot as leader; should never happen`);
      this.becomeFollower(this.term + 1n, None);
      return false;
    }
    // Defensive: a snapshot whose configuration excludes us would leave us without progress.
    // In a joint configuration we may be only an outgoing voter (LearnersNext ⊆ VotersOutgoing).
    // (Found by the simulation, seed 31 with 3 nodes: checking only voters and learners left an
    // outgoing-only voter refusing every snapshot forever.)
    const cs = snapConfState(s);
    if (!cs.voters.includes(this.id) && !cs.learners.includes(this.id) && !cs.votersOutgoing.includes(this.id)) {
      this.logger.warn(
        `${this.id.toString(16)} attempted to restore snapshot but it is not in the ConfState ${describeConfState(cs)}; should never happen`,
      );
      return false;
    }

    if (this.raftLog.matchTerm(sindex, sterm)) {
      // We already have the snapshot's last entry: just commit up to it.
      this.logger.info(
        `${this.id.toString(16)} [commit: ${this.raftLog.committed}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}] fast-forwarded commit to snapshot [index: ${sindex}, term: ${sterm}]`,
      );
      this.raftLog.commitTo(sindex);
      return false;
    }

    this.raftLog.restore(s);

    // Rebuild the configuration from scratch.
    this.prs = new ProgressTracker(this.prs.maxInflight);
    const restored = restoreConfig(new Changer(this.prs, this.raftLog.lastIndex()), cs);
    this.assertConfStatesEquivalent(cs, this.switchToConfig(restored));

    const pr = this.prs.progress.get(this.id);
    if (pr !== undefined) pr.maybeUpdate(pr.next - 1n);

    this.logger.info(
      `${this.id.toString(16)} [commit: ${this.raftLog.committed}, lastindex: ${this.raftLog.lastIndex()}, lastterm: ${this.raftLog.lastTerm()}] restored snapshot [index: ${sindex}, term: ${sterm}]`,
    );
    return true;
  }

  /** Whether this node may become leader: it is a voter in the current configuration. */
  promotable(): boolean {
    const pr = this.prs.progress.get(this.id);
    return pr !== undefined && !pr.isLearner;
  }

  /**
   * Applies a committed configuration change (§6 / thesis §4): a simple change, entering a joint
   * configuration, or leaving it (the empty V2 change). Throws a ConfChangeError for an invalid
   * change. Returns the new ConfState.
   */
  applyConfChange(cc: raftpb.ConfChangeV2): raftpb.ConfState {
    const changer = new Changer(this.prs, this.raftLog.lastIndex());
    let r: ConfigAndProgress;
    if (confChangeLeaveJoint(cc)) {
      r = changer.leaveJoint();
    } else {
      const { autoLeave, ok } = confChangeEnterJoint(cc);
      r = ok ? changer.enterJoint(autoLeave, ...cc.changes) : changer.simple(...cc.changes);
    }
    return this.switchToConfig(r);
  }

  /**
   * Installs a configuration (from a ConfState or a conf change) and reacts to it: learner status
   * of this node, a possibly advanced commit index under the new quorum, probing of new peers, and
   * aborting a transfer to a removed node.
   */
  switchToConfig(r: ConfigAndProgress): raftpb.ConfState {
    this.prs.config = r.config;
    this.prs.progress = r.progress;

    this.logger.info(`${this.id.toString(16)} switched to configuration ${this.prs.config.toString()}`);
    const cs = this.prs.confState();
    const pr = this.prs.progress.get(this.id);

    // A node removed from the configuration is neither learner nor promotable; it stops
    // campaigning (tickElection checks promotable()).
    this.isLearner = pr !== undefined && pr.isLearner;

    if ((pr === undefined || this.isLearner) && this.state === RaftState.Leader) {
      // The leader was removed or demoted. Unless configured to step down, it keeps leading until a
      // new leader emerges (refusing proposals and no longer counting itself).
      if (this.stepDownOnRemoval) this.becomeFollower(this.term, None);
      return cs;
    }

    if (this.state !== RaftState.Leader || cs.voters.length === 0) return cs;

    if (this.maybeCommit()) {
      // The new quorum may commit more: tell everyone.
      this.bcastAppend();
    } else {
      // Probe new peers at once instead of waiting for the next heartbeat or proposal.
      this.prs.visit((id) => {
        if (id !== this.id) this.maybeSendAppend(id, false);
      });
    }
    // Abort a transfer to a node that is gone.
    if (this.leadTransferee !== None && !this.prs.progress.has(this.leadTransferee)) this.abortLeaderTransfer();
    return cs;
  }

  /** Restores the persisted HardState at startup. */
  loadState(hs: raftpb.HardState): void {
    if (hs.commit < this.raftLog.committed || hs.commit > this.raftLog.lastIndex()) {
      panic(`${this.id.toString(16)} state.commit ${hs.commit} is out of range [${this.raftLog.committed}, ${this.raftLog.lastIndex()}]`);
    }
    this.raftLog.committed = hs.commit;
    this.term = hs.term;
    this.vote = hs.vote;
  }

  pastElectionTimeout(): boolean {
    return this.electionElapsed >= this.randomizedElectionTimeout;
  }

  /** Draws a new election timeout in [electionTimeout, 2*electionTimeout) (§5.2: split votes). */
  resetRandomizedElectionTimeout(): void {
    this.randomizedElectionTimeout = this.electionTimeout + this.rand(this.electionTimeout);
  }

  sendTimeoutNow(to: bigint): void {
    this.send({ to, type: MT.MsgTimeoutNow });
  }

  abortLeaderTransfer(): void {
    this.leadTransferee = None;
  }

  /** Whether the entry at our commit index is from the current term. */
  committedEntryInCurrentTerm(): boolean {
    return this.raftLog.termOrZero(this.raftLog.committed) === this.term;
  }

  /**
   * Answer to a read-index request at readIndex: a ReadState if the request is our own, else a
   * MsgReadIndexResp to return to the requesting follower.
   */
  responseToReadIndexReq(req: raftpb.Message, readIndex: bigint): Partial<raftpb.Message> | undefined {
    if (req.from === None || req.from === this.id) {
      this.readStates.push({ index: readIndex, requestCtx: req.entries[0].Data });
      return undefined;
    }
    return { type: MT.MsgReadIndexResp, to: req.from, index: readIndex, entries: req.entries };
  }

  /** Leader: serve a read-index request according to the read-only option. */
  private sendMsgReadIndexResponse(m: raftpb.Message): void {
    if (this.readOnly.option === ReadOnlyOption.Safe) {
      // Record the commit index now; confirm leadership with a heartbeat round carrying the
      // request's context (§6.4 steps 2-3). Our own ack counts immediately.
      if (this.readOnly.addRequest(this.raftLog.committed, m) === 'conflict') {
        this.logger.warn(
          `${this.id.toString(16)} ignored a read-index request from ${m.from.toString(16)}: its context is already pending for another requester (contexts must be unique)`,
        );
        return;
      }
      this.readOnly.recvAck(this.id, m.entries[0].Data);
      this.bcastHeartbeatWithCtx(m.entries[0].Data);
    } else {
      // Lease-based: trust that no other leader can exist yet (requires check-quorum).
      const resp = this.responseToReadIndexReq(m, this.raftLog.committed);
      if (resp !== undefined) this.send(resp);
    }
  }

  private releasePendingReadIndexMessages(): void {
    if (!this.committedEntryInCurrentTerm()) {
      this.logger.error('pending MsgReadIndex should be released only after first commit in current term');
      return;
    }
    const msgs = this.pendingReadIndexMessages;
    this.pendingReadIndexMessages = [];
    for (const m of msgs) this.sendMsgReadIndexResponse(m);
  }

  /**
   * Adds the payload size of ents to the uncommitted tail, unless that would exceed the limit.
   * An empty tail accepts any single proposal, however large.
   */
  increaseUncommittedSize(ents: raftpb.Entry[]): boolean {
    let s = 0n;
    for (const e of ents) s += BigInt(payloadSize(e));
    if (this.uncommittedSize > 0n && this.uncommittedSize + s > this.maxUncommittedSize) return false;
    this.uncommittedSize += s;
    return true;
  }

  /** Committed entries leave the uncommitted tail (saturating at 0). */
  reduceUncommittedSize(ents: raftpb.Entry[]): void {
    if (this.uncommittedSize === 0n) return; // followers never track it
    let s = 0n;
    for (const e of ents) s += BigInt(payloadSize(e));
    this.uncommittedSize = s > this.uncommittedSize ? 0n : this.uncommittedSize - s;
  }
}

// RawNode: the application's handle on a raft node. Single-threaded and synchronous: the owner
// calls tick/step/propose/..., then drains a Ready (ready()), persists and applies it, and
// acknowledges it (advance()).

import { raftpb } from '@kv/api';
import { BootstrapError, ErrStepLocalMsg, ErrStepPeerNotFound } from './errors.js';
import { Raft, type Config } from './raft.js';
import type { ReadState } from './read_only.js';
import type { SoftState } from './state.js';
import { None, RaftState } from './state.js';
import { getBasicStatus, getStatus, type BasicStatus, type Status } from './status.js';
import type { Progress } from './tracker/index.js';
import {
  confChangeAsV2,
  type ConfChangeI,
  emptyHardState,
  isEmptyHardState,
  isEmptySnap,
  isHardStateEqual,
  isLocalMsg,
  isResponseMsg,
  marshalConfChange,
  newEntry,
  newMessage,
  snapIndex,
} from './util.js';

const MT = raftpb.MessageType;

/**
 * A batch of work for the application. Handle it in this order:
 *   1. persist `hardState` (if set), `entries` and `snapshot` (if set) — synchronously (fsync)
 *      when `mustSync`;
 *   2. send `messages` (only after step 1: they may promise what was just persisted);
 *   3. apply `snapshot` and then `committedEntries` to the state machine (conf-change entries via
 *      RawNode.applyConfChange); serve `readStates` once applied >= their index;
 *   4. call RawNode.advance(rd).
 */
export interface Ready {
  /** Leader/role, set only when it changed since the previous Ready. Never needs persisting. */
  softState?: SoftState;
  /** Term/vote/commit to persist, set only when it changed since the previous Ready. */
  hardState?: raftpb.HardState;
  /** Answers to readIndex requests (by request context). */
  readStates: ReadState[];
  /** Entries to append to stable storage (they may overwrite a suffix already stored). */
  entries: raftpb.Entry[];
  /** A snapshot received from the leader, to persist and install; undefined if none. */
  snapshot?: raftpb.Snapshot;
  /** Entries committed by a quorum and not yet applied, in log order, to apply now. */
  committedEntries: raftpb.Entry[];
  /**
   * Messages to send after persisting. After a MsgSnap is delivered (or fails), call
   * reportSnapshot; when a peer is unreachable, reportUnreachable.
   */
  messages: raftpb.Message[];
  /**
   * Whether the hard state and entries must be written synchronously: true iff entries are
   * appended or the term or vote changed (a changed commit index alone may be written lazily).
   */
  mustSync: boolean;
}

/** Outcome of sending a snapshot, for reportSnapshot. */
export enum SnapshotStatus {
  Finish = 1,
  Failure = 2,
}

/** Kind of replica in withProgress. */
export enum ProgressType {
  Peer = 0,
  Learner = 1,
}

/** An initial member for bootstrap(). */
export interface Peer {
  id: bigint;
  context?: Buffer;
}

/** Whether a write must be synchronous: entries appended, or term or vote changed. */
export function mustSync(st: raftpb.HardState, prev: raftpb.HardState, entsnum: number): boolean {
  return entsnum !== 0 || st.vote !== prev.vote || st.term !== prev.term;
}

/** Whether a Ready carries anything at all. */
export function readyContainsUpdates(rd: Ready): boolean {
  return (
    rd.softState !== undefined ||
    rd.hardState !== undefined ||
    rd.snapshot !== undefined ||
    rd.entries.length > 0 ||
    rd.committedEntries.length > 0 ||
    rd.messages.length > 0 ||
    rd.readStates.length > 0
  );
}

/** The highest index the application has applied once it handled rd (0 if rd applies nothing). */
function appliedCursor(rd: Ready): bigint {
  const n = rd.committedEntries.length;
  if (n > 0) return rd.committedEntries[n - 1].Index;
  if (rd.snapshot !== undefined) return snapIndex(rd.snapshot);
  return 0n;
}

function softStateEqual(a: SoftState, b: SoftState): boolean {
  return a.lead === b.lead && a.raftState === b.raftState;
}

export class RawNode {
  /** The state machine; exposed for tests and introspection. Do not mutate. */
  readonly raft: Raft;
  private prevSoftSt: SoftState;
  private prevHardSt: raftpb.HardState;

  /** Creates a node from config. Its storage provides the starting state (see bootstrap()). */
  constructor(config: Config) {
    this.raft = new Raft(config);
    this.prevSoftSt = this.raft.softState();
    this.prevHardSt = this.raft.hardState();
  }

  /**
   * Bootstraps a brand-new cluster member with an empty storage: appends one ConfChangeAddNode
   * entry per peer at term 1 (already committed) and applies them, so campaign() works at once.
   * The entries still appear in the next Ready (to persist and to apply). Prefer instead a storage
   * whose snapshot carries the initial ConfState.
   */
  bootstrap(peers: Peer[]): void {
    if (peers.length === 0) throw new BootstrapError('must provide at least one peer to Bootstrap');
    if (this.raft.raftLog.storage.lastIndex() !== 0n) throw new BootstrapError("can't bootstrap a nonempty Storage");
    // Nothing was persisted yet; the first Ready must carry the HardState.
    this.prevHardSt = emptyHardState();
    this.raft.becomeFollower(1n, None);
    const ents = peers.map((p, i) => {
      const cc: raftpb.ConfChange = {
        type: raftpb.ConfChangeType.ConfChangeAddNode,
        nodeId: p.id,
        context: p.context ?? Buffer.alloc(0),
        id: 0n,
      };
      const { type, data } = marshalConfChange(cc);
      return newEntry({ Type: type, Term: 1n, Index: BigInt(i + 1), Data: data });
    });
    this.raft.raftLog.append(ents);
    // The entries are committed (but not applied: the application sees them in committedEntries
    // and applies them again, which is harmless for additions).
    this.raft.raftLog.committed = BigInt(ents.length);
    for (const p of peers) {
      this.raft.applyConfChange(
        confChangeAsV2({ type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: p.id, context: Buffer.alloc(0), id: 0n }),
      );
    }
  }

  /** Advances the logical clock by one tick. */
  tick(): void {
    this.raft.tick();
  }

  /**
   * Counts a tick towards the election timeout only, without heartbeats or elections. For groups
   * known to be idle ("quiesced"); use with care.
   */
  tickQuiesced(): void {
    this.raft.electionElapsed++;
  }

  /** Starts an election now (pre-vote first if enabled). */
  campaign(): void {
    this.raft.step(newMessage({ type: MT.MsgHup }));
  }

  /** Proposes data for the log. Throws ErrProposalDropped if it cannot be accepted now. */
  propose(data: Buffer | Uint8Array): void {
    this.raft.step(
      newMessage({
        type: MT.MsgProp,
        from: this.raft.id,
        entries: [newEntry({ Data: Buffer.from(data) })],
      }),
    );
  }

  /**
   * Proposes a configuration change (V1 ConfChange or ConfChangeV2). It may be dropped
   * (ErrProposalDropped) or neutralized into an empty normal entry by the leader if another change
   * is still pending or the joint state does not allow it.
   */
  proposeConfChange(cc: ConfChangeI): void {
    const { type, data } = marshalConfChange(cc);
    this.raft.step(newMessage({ type: MT.MsgProp, entries: [newEntry({ Type: type, Data: data })] }));
  }

  /**
   * Applies a committed conf change to this node's configuration; call it for every conf-change
   * entry in committedEntries, in order. Returns the resulting ConfState (to store with
   * snapshots). Throws a ConfChangeError for an invalid change.
   */
  applyConfChange(cc: ConfChangeI): raftpb.ConfState {
    return this.raft.applyConfChange(confChangeAsV2(cc));
  }

  /**
   * Delivers a message received from a peer. Throws ErrStepLocalMsg for local-only types and
   * ErrStepPeerNotFound for a response from a node not in the configuration.
   */
  step(m: raftpb.Message): void {
    if (isLocalMsg(m.type)) throw ErrStepLocalMsg;
    if (this.raft.prs.progress.has(m.from) || !isResponseMsg(m.type)) {
      this.raft.step(m);
      return;
    }
    throw ErrStepPeerNotFound;
  }

  /** Collects pending work. It must be handled and then passed to advance(). */
  ready(): Ready {
    const r = this.raft;
    const rd: Ready = {
      readStates: r.readStates,
      entries: r.raftLog.unstableEntries(),
      committedEntries: r.raftLog.nextEnts(),
      messages: r.msgs,
      mustSync: false,
    };
    const ss = r.softState();
    if (!softStateEqual(ss, this.prevSoftSt)) rd.softState = ss;
    const hs = r.hardState();
    if (!isHardStateEqual(hs, this.prevHardSt)) rd.hardState = hs;
    const snap = r.raftLog.unstable.snapshot;
    if (snap !== undefined) rd.snapshot = snap;
    rd.mustSync = mustSync(hs, this.prevHardSt, rd.entries.length);

    // Accept: what was handed out is no longer pending here.
    if (rd.softState !== undefined) this.prevSoftSt = rd.softState;
    const n = rd.committedEntries.length;
    if (n > 0) r.raftLog.acceptApplying(rd.committedEntries[n - 1].Index);
    r.readStates = [];
    r.msgs = [];
    return rd;
  }

  /** Whether ready() would return anything (kept consistent with readyContainsUpdates). */
  hasReady(): boolean {
    const r = this.raft;
    if (!softStateEqual(r.softState(), this.prevSoftSt)) return true;
    const hs = r.hardState();
    if (!isEmptyHardState(hs) && !isHardStateEqual(hs, this.prevHardSt)) return true;
    if (!isEmptySnap(r.raftLog.unstable.snapshot)) return true;
    if (r.msgs.length > 0 || r.raftLog.unstableEntries().length > 0 || r.raftLog.hasNextEnts()) return true;
    return r.readStates.length !== 0;
  }

  /**
   * Acknowledges a handled Ready: its entries and snapshot are persisted, its committed entries
   * applied. May itself produce new work (e.g. the leader leaving a joint configuration).
   */
  advance(rd: Ready): void {
    if (rd.hardState !== undefined && !isEmptyHardState(rd.hardState)) this.prevHardSt = rd.hardState;
    const last = rd.entries.length > 0 ? rd.entries[rd.entries.length - 1] : undefined;
    this.raft.advance({
      appliedIndex: appliedCursor(rd),
      committedEntries: rd.committedEntries,
      stableEntry: last !== undefined ? { index: last.Index, term: last.Term } : undefined,
      stableSnapIndex: rd.snapshot !== undefined ? snapIndex(rd.snapshot) : 0n,
    });
  }

  /** Full status (progress of peers only on the leader). */
  status(): Status {
    return getStatus(this.raft);
  }

  basicStatus(): BasicStatus {
    return getBasicStatus(this.raft);
  }

  /** Visits every peer's progress (copies) with its kind. */
  withProgress(visitor: (id: bigint, typ: ProgressType, pr: Progress) => void): void {
    this.raft.prs.visit((id, pr) => {
      visitor(id, pr.isLearner ? ProgressType.Learner : ProgressType.Peer, pr.clone(true));
    });
  }

  /** The last message to `id` could not be delivered (the leader then probes it again). */
  reportUnreachable(id: bigint): void {
    this.raft.step(newMessage({ type: MT.MsgUnreachable, from: id }));
  }

  /** Reports whether the snapshot sent to `id` was installed or failed. */
  reportSnapshot(id: bigint, status: SnapshotStatus): void {
    this.raft.step(newMessage({ type: MT.MsgSnapStatus, from: id, reject: status === SnapshotStatus.Failure }));
  }

  /** Asks the leader to hand leadership to `transferee` (forwarded if we are a follower). */
  transferLeader(transferee: bigint): void {
    this.raft.step(newMessage({ type: MT.MsgTransferLeader, from: transferee }));
  }

  /**
   * Requests a linearizable read point. The answer arrives in a later Ready's readStates with the
   * same context; the read may be served once the application applied through its index.
   * Silently dropped if no leader is known (the caller retries after a timeout).
   */
  readIndex(rctx: Buffer): void {
    this.raft.step(newMessage({ type: MT.MsgReadIndex, entries: [newEntry({ Data: rctx })] }));
  }

  /** Whether this node currently believes it is the leader. */
  isLeader(): boolean {
    return this.raft.state === RaftState.Leader;
  }
}

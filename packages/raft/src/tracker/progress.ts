// Progress: the leader's view of one follower's replication state.

import { compareBigint } from '../quorum/quorum.js';
import { Inflights } from './inflights.js';

/** How the leader replicates to a follower. */
export enum StateType {
  /**
   * The follower's last index is unknown: the leader sends at most one append per heartbeat
   * interval and narrows down where the logs diverge.
   */
  StateProbe = 0,
  /** Steady state: the leader streams appends optimistically, bounded by the inflights window. */
  StateReplicate = 1,
  /** The follower needs a snapshot (the entries it lacks are compacted); appends are paused. */
  StateSnapshot = 2,
}

/** "StateProbe" | "StateReplicate" | "StateSnapshot". */
export function stateTypeString(s: StateType): string {
  return StateType[s] ?? `StateType(${s as number})`;
}

export interface ProgressInit {
  match?: bigint;
  next?: bigint;
  state?: StateType;
  pendingSnapshot?: bigint;
  recentActive?: boolean;
  probeSent?: boolean;
  isLearner?: boolean;
  /** Required: the window (its size is the max number of in-flight appends). */
  inflights: Inflights;
}

const max = (a: bigint, b: bigint): bigint => (a > b ? a : b);
const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/**
 * The leader's record of a follower (or learner).
 * Invariant: match < next (the leader never believes the follower has an entry it will resend).
 */
export class Progress {
  /** Highest index known to be replicated on the follower. */
  match: bigint;
  /** Index of the next entry to send. */
  next: bigint;
  state: StateType;
  /** In StateSnapshot: the index of the snapshot being sent (0 otherwise). */
  pendingSnapshot: bigint;
  /**
   * Set when the follower was heard from recently; the leader clears it every election timeout
   * (CheckQuorum). New peers start active so they don't cause the leader to step down at once.
   */
  recentActive: boolean;
  /**
   * In StateProbe: an append (probe) was sent and no reply has come yet; further appends pause
   * until a reply or the next heartbeat. (etcd ≥3.5 calls this msgAppFlowPaused.)
   */
  probeSent: boolean;
  /** The in-flight append window (used in StateReplicate). */
  inflights: Inflights;
  isLearner: boolean;

  constructor(init: ProgressInit) {
    this.match = init.match ?? 0n;
    this.next = init.next ?? 0n;
    this.state = init.state ?? StateType.StateProbe;
    this.pendingSnapshot = init.pendingSnapshot ?? 0n;
    this.recentActive = init.recentActive ?? false;
    this.probeSent = init.probeSent ?? false;
    this.isLearner = init.isLearner ?? false;
    this.inflights = init.inflights;
  }

  /**
   * A field-by-field copy. The Inflights object is shared unless `deep` is set (the config
   * changer only flips isLearner, so sharing the window is enough there).
   */
  clone(deep = false): Progress {
    return new Progress({
      match: this.match,
      next: this.next,
      state: this.state,
      pendingSnapshot: this.pendingSnapshot,
      recentActive: this.recentActive,
      probeSent: this.probeSent,
      isLearner: this.isLearner,
      inflights: deep ? this.inflights.clone() : this.inflights,
    });
  }

  /** Moves to `state`, clearing probeSent, pendingSnapshot and the inflights. */
  resetState(state: StateType): void {
    this.probeSent = false;
    this.pendingSnapshot = 0n;
    this.state = state;
    this.inflights.reset();
  }

  /** The follower answered the probe: appends may flow again. */
  probeAcked(): void {
    this.probeSent = false;
  }

  /**
   * Switches to probing, starting right after match. Coming from StateSnapshot, the snapshot is
   * assumed delivered, so probing starts after max(match, pendingSnapshot).
   */
  becomeProbe(): void {
    if (this.state === StateType.StateSnapshot) {
      const pending = this.pendingSnapshot;
      this.resetState(StateType.StateProbe);
      this.next = max(this.match + 1n, pending + 1n);
    } else {
      this.resetState(StateType.StateProbe);
      this.next = this.match + 1n;
    }
  }

  /** Switches to streaming appends, starting right after match. */
  becomeReplicate(): void {
    this.resetState(StateType.StateReplicate);
    this.next = this.match + 1n;
  }

  /** Switches to sending the snapshot at index `snapshotIndex`. */
  becomeSnapshot(snapshotIndex: bigint): void {
    this.resetState(StateType.StateSnapshot);
    this.pendingSnapshot = snapshotIndex;
  }

  /**
   * Handles an acknowledgement of index n (from a MsgAppResp). Raises match (returning true if it
   * grew, and then also acknowledging a probe) and makes sure next > n. Stale acks return false.
   */
  maybeUpdate(n: bigint): boolean {
    let updated = false;
    if (this.match < n) {
      this.match = n;
      updated = true;
      this.probeAcked();
    }
    if (this.next < n + 1n) this.next = n + 1n;
    return updated;
  }

  /** After sending entries up to n in StateReplicate: next moves past them optimistically. */
  optimisticUpdate(n: bigint): void {
    this.next = n + 1n;
  }

  /**
   * Handles a rejected append: `rejected` is the index the append was anchored at (the MsgApp's
   * index), `last` the follower's hint (its last index). Returns false if the rejection is stale.
   *
   * - StateReplicate: stale if rejected <= match; otherwise fall back to next = match + 1.
   * - StateProbe/Snapshot: only one probe is outstanding, so the rejection is current only if it
   *   is for next - 1; then next = min(rejected, last + 1) (at least 1) and the probe is done.
   */
  maybeDecrTo(rejected: bigint, last: bigint): boolean {
    if (this.state === StateType.StateReplicate) {
      if (rejected <= this.match) return false;
      this.next = this.match + 1n;
      return true;
    }
    if (this.next - 1n !== rejected) return false;
    this.next = min(rejected, last + 1n);
    if (this.next < 1n) this.next = 1n;
    this.probeSent = false;
    return true;
  }

  /**
   * Whether the leader should hold back appends to this peer: a probe is outstanding (Probe),
   * the window is full (Replicate), or a snapshot is in progress (Snapshot).
   */
  isPaused(): boolean {
    switch (this.state) {
      case StateType.StateProbe:
        return this.probeSent;
      case StateType.StateReplicate:
        return this.inflights.full();
      case StateType.StateSnapshot:
        return true;
      default:
        throw new Error('unexpected state');
    }
  }

  /** E.g. "StateReplicate match=5 next=6 learner paused pendingSnap=3 inactive inflight=2[full]". */
  toString(): string {
    let s = `${stateTypeString(this.state)} match=${this.match} next=${this.next}`;
    if (this.isLearner) s += ' learner';
    if (this.isPaused()) s += ' paused';
    if (this.pendingSnapshot > 0n) s += ` pendingSnap=${this.pendingSnapshot}`;
    if (!this.recentActive) s += ' inactive';
    const n = this.inflights.count();
    if (n > 0) {
      s += ` inflight=${n}`;
      if (this.inflights.full()) s += '[full]';
    }
    return s;
  }
}

/** Progress by peer id. */
export type ProgressMap = Map<bigint, Progress>;

/** One "id: progress" line per peer in id order (each line newline-terminated). */
export function progressMapString(m: ReadonlyMap<bigint, Progress>): string {
  let s = '';
  for (const id of [...m.keys()].sort(compareBigint)) s += `${id}: ${m.get(id)!.toString()}\n`;
  return s;
}

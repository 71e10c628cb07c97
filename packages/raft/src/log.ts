// RaftLog: the node's view of the log, stitched from the stable part (Storage, persisted by the
// application) and the unstable part (appended by raft, not yet persisted).
//
//   snapshot | firstIndex ... applied ... committed ... unstable.offset ... lastIndex
//   ^ storage.firstIndex()-1                           ^ first entry not yet persisted
//
// Indexes are 1-based; index 0 (or the snapshot index) is a sentinel whose term is known.

import type { raftpb } from '@kv/api';
import type { Storage } from './storage.js';
import { Unstable } from './log_unstable.js';
import { ErrCompacted, ErrUnavailable, panic } from './errors.js';
import { noLimit } from './state.js';
import { limitSize, maxBig, minBig, snapIndex } from './util.js';

/** Storage could not answer for an index it no longer (ErrCompacted) or not yet (ErrUnavailable) holds. */
export function isStorageGap(err: unknown): boolean {
  return err === ErrCompacted || err === ErrUnavailable;
}

export class RaftLog {
  /** Everything persisted and acknowledged (via advance) by the application. */
  readonly storage: Storage;
  /** Entries and/or snapshot not yet persisted. */
  readonly unstable: Unstable;
  /**
   * Highest index known to be stored on a quorum.
   * Invariant: applied <= committed <= lastIndex().
   * Invariant: committed never decreases (a committed entry is never truncated; an attempt to
   * append over a committed entry is a panic).
   */
  committed: bigint;
  /**
   * Highest index the application has applied to its state machine (as acknowledged by advance).
   * Invariant: applied <= committed. (Restoring a snapshot moves committed to the snapshot index;
   * applied catches up when the application acknowledges that snapshot in advance.)
   */
  applied: bigint;
  /**
   * Highest index handed to the application for applying (in a Ready not yet acknowledged by
   * advance); equals `applied` when nothing is outstanding. Invariant: applied <= applying <=
   * committed.
   */
  applying: bigint;
  /** Byte budget of the committed entries handed out in one Ready (nextEnts). */
  readonly maxNextEntsSize: bigint;

  constructor(storage: Storage, maxNextEntsSize: bigint = noLimit) {
    this.storage = storage;
    this.maxNextEntsSize = maxNextEntsSize;
    const firstIndex = storage.firstIndex();
    const lastIndex = storage.lastIndex();
    this.unstable = new Unstable(lastIndex + 1n);
    // Everything up to the snapshot is committed and applied by definition.
    this.committed = firstIndex - 1n;
    this.applied = firstIndex - 1n;
    this.applying = this.applied;
  }

  toString(): string {
    return `committed=${this.committed}, applied=${this.applied}, unstable.offset=${this.unstable.offset}, len(unstable.Entries)=${this.unstable.entries.length}`;
  }

  /**
   * The follower side of AppendEntries (§5.3): if our entry at `index` has term `logTerm`, accept
   * `ents` (which follow index), truncating at the first conflicting entry, and advance the commit
   * index to min(committed, index of the last new entry). Returns the last index covered by the
   * message, or undefined if the consistency check failed.
   */
  maybeAppend(index: bigint, logTerm: bigint, committed: bigint, ents: raftpb.Entry[]): bigint | undefined {
    if (!this.matchTerm(index, logTerm)) return undefined;
    const lastNewI = index + BigInt(ents.length);
    const ci = this.findConflict(ents);
    if (ci === 0n) {
      // All entries already present.
    } else if (ci <= this.committed) {
      panic(`entry ${ci} conflict with committed entry [committed(${this.committed})]`);
    } else {
      const offset = index + 1n;
      this.append(ents.slice(Number(ci - offset)));
    }
    // Never commit past what this message proves we share with the leader.
    this.commitTo(minBig(committed, lastNewI));
    return lastNewI;
  }

  /** Appends entries (truncating a conflicting unstable suffix); returns the new last index. */
  append(ents: raftpb.Entry[]): bigint {
    if (ents.length === 0) return this.lastIndex();
    const after = ents[0].Index - 1n;
    if (after < this.committed) {
      panic(`after(${after}) is out of range [committed(${this.committed})]`);
    }
    this.unstable.truncateAndAppend(ents);
    return this.lastIndex();
  }

  /**
   * The index of the first entry of `ents` that is new or conflicts with ours (same index,
   * different term), or 0 if all are already present. The entries must be contiguous.
   */
  findConflict(ents: raftpb.Entry[]): bigint {
    for (const ne of ents) {
      if (!this.matchTerm(ne.Index, ne.Term)) return ne.Index;
    }
    return 0n;
  }

  /**
   * Fast log backtracking: the largest index <= `index` whose term is <= `term` (or the first
   * index whose term is unknown because it was compacted). A follower rejecting an append at
   * (index, term) answers with this as a hint; the leader uses the same search on its own log
   * with the follower's hint, skipping whole terms instead of one entry per round trip.
   */
  findConflictByTerm(index: bigint, term: bigint): bigint {
    const li = this.lastIndex();
    if (index > li) return index;
    for (;;) {
      let logTerm: bigint;
      try {
        logTerm = this.term(index);
      } catch (err) {
        if (isStorageGap(err)) break;
        throw err;
      }
      if (logTerm <= term) break;
      index--;
    }
    return index;
  }

  /** The entries not yet persisted (Ready.entries). */
  unstableEntries(): raftpb.Entry[] {
    return this.unstable.entries;
  }

  /**
   * Committed entries not yet applied (Ready.committedEntries), limited to maxNextEntsSize bytes
   * (at least one entry).
   */
  nextEnts(): raftpb.Entry[] {
    const off = maxBig(this.applied + 1n, this.firstIndex());
    if (this.committed + 1n > off) {
      return this.slice(off, this.committed + 1n, this.maxNextEntsSize);
    }
    return [];
  }

  /** Whether nextEnts() would return anything. */
  hasNextEnts(): boolean {
    const off = maxBig(this.applied + 1n, this.firstIndex());
    return this.committed + 1n > off;
  }

  /** The pending unstable snapshot, else the storage's (may throw ErrSnapshotTemporarilyUnavailable). */
  snapshot(): raftpb.Snapshot {
    if (this.unstable.snapshot !== undefined) return this.unstable.snapshot;
    return this.storage.snapshot();
  }

  firstIndex(): bigint {
    return this.unstable.maybeFirstIndex() ?? this.storage.firstIndex();
  }

  lastIndex(): bigint {
    return this.unstable.maybeLastIndex() ?? this.storage.lastIndex();
  }

  /** Raises the commit index to tocommit (never lowers it). Panics past the last index. */
  commitTo(tocommit: bigint): void {
    if (this.committed < tocommit) {
      if (this.lastIndex() < tocommit) {
        panic(`tocommit(${tocommit}) is out of range [lastIndex(${this.lastIndex()})]. Was the raft log corrupted, truncated, or lost?`);
      }
      this.committed = tocommit;
    }
  }

  /** Records that the application applied through i. Invariant kept: applied <= committed. */
  appliedTo(i: bigint): void {
    if (i === 0n) return;
    if (this.committed < i || i < this.applied) {
      panic(`applied(${i}) is out of range [prevApplied(${this.applied}), committed(${this.committed})]`);
    }
    this.applied = i;
    if (this.applying < i) this.applying = i;
  }

  /** The application was handed the committed entries up to i (RawNode.ready()). */
  acceptApplying(i: bigint): void {
    if (i > this.applying) this.applying = i;
  }

  stableTo(i: bigint, t: bigint): void {
    this.unstable.stableTo(i, t);
  }

  stableSnapTo(i: bigint): void {
    this.unstable.stableSnapTo(i);
  }

  lastTerm(): bigint {
    try {
      return this.term(this.lastIndex());
    } catch (err) {
      return panic(`unexpected error when getting the last term (${String(err)})`);
    }
  }

  /**
   * Term of entry i. Returns 0 for an index outside [firstIndex()-1, lastIndex()]; throws
   * ErrCompacted / ErrUnavailable when storage cannot answer.
   */
  term(i: bigint): bigint {
    const dummyIndex = this.firstIndex() - 1n;
    if (i < dummyIndex || i > this.lastIndex()) return 0n;
    const ut = this.unstable.maybeTerm(i);
    if (ut !== undefined) return ut;
    // Storage throws ErrCompacted / ErrUnavailable itself.
    return this.storage.term(i);
  }

  /** term(i), with 0 for a compacted index (other errors are fatal). */
  termOrZero(i: bigint): bigint {
    try {
      return this.term(i);
    } catch (err) {
      if (err === ErrCompacted) return 0n;
      return panic(`unexpected error (${String(err)})`);
    }
  }

  /** Entries from i to the end, at most maxSize bytes (at least one). Throws ErrCompacted. */
  entries(i: bigint, maxSize: bigint): raftpb.Entry[] {
    if (i > this.lastIndex()) return [];
    return this.slice(i, this.lastIndex() + 1n, maxSize);
  }

  /** Every entry held (tests and debugging). */
  allEntries(): raftpb.Entry[] {
    for (;;) {
      try {
        return this.entries(this.firstIndex(), noLimit);
      } catch (err) {
        if (err !== ErrCompacted) throw err;
      }
    }
  }

  /**
   * The election restriction (§5.4.1): a log ending in (lasti, term) is at least as up to date as
   * ours if its last term is higher, or equal with an index at least as large.
   */
  isUpToDate(lasti: bigint, term: bigint): boolean {
    const lt = this.lastTerm();
    return term > lt || (term === lt && lasti >= this.lastIndex());
  }

  /** Whether our entry i has term `term` (false if unknown). */
  matchTerm(i: bigint, term: bigint): boolean {
    try {
      return this.term(i) === term;
    } catch (err) {
      if (isStorageGap(err)) return false;
      throw err;
    }
  }

  /**
   * Leader commit rule (§5.4.2): advance to maxIndex only if that entry is from the leader's
   * current term; earlier-term entries get committed indirectly with it.
   */
  maybeCommit(maxIndex: bigint, term: bigint): boolean {
    if (maxIndex > this.committed && this.termOrZero(maxIndex) === term) {
      this.commitTo(maxIndex);
      return true;
    }
    return false;
  }

  /** Replaces the log by a snapshot: committed jumps to the snapshot index. */
  restore(s: raftpb.Snapshot): void {
    this.committed = snapIndex(s);
    this.unstable.restore(s);
  }

  /**
   * Entries [lo, hi) limited to maxSize bytes (at least one entry). Throws ErrCompacted if lo was
   * compacted; panics if the range lies outside the log.
   */
  slice(lo: bigint, hi: bigint, maxSize: bigint): raftpb.Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    if (lo === hi) return [];
    let ents: raftpb.Entry[] = [];
    const uoff = this.unstable.offset;
    if (lo < uoff) {
      const shi = minBig(hi, uoff);
      let stored: raftpb.Entry[];
      try {
        stored = this.storage.entries(lo, shi, maxSize);
      } catch (err) {
        if (err === ErrCompacted) throw err;
        if (err === ErrUnavailable) panic(`entries[${lo}:${shi}) is unavailable from storage`);
        throw err;
      }
      // The size limit already cut the stable part short: stop there.
      if (BigInt(stored.length) < shi - lo) return stored;
      ents = stored;
    }
    if (hi > uoff) {
      const u = this.unstable.slice(maxBig(lo, uoff), hi);
      ents = ents.length > 0 ? ents.concat(u) : u;
    }
    return limitSize(ents, maxSize);
  }

  /** Throws ErrCompacted if lo < firstIndex; panics if hi > lastIndex+1 or lo > hi. */
  private mustCheckOutOfBounds(lo: bigint, hi: bigint): void {
    if (lo > hi) panic(`invalid slice ${lo} > ${hi}`);
    const fi = this.firstIndex();
    if (lo < fi) throw ErrCompacted;
    const last = this.lastIndex();
    if (hi > last + 1n) panic(`slice[${lo},${hi}) out of bound [${fi},${last}]`);
  }
}

// The part of the log not yet known to be persisted: entries appended by raft (proposals or
// replication) and a snapshot received from the leader, waiting for the application to write them
// (Ready.entries / Ready.snapshot) and acknowledge (advance → stableTo / stableSnapTo).

import type { raftpb } from '@kv/api';
import { panic } from './errors.js';
import { snapIndex, snapTerm } from './util.js';

export class Unstable {
  /** A snapshot being handed to the application, if any. */
  snapshot: raftpb.Snapshot | undefined = undefined;
  /**
   * Entries not yet persisted.
   * Invariant: entries[k].Index === offset + k.
   * Invariant: if snapshot is set, offset === snapIndex(snapshot) + 1 or entries follow it.
   */
  entries: raftpb.Entry[] = [];
  /** Index of entries[0] (the first index not known to be stable). */
  offset: bigint;

  constructor(offset: bigint) {
    this.offset = offset;
  }

  /** First log index if the unstable part fixes it (only a pending snapshot does). */
  maybeFirstIndex(): bigint | undefined {
    return this.snapshot !== undefined ? snapIndex(this.snapshot) + 1n : undefined;
  }

  /** Last log index if the unstable part holds it (last entry, else the snapshot). */
  maybeLastIndex(): bigint | undefined {
    if (this.entries.length !== 0) return this.offset + BigInt(this.entries.length) - 1n;
    if (this.snapshot !== undefined) return snapIndex(this.snapshot);
    return undefined;
  }

  /** Term of entry i if the unstable part knows it. */
  maybeTerm(i: bigint): bigint | undefined {
    if (i < this.offset) {
      if (this.snapshot !== undefined && snapIndex(this.snapshot) === i) return snapTerm(this.snapshot);
      return undefined;
    }
    const last = this.maybeLastIndex();
    if (last === undefined || i > last) return undefined;
    return this.entries[Number(i - this.offset)].Term;
  }

  /**
   * The application persisted entries up to (i, t). Only acts if entry i is still ours with term t
   * (a later truncation may have replaced it, in which case the newer entries stay unstable).
   */
  stableTo(i: bigint, t: bigint): void {
    const gt = this.maybeTerm(i);
    if (gt === undefined) return;
    if (gt === t && i >= this.offset) {
      this.entries = this.entries.slice(Number(i + 1n - this.offset));
      this.offset = i + 1n;
    }
  }

  /** The application persisted the snapshot at index i. */
  stableSnapTo(i: bigint): void {
    if (this.snapshot !== undefined && snapIndex(this.snapshot) === i) this.snapshot = undefined;
  }

  /** Replaces everything by a snapshot (entries after it will be appended later). */
  restore(s: raftpb.Snapshot): void {
    this.offset = snapIndex(s) + 1n;
    this.entries = [];
    this.snapshot = s;
  }

  /**
   * Appends ents (contiguous, non-empty), truncating any unstable entries at or after ents[0].
   * If ents start before offset, the stable entries from there on are superseded too: the
   * unstable part then starts at ents[0] (the application will overwrite them when persisting).
   */
  truncateAndAppend(ents: raftpb.Entry[]): void {
    const after = ents[0].Index;
    if (after === this.offset + BigInt(this.entries.length)) {
      // Directly after the last entry: plain append.
      this.entries = this.entries.concat(ents);
    } else if (after <= this.offset) {
      // Replaces all unstable entries (and some stable ones).
      this.offset = after;
      this.entries = [...ents];
    } else {
      // Keep [offset, after), then append.
      this.entries = this.slice(this.offset, after).concat(ents);
    }
  }

  /** Entries [lo, hi), which must lie within the unstable range. */
  slice(lo: bigint, hi: bigint): raftpb.Entry[] {
    this.mustCheckOutOfBounds(lo, hi);
    return this.entries.slice(Number(lo - this.offset), Number(hi - this.offset));
  }

  private mustCheckOutOfBounds(lo: bigint, hi: bigint): void {
    if (lo > hi) panic(`invalid unstable.slice ${lo} > ${hi}`);
    const upper = this.offset + BigInt(this.entries.length);
    if (lo < this.offset || hi > upper) {
      panic(`unstable.slice[${lo},${hi}) out of bound [${this.offset},${upper}]`);
    }
  }
}

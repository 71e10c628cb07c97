// The read-only view raft has of persisted state, and an in-memory implementation of it.
//
// Raft never writes to Storage: the application persists what a Ready hands it (entries, hard
// state, snapshot) and raft later reads the stable part back through this interface. Errors are
// thrown as the sentinels of errors.ts.

import { raftpb } from '@kv/api';
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable, panic } from './errors.js';
import { emptyConfState, emptyHardState, emptySnapshot, limitSize, snapIndex, snapTerm } from './util.js';

/** What a node starts from: the persisted HardState and the latest ConfState (from the snapshot). */
export interface InitialState {
  hardState: raftpb.HardState;
  confState: raftpb.ConfState;
}

/**
 * Read access to the stable log. All methods are synchronous.
 *
 * Layout: entries [firstIndex(), lastIndex()] are available. Index firstIndex()-1 is the index of
 * the latest snapshot (or 0), whose term is still answerable by term() so that the entry right
 * after a snapshot can be matched.
 */
export interface Storage {
  /** Persisted HardState and ConfState, read once when a node is created. */
  initialState(): InitialState;
  /**
   * Entries in [lo, hi), at most maxSize bytes in total but at least one entry when any exist.
   * Throws ErrCompacted if lo <= the snapshot index, ErrUnavailable if nothing is held.
   */
  entries(lo: bigint, hi: bigint, maxSize: bigint): raftpb.Entry[];
  /**
   * Term of entry i, for i in [firstIndex()-1, lastIndex()]. Throws ErrCompacted below that range
   * and ErrUnavailable above it.
   */
  term(i: bigint): bigint;
  /** Index of the last entry held (the snapshot index if there are none). */
  lastIndex(): bigint;
  /** Index of the first entry that may be read (snapshot index + 1). */
  firstIndex(): bigint;
  /**
   * The most recent snapshot. May throw ErrSnapshotTemporarilyUnavailable while one is being
   * produced; raft then retries later.
   */
  snapshot(): raftpb.Snapshot;
}

function cloneSnapshot(s: raftpb.Snapshot): raftpb.Snapshot {
  const md = s.metadata;
  const cs = md?.confState ?? emptyConfState();
  return {
    data: s.data,
    metadata: {
      index: md?.index ?? 0n,
      term: md?.term ?? 0n,
      confState: {
        voters: [...cs.voters],
        learners: [...cs.learners],
        votersOutgoing: [...cs.votersOutgoing],
        learnersNext: [...cs.learnersNext],
        autoLeave: cs.autoLeave,
      },
    },
  };
}

/**
 * Storage backed by an array. Useful for tests and as the in-memory cache in front of a WAL.
 */
export class MemoryStorage implements Storage {
  private hardState: raftpb.HardState = emptyHardState();
  private snap: raftpb.Snapshot = emptySnapshot();
  /**
   * ents[0] is a dummy entry carrying the index and term of the snapshot (or 0/0); real entries
   * follow. Invariant: ents[k].Index === ents[0].Index + k, and ents.length >= 1.
   */
  private ents: raftpb.Entry[] = [{ Term: 0n, Index: 0n, Type: raftpb.EntryType.EntryNormal, Data: Buffer.alloc(0) }];
  private readonly arena = new EntryArena();

  initialState(): InitialState {
    return { hardState: { ...this.hardState }, confState: cloneSnapshot(this.snap).metadata!.confState! };
  }

  /** Records the HardState the application persisted. */
  setHardState(hs: raftpb.HardState): void {
    this.hardState = { term: hs.term, vote: hs.vote, commit: hs.commit };
  }

  private offset(): bigint {
    return this.ents[0].Index;
  }

  entries(lo: bigint, hi: bigint, maxSize: bigint): raftpb.Entry[] {
    const offset = this.offset();
    if (lo <= offset) throw ErrCompacted;
    if (hi > this.lastIndex() + 1n) {
      panic(`entries' hi(${hi}) is out of bound lastindex(${this.lastIndex()})`);
    }
    // Only the dummy entry: nothing to read.
    if (this.ents.length === 1) throw ErrUnavailable;
    const ents = this.ents.slice(Number(lo - offset), Number(hi - offset));
    return limitSize(ents, maxSize);
  }

  term(i: bigint): bigint {
    const offset = this.offset();
    if (i < offset) throw ErrCompacted;
    if (i - offset >= BigInt(this.ents.length)) throw ErrUnavailable;
    return this.ents[Number(i - offset)].Term;
  }

  lastIndex(): bigint {
    return this.offset() + BigInt(this.ents.length) - 1n;
  }

  firstIndex(): bigint {
    return this.offset() + 1n;
  }

  snapshot(): raftpb.Snapshot {
    return cloneSnapshot(this.snap);
  }

  /**
   * Replaces the whole content with a snapshot (a follower installing one sent by the leader).
   * Throws ErrSnapOutOfDate if it is not newer than the snapshot held.
   */
  applySnapshot(s: raftpb.Snapshot): void {
    if (snapIndex(this.snap) >= snapIndex(s)) throw ErrSnapOutOfDate;
    this.snap = cloneSnapshot(s);
    this.ents = [{ Term: snapTerm(s), Index: snapIndex(s), Type: raftpb.EntryType.EntryNormal, Data: Buffer.alloc(0) }];
  }

  /**
   * Makes a snapshot at index i (which must be <= lastIndex and newer than the current snapshot)
   * with the given state machine data and, if given, ConfState. Log entries are not dropped; call
   * compact() for that. Throws ErrSnapOutOfDate if i is not newer than the current snapshot.
   */
  createSnapshot(i: bigint, cs: raftpb.ConfState | undefined, data: Buffer): raftpb.Snapshot {
    if (i <= snapIndex(this.snap)) throw ErrSnapOutOfDate;
    const offset = this.offset();
    if (i > this.lastIndex()) panic(`snapshot ${i} is out of bound lastindex(${this.lastIndex()})`);
    const md = this.snap.metadata!;
    this.snap = cloneSnapshot({
      data,
      metadata: {
        index: i,
        term: this.ents[Number(i - offset)].Term,
        confState: cs ?? md.confState,
      },
    });
    return cloneSnapshot(this.snap);
  }

  /**
   * Discards entries before compactIndex; compactIndex itself becomes the dummy entry. The
   * application must not compact past its applied index. Throws ErrCompacted if already compacted.
   */
  compact(compactIndex: bigint): void {
    const offset = this.offset();
    if (compactIndex <= offset) throw ErrCompacted;
    if (compactIndex > this.lastIndex()) {
      panic(`compact ${compactIndex} is out of bound lastindex(${this.lastIndex()})`);
    }
    const i = Number(compactIndex - offset);
    const head = this.ents[i];
    this.ents = [
      { Term: head.Term, Index: head.Index, Type: raftpb.EntryType.EntryNormal, Data: Buffer.alloc(0) },
      ...this.ents.slice(i + 1),
    ];
  }

  /**
   * Appends entries, replacing any held entries at or after the first new index (a conflicting
   * suffix). Entries at or below the snapshot index are ignored. The entries must be contiguous
   * with the held log (no gap).
   */
  append(entries: raftpb.Entry[]): void {
    if (entries.length === 0) return;
    const first = this.firstIndex();
    const last = entries[0].Index + BigInt(entries.length) - 1n;
    // Everything given is already covered by the snapshot.
    if (last < first) return;
    if (first > entries[0].Index) entries = entries.slice(Number(first - entries[0].Index));
    const offset = entries[0].Index - this.offset();
    const len = BigInt(this.ents.length);
    if (len >= offset) {
      // Truncate any conflicting suffix and append in place: copying the whole array on every
      // append made a long log quadratic. (Nothing outside holds this array: reads return copies.)
      this.ents.length = Number(offset);
      for (const e of entries) this.ents.push(this.arena.own(e));
    } else {
      panic(`missing log entry [last: ${this.lastIndex()}, append at: ${entries[0].Index}]`);
    }
  }
}

/**
 * Where the log's entry data lives. An appended entry's Data is usually a view of a larger buffer:
 * the 8 KiB pool slab a proposal was copied into, a peer message's frame, a WAL read. Held for the
 * life of the log (up to --snapshot-count entries), such a view keeps the whole larger buffer
 * alive: 100,000 entries of 300 bytes held 124 MiB of slabs that way. The arena copies each such
 * entry's data into chunks of its own, filled in log order; the log is dropped from the front
 * (compact) and rarely cut at the back (a conflicting suffix), so a chunk is freed soon after the
 * entries cut from it are, and at most the chunk being filled is partly unused.
 */
class EntryArena {
  static readonly ChunkBytes = 64 * 1024;
  /** Data at least this large gets an allocation of its own. */
  static readonly OwnBytes = 8 * 1024;
  private chunk = Buffer.alloc(0);
  private used = 0;

  /** The entry itself if its data owns its memory, else a copy of it whose data lives here. */
  own(e: raftpb.Entry): raftpb.Entry {
    const d = e.Data;
    if (d.byteLength === 0 || (d.byteOffset === 0 && d.byteLength === d.buffer.byteLength)) return e;
    return { ...e, Data: this.copy(d) };
  }

  private copy(d: Uint8Array): Buffer {
    const n = d.byteLength;
    if (n >= EntryArena.OwnBytes) {
      const b = Buffer.allocUnsafeSlow(n);
      b.set(d);
      return b;
    }
    if (this.used + n > this.chunk.byteLength) {
      this.chunk = Buffer.allocUnsafeSlow(EntryArena.ChunkBytes);
      this.used = 0;
    }
    const b = this.chunk.subarray(this.used, this.used + n);
    b.set(d);
    this.used += n;
    return b;
  }
}

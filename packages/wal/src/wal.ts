// The write-ahead log: a directory of segment files holding framed, CRC-chained records.
//
// Layering (as etcd's): the server owns a Wal through a small storage face — save(hardState,
// entries), saveSnapshot(position), release(index), close() — and a SnapshotFiles for the
// snapshot payloads. The Wal knows bytes, raft's types and the file system, nothing else.
//
// Retention (etcd's ReleaseLockTo + purge loop): release(index) marks the segments a durable
// snapshot makes unnecessary as released, and deletes nothing; purge(maxFiles) deletes the oldest
// released segments while more than maxFiles segment files exist (the server's --max-wals loop).
// Invariant: a segment that is not released (the one a reopen at the last snapshot starts
// reading at, every later one, and always the tail) is never deleted, so purging can never cost
// an entry after the last snapshot; deletions go oldest first, so no gap ever opens in the
// sequence.
//
// Durability and ordering:
//   - save() resolves once its records are written and, if they must be synced (raft's MustSync,
//     or {sync: true}), fdatasynced. Records reach the file in call order, and a sync covers every
//     record written before it, so appends become durable in call order: when a save resolves,
//     every save called before it is durable too (or, if unsynced, will be with the next sync).
//   - Group commit: calls that arrive while a write+fdatasync is in flight queue up and share the
//     next one; a batch is one writev and at most one fdatasync.
//   - Files are created under a temporary name, synced, renamed into place, and the directory is
//     fsynced; removals fsync the directory too.
//   - A failed write or fsync poisons the Wal (after an fsync error the page cache can no longer
//     be trusted): every pending and later call rejects with FAILED; reopen to recover.
//   - Except a write refused for lack of space (ENOSPC, EDQUOT): nothing of it counts as written.
//     The writer keeps the batch and writes the same bytes at the same offset again, with
//     backoff, until it succeeds (or the Wal is closed); saves stay pending meanwhile, and
//     onNoSpace reports the wait. Invariant: a save resolves only after its records are written
//     (and synced); a full disk delays that, it never skips or reorders it.
//   - Preallocation never fills the disk (see tryPreallocate): without room, a segment is not
//     preallocated and grows as it is written.
import { dirname, join, resolve } from 'node:path';
import type { raftpb } from '@kv/api';
import { mustSync } from '@kv/raft';
import { DEFAULT_SEGMENT_BYTES, LOCK_FILE_NAME, MAX_RECORD_BYTES, RecordType } from './constants.js';
import { WalError } from './errors.js';
import type { FileSystem, FsFile } from './file_system.js';
import { fsyncDir, isNoSpace, tryPreallocate, writeAllAt } from './fsutil.js';
import { DirLock } from './lock.js';
import { nodeFs } from './node_fs.js';
import { EMPTY_HARD_STATE, isEmptyHardState } from './hard_state.js';
import { segmentName, segmentNames, type SegmentName } from './names.js';
import { encodeEntry, encodeHardState, encodeSnapshotMarker, type SnapshotPosition } from './payloads.js';
import { SegmentAllocator } from './pipeline.js';
import { encodeCrcRecord, encodeRecord } from './record.js';
import { readSnapshotMarkers, replay } from './replay.js';

export interface WalOptions {
  /** Cut threshold and preallocated size of a segment. Default DEFAULT_SEGMENT_BYTES (64 MB). */
  segmentBytes?: number;
  /** Preallocate segments by writing zeros (default true). */
  preallocate?: boolean;
  /** Receives notices worth logging (a torn tail repaired, preallocation skipped, a full disk). */
  onWarning?: (message: string) => void;
  /**
   * Called with true when a write is refused for lack of space (the writer then retries it with
   * backoff and saves stay pending) and with false once it went through.
   */
  onNoSpace?: (waiting: boolean) => void;
  /** First and longest pause between retries of a write refused for lack of space (ms). */
  noSpaceRetryMs?: { first: number; max: number };
  /**
   * Skip every fsync and fdatasync. UNSAFE: acknowledged appends can be lost on power failure.
   * For tests that open and repair WALs thousands of times (etcd has the same switch).
   */
  unsafeNoSync?: boolean;
  /** The file system the WAL lives on (default nodeFs, the real one; a simulated disk in tests). */
  fs?: FileSystem;
  /** Waits between retries of a write refused for lack of space (default: a real timer). */
  sleep?: (ms: number) => Promise<void>;
}

export interface SaveOptions {
  /**
   * Whether to fdatasync before resolving. Default: raft's MustSync (entries appended, or term or
   * vote changed). A commit-only change may skip it.
   */
  sync?: boolean;
}

/** What Wal.open did to a torn tail. */
export interface RepairReport {
  file: string;
  /** Offset of the first bad byte; the file now ends (or is zero) from here. */
  offset: number;
  reason: string;
  /** Copy of the file as it was found. */
  backup: string;
}

export interface OpenResult {
  wal: Wal;
  metadata: Buffer;
  /** The last hard state saved (all zero if none). */
  hardState: raftpb.HardState;
  /** Every entry after the snapshot position, contiguous from snapshot index + 1. */
  entries: raftpb.Entry[];
  /** Set if a torn tail was repaired. */
  repaired?: RepairReport;
}

/**
 * The face the server's raft loop needs from durable storage (etcd's Storage): persist a Ready's
 * hard state and entries, mark snapshots, drop what a snapshot covers, close.
 */
export interface WalStorage {
  save(hardState: raftpb.HardState | undefined, entries: readonly raftpb.Entry[], options?: SaveOptions): Promise<void>;
  saveSnapshot(pos: SnapshotPosition): Promise<void>;
  release(index: bigint): Promise<string[]>;
  purge(maxFiles: number): Promise<string[]>;
  close(): Promise<void>;
}

export interface WalStats {
  /** Calls that queued records (save, saveSnapshot, sync). */
  saves: number;
  /** Records framed and written. */
  records: number;
  /** writev calls (one per batch). */
  writes: number;
  /** fdatasync calls on the tail. */
  syncs: number;
  /** Segments cut. */
  cuts: number;
  /** Times a write had to wait for space. */
  noSpaceWaits: number;
  /** Bytes of records written (etcd_disk_wal_write_bytes_total). */
  bytes: number;
}

interface PendingRecord {
  type: RecordType;
  data: Uint8Array;
}

interface Op {
  records: PendingRecord[];
  sync: boolean;
  /** Hard state this op writes (becomes the one repeated at the head of the next segment). */
  state?: raftpb.HardState;
  /** Index of the last entry this op writes. */
  lastIndex?: bigint;
  /** A snapshot marker's index (raises the append point). */
  snapshotIndex?: bigint;
  resolve: () => void;
  reject: (err: unknown) => void;
}

interface Tail {
  fh: FsFile;
  path: string;
  segment: SegmentName;
  /** Where the next record goes. */
  offset: number;
}

interface ResolvedOptions {
  segmentBytes: number;
  preallocate: boolean;
  noSync: boolean;
  warn: (message: string) => void;
  onNoSpace: (waiting: boolean) => void;
  retry: { first: number; max: number };
  fs: FileSystem;
  sleep: (ms: number) => Promise<void>;
}

function resolveOptions(o: WalOptions): ResolvedOptions {
  const segmentBytes = o.segmentBytes ?? DEFAULT_SEGMENT_BYTES;
  if (!Number.isSafeInteger(segmentBytes) || segmentBytes < 4096) {
    throw new WalError('BAD_ARGUMENT', `segmentBytes must be an integer >= 4096, got ${segmentBytes}`);
  }
  return {
    segmentBytes,
    preallocate: o.preallocate ?? true,
    noSync: o.unsafeNoSync ?? false,
    warn: o.onWarning ?? (() => {}),
    onNoSpace: o.onNoSpace ?? (() => {}),
    retry: o.noSpaceRetryMs ?? { first: 50, max: 2000 },
    fs: o.fs ?? nodeFs,
    sleep: o.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))),
  };
}

async function datasync(fh: FsFile, o: ResolvedOptions): Promise<void> {
  if (!o.noSync) await fh.datasync();
}

async function fullsync(fh: FsFile, o: ResolvedOptions): Promise<void> {
  if (!o.noSync) await fh.sync();
}

function headRecords(crc: number, metadata: Uint8Array, tail: PendingRecord[]): { frames: Buffer[]; bytes: number; crc: number } {
  const frames: Buffer[] = [];
  let c = encodeCrcRecord(crc);
  frames.push(c.frame);
  for (const r of [{ type: RecordType.Metadata, data: metadata }, ...tail]) {
    c = encodeRecord(r.type, r.data, c.crc);
    frames.push(c.frame);
  }
  let bytes = 0;
  for (const f of frames) bytes += f.length;
  return { frames, bytes, crc: c.crc };
}

export class Wal implements WalStorage {
  /** Every segment file on disk, oldest first (the last is the tail). */
  private readonly segments: SegmentName[];
  /**
   * How many of the oldest segments are released (not needed by a reopen at the last snapshot).
   * Invariant: 0 <= released <= segments.length - 1 (the tail is never released).
   */
  private released = 0;
  private tail: Tail;
  /** Running CRC after the last record framed. */
  private crc: number;
  /** Flusher's view: last hard state and last entry index framed. */
  private state: raftpb.HardState;
  private writtenLastIndex: bigint;
  /** Callers' view: as of the last call queued (in call order). */
  private queuedState: raftpb.HardState;
  private queuedLastIndex: bigint;

  private queue: Op[] = [];
  private inflight: Op[] = [];
  private flushing: Promise<void> | undefined;
  private failed: WalError | undefined;
  private closing: Promise<void> | undefined;
  private readonly allocator: SegmentAllocator;
  private readonly counters: WalStats = { saves: 0, records: 0, writes: 0, syncs: 0, cuts: 0, noSpaceWaits: 0, bytes: 0 };

  private constructor(
    readonly dir: string,
    private readonly metadata: Buffer,
    private readonly lock: DirLock,
    private readonly opts: ResolvedOptions,
    init: { segments: SegmentName[]; released?: number; tail: Tail; crc: number; state: raftpb.HardState; lastIndex: bigint },
  ) {
    this.segments = init.segments;
    this.released = init.released ?? 0;
    this.tail = init.tail;
    this.crc = init.crc;
    this.state = init.state;
    this.queuedState = init.state;
    this.writtenLastIndex = init.lastIndex;
    this.queuedLastIndex = init.lastIndex;
    this.allocator = new SegmentAllocator(opts.fs, dir, opts.segmentBytes, opts.preallocate, opts.noSync, opts.warn);
    this.allocator.warm();
  }

  /** True if `dir` holds at least one segment file. */
  static async exists(dir: string, fs: FileSystem = nodeFs): Promise<boolean> {
    try {
      return segmentNames(await fs.readdir(dir)).length > 0;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  /**
   * The snapshot positions the WAL can be opened at: markers whose index is within the last
   * saved commit. Pass a matcher built from these to SnapshotFiles.loadNewest at startup, so a
   * snapshot file saved just before a crash (before its marker) is not chosen.
   */
  static async validSnapshots(dir: string, fs: FileSystem = nodeFs): Promise<SnapshotPosition[]> {
    dir = resolve(dir);
    let names: string[];
    try {
      names = await fs.readdir(dir);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    return readSnapshotMarkers(fs, dir, segmentNames(names));
  }

  /**
   * Creates a WAL in `dir` (which must not exist or be empty) and returns it open for appending.
   * The first segment is built in `<dir>.tmp`, synced and renamed into place, so a crash leaves
   * either no WAL or a complete one.
   */
  static async create(dir: string, metadata: Uint8Array, options: WalOptions = {}): Promise<Wal> {
    const o = resolveOptions(options);
    const fs = o.fs;
    dir = resolve(dir);
    if (metadata.length > MAX_RECORD_BYTES) throw new WalError('BAD_ARGUMENT', 'metadata too large');
    if (await Wal.exists(dir, fs)) throw new WalError('EXISTS', 'a WAL already exists', dir);
    const tmp = `${dir}.tmp`;
    if (await fs.exists(tmp)) {
      (await DirLock.acquire(fs, join(tmp, LOCK_FILE_NAME))).release(); // refuses if a concurrent create holds it
      await fs.rm(tmp, { recursive: true, force: true });
    }
    await fs.mkdir(tmp, { recursive: true, mode: 0o700 });
    const lock = await DirLock.acquire(fs, join(tmp, LOCK_FILE_NAME));
    let fh: FsFile | undefined;
    try {
      const segment: SegmentName = { name: segmentName(0n, 0n), seq: 0n, firstIndex: 0n };
      fh = await fs.open(join(tmp, segment.name), 'wx', 0o600);
      const skipped = o.preallocate ? await tryPreallocate(fs, fh, tmp, 0, o.segmentBytes, o.noSync) : undefined;
      if (skipped) o.warn(`wal: not preallocating the first segment (${o.segmentBytes} bytes): ${skipped}; it grows as it is written`);
      const head = headRecords(0, metadata, [{ type: RecordType.Snapshot, data: encodeSnapshotMarker({ index: 0n, term: 0n }) }]);
      await writeAllAt(fh, head.frames, 0);
      await datasync(fh, o);
      await fsyncDir(tmp, o.noSync, fs);
      if (await fs.exists(dir)) {
        if ((await fs.readdir(dir)).length > 0) throw new WalError('EXISTS', 'directory is not empty', dir);
        await fs.rmdir(dir);
      }
      await fs.rename(tmp, dir);
      await fsyncDir(dirname(dir), o.noSync, fs);
      lock.path = join(dir, LOCK_FILE_NAME);
      const tail: Tail = { fh, path: join(dir, segment.name), segment, offset: head.bytes };
      return new Wal(dir, Buffer.from(metadata), lock, o, {
        segments: [segment],
        tail,
        crc: head.crc,
        state: { ...EMPTY_HARD_STATE },
        lastIndex: 0n,
      });
    } catch (err) {
      await fh?.close().catch(() => {});
      lock.release();
      // Nothing partial stays behind (a full disk must not keep a half-written segment).
      if (!(await fs.exists(join(dir, segmentName(0n, 0n))))) await fs.rm(tmp, { recursive: true, force: true }).catch(() => {});
      throw err;
    }
  }

  /**
   * Opens the WAL in `dir` at a snapshot position (the zero position for a WAL without
   * snapshots): locks it, replays every record from the segment that covers the position, repairs
   * a torn tail, and returns the WAL ready to append with the metadata, the last hard state and
   * the entries after the snapshot. Damage other than a torn tail throws a WalError naming the
   * file and offset.
   */
  static async open(dir: string, snap: SnapshotPosition = { index: 0n, term: 0n }, options: WalOptions = {}): Promise<OpenResult> {
    const o = resolveOptions(options);
    const fs = o.fs;
    dir = resolve(dir);
    if (!(await Wal.exists(dir, fs))) throw new WalError('NOT_FOUND', 'no WAL segments', dir);
    const lock = await DirLock.acquire(fs, join(dir, LOCK_FILE_NAME));
    let fh: FsFile | undefined;
    try {
      const names = await fs.readdir(dir);
      for (const n of names) {
        if (n.endsWith('.tmp')) await fs.rm(join(dir, n), { force: true }); // unused preallocated files
      }
      const segments = segmentNames(names);
      const r = await replay(fs, dir, segments, snap);
      let repaired: RepairReport | undefined;
      if (r.tail.end.kind === 'torn') {
        repaired = await repairTail(dir, r.tail.path, r.tail.validEnd, r.tail.size, r.tail.end.reason, o);
      }
      fh = await fs.open(r.tail.path, 'r+');
      const tail: Tail = { fh, path: r.tail.path, segment: r.tail.segment, offset: r.tail.validEnd };
      const wal = new Wal(dir, r.metadata, lock, o, {
        segments,
        // Those before the segment the replay started at are not needed (etcd locks only from it on).
        released: r.start,
        tail,
        crc: r.crc,
        state: r.hardState,
        lastIndex: r.lastIndex,
      });
      return { wal, metadata: r.metadata, hardState: r.hardState, entries: r.entries, ...(repaired ? { repaired } : {}) };
    } catch (err) {
      await fh?.close().catch(() => {});
      lock.release();
      throw err;
    }
  }

  /** Index of the last entry queued (or snapshot marker), i.e. the index the next append follows. */
  get lastIndex(): bigint {
    return this.queuedLastIndex;
  }

  private fsyncObserver: ((seconds: number) => void) | undefined;

  /**
   * Receives the duration of every fdatasync of a batch on the tail, in seconds (the server's
   * etcd_disk_wal_fsync_duration_seconds; the WAL itself knows no metrics library). undefined
   * stops it.
   */
  observeFsync(fn: ((seconds: number) => void) | undefined): void {
    this.fsyncObserver = fn;
  }

  /** Counters for tests, the benchmark and the server's metrics. */
  stats(): WalStats {
    return { ...this.counters };
  }

  /** Names of the segment files currently kept, oldest first. */
  segmentFiles(): string[] {
    return this.segments.map((s) => s.name);
  }

  /** Names of the kept segment files that are released (purge may delete them), oldest first. */
  releasedFiles(): string[] {
    return this.segments.slice(0, this.released).map((s) => s.name);
  }

  /**
   * Appends a hard state (skipped if empty) and entries. Entries must be contiguous and start at
   * most one past the last index (an earlier start overwrites: raft truncated its log there).
   * Resolves when written and, if required (see SaveOptions.sync), fdatasynced.
   */
  save(hardState: raftpb.HardState | undefined, entries: readonly raftpb.Entry[], options: SaveOptions = {}): Promise<void> {
    const bad = this.unusable();
    if (bad) return Promise.reject(bad);
    const hs = hardState && !isEmptyHardState(hardState) ? { ...hardState } : undefined;
    if (!hs && entries.length === 0) return Promise.resolve();
    const records: PendingRecord[] = [];
    if (entries.length > 0) {
      const first = entries[0]!.Index;
      if (first < 1n || first > this.queuedLastIndex + 1n) {
        return Promise.reject(new WalError('BAD_ARGUMENT', `entry index ${first} does not follow the last index ${this.queuedLastIndex}`));
      }
      for (let i = 0; i < entries.length; i++) {
        const e = entries[i]!;
        if (i > 0 && e.Index !== entries[i - 1]!.Index + 1n) {
          return Promise.reject(new WalError('BAD_ARGUMENT', `entries not contiguous at index ${e.Index}`));
        }
        // Encoded now, so later mutation of the caller's objects cannot change what is written.
        // An out-of-range term or index is refused here, before anything of the batch is queued.
        let data: Uint8Array;
        try {
          data = encodeEntry(e);
        } catch (err) {
          return Promise.reject(err);
        }
        if (data.length > MAX_RECORD_BYTES) {
          return Promise.reject(new WalError('RECORD_TOO_LARGE', `entry ${e.Index} of ${data.length} bytes exceeds the limit`));
        }
        records.push({ type: RecordType.Entry, data });
      }
    }
    if (hs) {
      try {
        records.push({ type: RecordType.HardState, data: encodeHardState(hs) });
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const sync = options.sync ?? mustSync(hs ?? this.queuedState, this.queuedState, entries.length);
    if (hs) this.queuedState = hs;
    const lastIndex = entries.length > 0 ? entries[entries.length - 1]!.Index : undefined;
    if (lastIndex !== undefined) this.queuedLastIndex = lastIndex;
    return this.enqueue({ records, sync, ...(hs ? { state: hs } : {}), ...(lastIndex !== undefined ? { lastIndex } : {}) });
  }

  /**
   * Records a snapshot marker (always synced); Wal.open at that position finds it. Order for the
   * server (etcd 3.5's): save the snapshot file, then this marker, then release(index); at
   * startup load the newest snapshot file that has a marker (Wal.validSnapshots). A crash between
   * any two steps leaves a snapshot the WAL opens at, with every entry after it.
   */
  saveSnapshot(pos: SnapshotPosition): Promise<void> {
    const bad = this.unusable();
    if (bad) return Promise.reject(bad);
    let data: Buffer;
    try {
      data = encodeSnapshotMarker(pos);
    } catch (err) {
      return Promise.reject(err);
    }
    if (pos.index > this.queuedLastIndex) this.queuedLastIndex = pos.index;
    return this.enqueue({
      records: [{ type: RecordType.Snapshot, data }],
      sync: true,
      snapshotIndex: pos.index,
    });
  }

  /** Makes everything queued so far durable. */
  sync(): Promise<void> {
    const bad = this.unusable();
    if (bad) return Promise.reject(bad);
    return this.enqueue({ records: [], sync: true });
  }

  /**
   * Releases the segments a durable snapshot at `index` makes unnecessary: every segment before
   * the last one whose first index is at most `index` (that one is where Wal.open(index) starts
   * reading). Nothing is deleted here (purge does). The tail is never released. Returns the names
   * newly released.
   */
  async release(index: bigint): Promise<string[]> {
    const bad = this.unusable();
    if (bad) throw bad;
    let keep = -1;
    for (let i = this.segments.length - 1; i >= 0; i--) {
      if (this.segments[i]!.firstIndex <= index) {
        keep = i;
        break;
      }
    }
    if (keep <= this.released) return [];
    const newly = this.segments.slice(this.released, keep); // keep <= length - 1: never the tail
    this.released = keep;
    return newly.map((s) => s.name);
  }

  /**
   * Deletes the oldest released segment files while more than `maxFiles` segment files exist
   * (etcd's purge of --max-wals): a segment still needed is kept even if that leaves more files.
   * Each removal is made durable (directory fsync) before the next, so a crash leaves the
   * sequence without a gap. Returns the removed names.
   */
  async purge(maxFiles: number): Promise<string[]> {
    const bad = this.unusable();
    if (bad) throw bad;
    if (!Number.isSafeInteger(maxFiles) || maxFiles < 0) {
      throw new WalError('BAD_ARGUMENT', `maxFiles must be a non-negative integer, got ${maxFiles}`);
    }
    const removed: string[] = [];
    while (this.segments.length > maxFiles && this.released > 0) {
      const s = this.segments.shift()!;
      this.released--;
      await this.opts.fs.rm(join(this.dir, s.name), { force: true });
      await fsyncDir(this.dir, this.opts.noSync, this.opts.fs);
      removed.push(s.name);
    }
    return removed;
  }

  /** Waits for queued appends, syncs, and releases the files and the lock. Idempotent. */
  close(): Promise<void> {
    this.closing ??= (async () => {
      while (this.flushing) await this.flushing;
      try {
        if (!this.failed) await datasync(this.tail.fh, this.opts);
      } finally {
        await this.tail.fh.close().catch(() => {});
        await this.allocator.close();
        this.lock.release();
      }
    })();
    return this.closing;
  }

  private unusable(): WalError | undefined {
    if (this.closing) return new WalError('CLOSED', 'WAL is closed', this.dir);
    return this.failed;
  }

  private enqueue(op: Omit<Op, 'resolve' | 'reject'>): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ ...op, resolve, reject });
      this.counters.saves++;
      this.flushing ??= this.flushLoop();
    });
  }

  /** The single writer: takes everything queued, frames it in order, writes, syncs, cuts. */
  private async flushLoop(): Promise<void> {
    await Promise.resolve(); // let calls made in the same tick join the first batch
    try {
      while (this.queue.length > 0) {
        const ops = this.queue.splice(0);
        let frames: Buffer[] = [];
        let bytes = 0;
        let batch: Op[] = [];
        let needSync = false;
        this.inflight = [...ops]; // a copy: commit() removes resolved ops from it as we go
        for (const op of ops) {
          for (const r of op.records) {
            const enc = encodeRecord(r.type, r.data, this.crc);
            this.crc = enc.crc;
            frames.push(enc.frame);
            bytes += enc.frame.length;
          }
          if (op.state) this.state = op.state;
          if (op.lastIndex !== undefined) this.writtenLastIndex = op.lastIndex;
          if (op.snapshotIndex !== undefined && op.snapshotIndex > this.writtenLastIndex) {
            this.writtenLastIndex = op.snapshotIndex;
          }
          batch.push(op);
          needSync ||= op.sync;
          if (this.tail.offset + bytes >= this.opts.segmentBytes) {
            await this.commit(frames, bytes, batch, true);
            await this.cut();
            frames = [];
            bytes = 0;
            batch = [];
            needSync = false;
          }
        }
        if (batch.length > 0) await this.commit(frames, bytes, batch, needSync);
        this.inflight = [];
      }
    } catch (err) {
      this.failed = new WalError('FAILED', 'write or sync failed; reopen the WAL', this.tail.path, undefined, { cause: err });
      for (const op of [...this.inflight, ...this.queue.splice(0)]) op.reject(this.failed);
      this.inflight = [];
    } finally {
      this.flushing = undefined;
    }
  }

  private async commit(frames: Buffer[], bytes: number, batch: Op[], sync: boolean): Promise<void> {
    if (bytes > 0) {
      await this.writeWaitingForSpace(frames);
      this.tail.offset += bytes;
      this.counters.writes++;
      this.counters.records += frames.length;
      this.counters.bytes += bytes;
    }
    if (sync) {
      const observe = this.fsyncObserver;
      const t0 = observe ? performance.now() : 0;
      await datasync(this.tail.fh, this.opts);
      this.counters.syncs++;
      if (observe) observe((performance.now() - t0) / 1000);
    }
    // Batches are prefixes of the in-flight ops, in order.
    this.inflight.splice(0, batch.length);
    for (const op of batch) op.resolve();
  }

  /**
   * Writes frames at the tail's offset; a write refused for lack of space is written again, the
   * same bytes at the same offset, after a pause that doubles up to retry.max, until it succeeds
   * or the Wal is closed. A refused write may have put a prefix of the frames in the file: the
   * retry overwrites it with the same bytes; if we give up, it is cut off again.
   */
  private async writeWaitingForSpace(frames: Buffer[]): Promise<void> {
    let pause = this.opts.retry.first;
    let waiting = false;
    for (;;) {
      try {
        await writeAllAt(this.tail.fh, frames, this.tail.offset);
        break;
      } catch (err) {
        if (!isNoSpace(err)) throw err;
        if (this.closing) {
          await this.tail.fh.truncate(this.tail.offset).catch(() => {});
          throw err;
        }
        if (!waiting) {
          waiting = true;
          this.counters.noSpaceWaits++;
          this.opts.warn(`wal: no space left for a write to ${this.tail.path}; retrying until there is`);
          this.opts.onNoSpace(true);
        }
        await this.opts.sleep(pause);
        pause = Math.min(pause * 2, this.opts.retry.max);
      }
    }
    if (waiting) {
      this.opts.warn(`wal: space is back; ${this.tail.path} is written again`);
      this.opts.onNoSpace(false);
    }
  }

  /**
   * Closes the tail at its last record and continues in a new segment named (seq + 1, last index
   * + 1) whose head repeats the running CRC, the metadata and the last hard state. The new file is
   * written and synced under a temporary name, then renamed and the directory synced.
   */
  private async cut(): Promise<void> {
    const old = this.tail;
    await old.fh.truncate(old.offset); // drop the unused preallocated space
    await fullsync(old.fh, this.opts); // fsync, not fdatasync: the size changed
    let tmp: Awaited<ReturnType<SegmentAllocator['take']>>;
    try {
      tmp = await this.allocator.take();
    } catch (err) {
      if (!isNoSpace(err)) throw err;
      // No room for a new file: keep appending to this segment (it grows past segmentBytes);
      // the next batch tries to cut again.
      this.opts.warn(`wal: no space for a new segment; ${old.path} grows until there is`);
      return;
    }
    const seq = old.segment.seq + 1n;
    const segment: SegmentName = { name: segmentName(seq, this.writtenLastIndex + 1n), seq, firstIndex: this.writtenLastIndex + 1n };
    const stateRecord: PendingRecord[] = isEmptyHardState(this.state)
      ? []
      : [{ type: RecordType.HardState, data: encodeHardState(this.state) }];
    const head = headRecords(this.crc, this.metadata, stateRecord);
    const path = join(this.dir, segment.name);
    let renamed = false;
    try {
      await writeAllAt(tmp.fh, head.frames, 0);
      await datasync(tmp.fh, this.opts);
      await this.opts.fs.rename(tmp.path, path);
      renamed = true;
      await fsyncDir(this.dir, this.opts.noSync, this.opts.fs);
      this.crc = head.crc;
      this.tail = { fh: tmp.fh, path, segment, offset: head.bytes };
      this.segments.push(segment);
      this.counters.cuts++;
    } catch (err) {
      await tmp.fh.close().catch(() => {});
      if (!isNoSpace(err)) throw err;
      // The old tail stays the tail; the next batch tries again. A new segment must not survive
      // next to a tail that goes on growing (its head CRC would break the chain).
      await this.opts.fs.rm(renamed ? path : tmp.path, { force: true });
      if (renamed) await fsyncDir(this.dir, this.opts.noSync, this.opts.fs);
      this.opts.warn(`wal: no space for a new segment; ${old.path} grows until there is`);
      return;
    }
    await old.fh.close();
  }
}

/**
 * Repairs a torn tail: keeps a copy of the file as found (`<name>.broken`, `.broken.1`, ...),
 * truncates at the last good record, zero-fills the preallocated space again, syncs.
 */
async function repairTail(
  dir: string,
  path: string,
  validEnd: number,
  size: number,
  reason: string,
  o: ResolvedOptions,
): Promise<RepairReport> {
  const fs = o.fs;
  let backup = `${path}.broken`;
  for (let i = 1; await fs.exists(backup); i++) backup = `${path}.broken.${i}`;
  await fs.copyFile(path, backup);
  const b = await fs.open(backup, 'r');
  try {
    await fullsync(b, o);
  } finally {
    await b.close();
  }
  const fh = await fs.open(path, 'r+');
  try {
    await fh.truncate(validEnd);
    await fullsync(fh, o);
    if (o.preallocate) {
      const skipped = await tryPreallocate(fs, fh, dir, validEnd, Math.max(size, o.segmentBytes), o.noSync);
      if (skipped) o.warn(`wal: not preallocating ${path} again after the repair: ${skipped}`);
    }
  } finally {
    await fh.close();
  }
  await fsyncDir(dir, o.noSync, fs);
  o.warn(`wal: repaired a torn tail in ${path} at offset ${validEnd} (${reason}); the file as found is kept as ${backup}`);
  return { file: path, offset: validEnd, reason, backup };
}

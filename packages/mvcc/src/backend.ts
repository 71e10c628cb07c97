/**
 * The persistent backend: one LevelDB (classic-level, through a StorageEngine) holding several
 * "buckets". A bucket is a one-byte prefix in front of every key, so each
 * bucket is a contiguous key range and iterates in byte order of its keys.
 *
 * Writes go through BatchTx: a BatchTx only accumulates operations; nothing
 * reaches the database until `commit`, which writes the whole batch
 * atomically. Commits are applied in the order `commit` is called.
 *
 * Snapshot stream format (`snapshotStream` / `Backend.restoreFrom`):
 *   magic    8 bytes  "KVBKND" 0x00 0x01 (distinct from the raft snapshot file's "KVSNAP" 0x00
 *            0x01, so neither reader takes the other's bytes; this stream is never persisted as
 *            such, restoreFrom turns it into a LevelDB directory, so no older magic is accepted)
 *   record*  u32 BE length of the raw key, raw key (bucket prefix byte + key),
 *            u32 BE length of the value, value
 *   trailer  u32 BE 0xFFFFFFFF, u32 BE CRC-32C of every byte before the trailer
 * The stream is cut into chunks of about 64 KiB regardless of record
 * boundaries. Raw keys are at most 2^32-2 bytes long.
 */
import { realMvccClock, type MvccClock } from './timers.js';
import { crc32c } from '@node-rs/crc32';
import { BackendCorruptError, Digest, META_DIGEST } from './backend_digest.js';
import { classicEngine } from './classic_engine.js';
import type { DbSnapshot, StorageDb, StorageEngine } from './storage_engine.js';

export type Bucket = 'key' | 'meta' | 'lease' | 'auth' | 'authUsers' | 'authRoles' | 'members' | 'membersRemoved' | 'cluster' | 'alarm';

/** Bucket -> prefix byte. Never renumber: the prefix is the on-disk format. */
const BUCKET_PREFIX: Record<Bucket, number> = {
  key: 0x01,
  meta: 0x02,
  lease: 0x03,
  auth: 0x04,
  authUsers: 0x05,
  authRoles: 0x06,
  members: 0x07,
  membersRemoved: 0x08,
  cluster: 0x09,
  alarm: 0x0a,
};

/** Raw keys below and above every bucket's records (prefixes are 0x01–0x0a): the ends of a defragment. */
const BELOW_BUCKETS = Buffer.from([0x00]);
const ABOVE_BUCKETS = Buffer.from([0xff]);

export const BUCKETS: readonly Bucket[] = Object.keys(BUCKET_PREFIX) as Bucket[];

/** etcd's bucket names, used where etcd's on-the-wire/hash view of a bucket matters. */
export const ETCD_BUCKET_NAME: Record<Bucket, string> = {
  key: 'key',
  meta: 'meta',
  lease: 'lease',
  auth: 'auth',
  authUsers: 'authUsers',
  authRoles: 'authRoles',
  members: 'members',
  membersRemoved: 'members_removed',
  cluster: 'cluster',
  alarm: 'alarm',
};

/** Keys of the meta bucket (etcd's names). */
export const META_CONSISTENT_INDEX = Buffer.from('consistent_index');
export const META_SCHEDULED_COMPACT_REV = Buffer.from('scheduledCompactRev');
export const META_FINISHED_COMPACT_REV = Buffer.from('finishedCompactRev');

const SNAPSHOT_MAGIC = Buffer.from([0x4b, 0x56, 0x42, 0x4b, 0x4e, 0x44, 0x00, 0x01]); // "KVBKND" 0 1
const SNAPSHOT_TRAILER = 0xffffffff;

/** A magic for an error message: printable ASCII as is, other bytes as \xNN. */
function showMagic(b: Uint8Array): string {
  let out = '';
  for (const c of b) out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return `"${out}"`;
}
const SNAPSHOT_CHUNK = 64 * 1024;

function rawKey(bucket: Bucket, key: Uint8Array): Buffer {
  const b = Buffer.allocUnsafe(key.length + 1);
  b[0] = BUCKET_PREFIX[bucket];
  b.set(key, 1);
  return b;
}

function bucketBounds(bucket: Bucket): { gte: Buffer; lt: Buffer } {
  const p = BUCKET_PREFIX[bucket];
  return { gte: Buffer.from([p]), lt: Buffer.from([p + 1]) };
}

export interface EntriesRange {
  gte?: Buffer;
  lt?: Buffer;
  limit?: number;
  reverse?: boolean;
}

type Db = StorageDb;
type BatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer; prev?: Buffer };

const META_PREFIX = BUCKET_PREFIX.meta;
const KEY_PREFIX = BUCKET_PREFIX.key;

function deferred(): { promise: Promise<void>; resolve: () => void; reject: (e: unknown) => void } {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  promise.catch(() => {}); // observed by whoever awaits it; never an unhandled rejection
  return { promise, resolve, reject };
}

/** A batch of writes, applied atomically by Backend.commit. */
export class BatchTx {
  /** @internal */ readonly ops: BatchOp[] = [];
  /** @internal */ state: 'open' | 'committing' | 'committed' | 'failed' = 'open';
  private readonly done = deferred();

  put(bucket: Bucket, key: Buffer, value: Buffer): void {
    this.assertOpen();
    this.ops.push({ type: 'put', key: rawKey(bucket, key), value });
  }

  /**
   * Deletes a record. A key-bucket delete names the value it removes (`prev`): the backend's
   * integrity digest subtracts it (see backend_digest.ts).
   */
  del(bucket: Bucket, key: Buffer, prev?: Buffer): void {
    this.assertOpen();
    if (bucket === 'key' && prev === undefined) throw new Error('backend: a key-bucket delete must name the value it removes');
    this.ops.push({ type: 'del', key: rawKey(bucket, key), prev });
  }

  /** Number of operations accumulated. */
  get size(): number {
    return this.ops.length;
  }

  /** Resolves once the batch is durably written (rejects if its commit failed). */
  whenCommitted(): Promise<void> {
    return this.done.promise;
  }

  /** @internal */ settle(err?: unknown): void {
    if (err === undefined) {
      this.state = 'committed';
      this.done.resolve();
    } else {
      this.state = 'failed';
      this.done.reject(err);
    }
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error('backend: batch already committed');
  }
}

/** Reads over one consistent point-in-time view of the database. Close it when done. */
export class BackendSnapshot {
  /** @internal */ constructor(
    private readonly db: Db,
    private readonly snap: DbSnapshot,
  ) {}

  get(bucket: Bucket, key: Buffer): Promise<Buffer | undefined> {
    return this.db.get(rawKey(bucket, key), { snapshot: this.snap });
  }

  getSync(bucket: Bucket, key: Buffer): Buffer | undefined {
    return this.db.getSync(rawKey(bucket, key), { snapshot: this.snap });
  }

  getMany(bucket: Bucket, keys: Buffer[]): Promise<(Buffer | undefined)[]> {
    return this.db.getMany(
      keys.map((k) => rawKey(bucket, k)),
      { snapshot: this.snap },
    );
  }

  entries(bucket: Bucket, range?: EntriesRange): AsyncIterable<[Buffer, Buffer]> {
    return iterateBucket(this.db, bucket, range, this.snap);
  }

  /** entries(), in arrays of up to 1000 (cheaper per entry for long scans). */
  entryBatches(bucket: Bucket, range?: EntriesRange): AsyncIterable<[Buffer, Buffer][]> {
    return iterateBucketBatches(this.db, bucket, range, this.snap);
  }

  close(): Promise<void> {
    return this.snap.close();
  }
}

async function* iterateBucket(
  db: Db,
  bucket: Bucket,
  range: EntriesRange | undefined,
  snapshot: DbSnapshot | undefined,
): AsyncGenerator<[Buffer, Buffer]> {
  for await (const batch of iterateBucketBatches(db, bucket, range, snapshot)) yield* batch;
}

/** Entries fetched per round trip to the engine by the batched iteration. */
const IterateBatchEntries = 1000;

/**
 * A bucket's entries in arrays of up to IterateBatchEntries, fetched with nextv and a 1 MiB
 * read-ahead: per entry, an `await` of the async iterator costs about as much as reading it, and
 * LevelDB's default read-ahead is 16 KiB.
 */
async function* iterateBucketBatches(
  db: Db,
  bucket: Bucket,
  range: EntriesRange | undefined,
  snapshot: DbSnapshot | undefined,
): AsyncGenerator<[Buffer, Buffer][]> {
  const bounds = bucketBounds(bucket);
  const gte = range?.gte !== undefined ? rawKey(bucket, range.gte) : bounds.gte;
  const lt = range?.lt !== undefined ? rawKey(bucket, range.lt) : bounds.lt;
  if (Buffer.compare(gte, lt) >= 0) return;
  const it = db.iterator({
    gte,
    lt,
    limit: range?.limit ?? -1,
    reverse: range?.reverse ?? false,
    highWaterMarkBytes: 1 << 20,
    ...(snapshot !== undefined ? { snapshot } : {}),
  });
  try {
    for (;;) {
      const batch = await it.nextv(IterateBatchEntries);
      if (batch.length === 0) return;
      for (let i = 0; i < batch.length; i++) batch[i][0] = batch[i][0].subarray(1);
      yield batch;
    }
  } finally {
    await it.close();
  }
}

export interface BackendOpenOptions {
  /** Receives what LevelDB's recovery dropped or repaired at this open. */
  onWarning?: (message: string) => void;
  /** The storage engine (default classicEngine: LevelDB on the real file system). */
  engine?: StorageEngine;
  /** Default: the process's clock and timers. */
  clock?: MvccClock;
}

/**
 * One consistent point-in-time view for a snapshot: kv's framed stream (size, chunks) or the
 * buckets one by one (entries, e.g. for an etcd-format backup); see Backend.openSnapshot.
 */
export class SnapshotReader {
  private closed = false;
  private sizeBytes: number | undefined;

  /** @internal */ constructor(
    private readonly db: Db,
    private readonly snap: DbSnapshot,
    private readonly registry: Set<SnapshotReader>,
  ) {
    registry.add(this);
  }

  /** Bytes `chunks()` will yield: magic, every record, trailer. One pass over the view, cached. */
  async size(): Promise<number> {
    if (this.sizeBytes !== undefined) return this.sizeBytes;
    this.assertOpen();
    let n = SNAPSHOT_MAGIC.length + 8;
    const it = this.db.iterator({ snapshot: this.snap });
    try {
      for await (const [k, v] of it) n += 8 + k.length + v.length;
    } finally {
      await it.close();
    }
    this.sizeBytes = n;
    return n;
  }

  /** The stream, one chunk of about 64 KiB per pull. Read it at most once. */
  async *chunks(): AsyncGenerator<Buffer> {
    this.assertOpen();
    let crc = 0;
    let parts: Buffer[] = [SNAPSHOT_MAGIC];
    let size = SNAPSHOT_MAGIC.length;
    const flush = (): Buffer => {
      const chunk = Buffer.concat(parts, size);
      crc = crc32c(chunk, crc);
      parts = [];
      size = 0;
      return chunk;
    };
    const it = this.db.iterator({ snapshot: this.snap });
    try {
      for await (const [k, v] of it) {
        const hk = Buffer.allocUnsafe(4);
        hk.writeUInt32BE(k.length);
        const hv = Buffer.allocUnsafe(4);
        hv.writeUInt32BE(v.length);
        parts.push(hk, k, hv, v);
        size += 8 + k.length + v.length;
        if (size >= SNAPSHOT_CHUNK) yield flush();
      }
    } finally {
      await it.close();
    }
    if (size > 0) yield flush();
    const trailer = Buffer.allocUnsafe(8);
    trailer.writeUInt32BE(SNAPSHOT_TRAILER, 0);
    trailer.writeUInt32BE(crc >>> 0, 4);
    yield trailer;
  }

  /** One bucket's records over the same point-in-time view (as BackendSnapshot.entries); any number of passes. */
  entries(bucket: Bucket, range?: EntriesRange): AsyncIterable<[Buffer, Buffer]> {
    this.assertOpen();
    return iterateBucket(this.db, bucket, range, this.snap);
  }

  /** Releases the LevelDB snapshot. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.registry.delete(this);
    await this.snap.close();
  }

  private assertOpen(): void {
    if (this.closed) throw new Error('backend: snapshot reader is closed');
  }
}

/** Measurements of the directory after commits are at least this far apart (the estimate covers the gap). */
// Each measurement lists the database directory and stats every file; between two, size() counts
// every committed byte on top (an over-estimate), so a longer interval costs no exactness.
const SIZE_REMEASURE_MS = 1000;

/** Bytes a batch adds to the database before compression and compaction (what LevelDB's log gets). */
function batchBytes(ops: BatchOp[]): number {
  let n = 0;
  for (const op of ops) n += op.key.length + (op.type === 'put' ? op.value.length : 0) + 8;
  return n;
}

export class Backend {
  /** Every commit called so far, in order; never rejects (a failure poisons the backend instead). */
  private commitChain: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private poisoned: unknown = undefined;
  private closed = false;
  /** Digest of everything committed so far (including commits still in flight). */
  private readonly digest = new Digest();
  /** Records of the buckets other than key and meta, by raw key (latin1): the digest needs the value a put replaces. */
  private readonly mirror = new Map<string, Buffer>();
  /** Open snapshot readers; a reader leaves this set when it is closed. */
  private readonly readers = new Set<SnapshotReader>();
  // The size the quota is checked against (size()). Invariant: size() >= sizeForQuota() at the
  // last measurement plus every byte committed since that measurement started, so it never lags behind a commit; the next measurement corrects what compression
  // and compaction saved.
  private measured = 0;
  private writtenSinceMeasure = 0;
  private measuring: Promise<void> | undefined;
  private remeasure = false;
  private lastMeasureAt = 0;
  /** Ends the wait before a scheduled re-measure at once (close() uses it). */
  private wakeMeasure: (() => void) | undefined;

  private constructor(
    readonly dir: string,
    private readonly db: Db,
    private readonly engine: StorageEngine,
    private readonly clock: MvccClock,
  ) {}

  /**
   * Opens (creating if needed) the database in `dir` and proves it whole: the integrity digest
   * recomputed from its records must equal the one its newest batch stored, else
   * BackendCorruptError (see backend_digest.ts). LevelDB's LOCK file keeps a second opener out.
   */
  static async open(dir: string, opts: BackendOpenOptions = {}): Promise<Backend> {
    const engine = opts.engine ?? classicEngine;
    const db = await engine.open(dir);
    const be = new Backend(dir, db, engine, opts.clock ?? realMvccClock);
    try {
      // What the engine's recovery dropped (LevelDB tells it only in its info log): pass it on,
      // so that no repair goes unlogged.
      const warn = opts.onWarning;
      if (warn) for (const line of await engine.recoveryNotes(dir)) warn(`leveldb: ${line}`);
      await be.verify();
    } catch (err) {
      await db.close().catch(() => {});
      throw err;
    }
    await be.refreshSize();
    return be;
  }

  /** Recomputes the digest from every record and compares it with the stored one. */
  private async verify(): Promise<void> {
    let metaRecords = 0;
    let stored: Buffer | undefined;
    // One pass over everything at start: read in large batches (about half the time of the
    // default iteration, which fetches 16 KiB at a time).
    const it = this.db.iterator({ highWaterMarkBytes: 1 << 20 });
    try {
      for (;;) {
        const batch = await it.nextv(1000);
        if (batch.length === 0) break;
        for (const [k, v] of batch) {
          if (k[0] === META_PREFIX) {
            metaRecords++;
            if (k.length === META_DIGEST.length + 1 && k.subarray(1).equals(META_DIGEST)) stored = v;
            continue;
          }
          this.digest.add(k, v);
          if (k[0] !== KEY_PREFIX) this.mirror.set(k.toString('latin1'), v);
        }
      }
    } finally {
      await it.close();
    }
    if (stored === undefined) {
      if (metaRecords > 0 || this.digest.count > 0) {
        throw new BackendCorruptError(this.dir, `holds ${this.digest} but no integrity digest: its newest writes are lost`);
      }
      return; // a new, empty database
    }
    const want = Digest.decode(stored);
    if (!want) throw new BackendCorruptError(this.dir, `its integrity digest is malformed (${stored.length} bytes)`);
    if (!want.equals(this.digest)) {
      const lost = want.count - this.digest.count;
      const what = lost > 0 ? `${lost} records are missing` : lost < 0 ? `${-lost} records too many` : 'records were changed';
      throw new BackendCorruptError(this.dir, `integrity check failed: it holds ${this.digest}, its digest says ${want} (${what})`);
    }
  }

  /** Folds a batch's operations into the digest and the mirror, in order. */
  private account(ops: BatchOp[]): void {
    for (const op of ops) {
      const prefix = op.key[0];
      if (prefix === META_PREFIX) continue;
      if (prefix === KEY_PREFIX) {
        // Invariant: revision keys are written once (a put never replaces one).
        if (op.type === 'put') this.digest.add(op.key, op.value);
        else this.digest.remove(op.key, op.prev!);
        continue;
      }
      const id = op.key.toString('latin1');
      const old = this.mirror.get(id);
      if (old !== undefined) this.digest.remove(op.key, old);
      if (op.type === 'put') {
        this.digest.add(op.key, op.value);
        this.mirror.set(id, op.value);
      } else {
        this.mirror.delete(id);
      }
    }
  }

  /** Waits for pending commits, then closes the database. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.commitChain.catch(() => {});
    this.wakeMeasure?.(); // a re-measure waiting for its time is not needed any more
    await this.measuring?.catch(() => {});
    await this.db.close();
  }

  get(bucket: Bucket, key: Buffer): Promise<Buffer | undefined> {
    return this.db.get(rawKey(bucket, key));
  }

  /** Synchronous point read (classic-level getSync): for hot single-key paths. */
  getSync(bucket: Bucket, key: Buffer): Buffer | undefined {
    return this.db.getSync(rawKey(bucket, key));
  }

  getMany(bucket: Bucket, keys: Buffer[]): Promise<(Buffer | undefined)[]> {
    return this.db.getMany(keys.map((k) => rawKey(bucket, k)));
  }

  /** Entries of a bucket in key order (keys without the bucket prefix). */
  entries(bucket: Bucket, range?: EntriesRange): AsyncIterable<[Buffer, Buffer]> {
    return iterateBucket(this.db, bucket, range, undefined);
  }

  /** entries(), in arrays of up to 1000 (cheaper per entry for long scans). */
  entryBatches(bucket: Bucket, range?: EntriesRange): AsyncIterable<[Buffer, Buffer][]> {
    return iterateBucketBatches(this.db, bucket, range, undefined);
  }

  /** A consistent read view of the current committed state. */
  snapshot(): BackendSnapshot {
    return new BackendSnapshot(this.db, this.db.snapshot());
  }

  newBatch(): BatchTx {
    return new BatchTx();
  }

  private commitObserver: ((seconds: number) => void) | undefined;

  /**
   * Receives the duration of every batch written to the engine, in seconds, measured on the
   * backend's clock (the server's etcd_disk_backend_commit_duration_seconds; mvcc itself knows
   * no metrics library). undefined stops it.
   */
  observeCommits(fn: ((seconds: number) => void) | undefined): void {
    this.commitObserver = fn;
  }

  /**
   * Writes the batch atomically. Commits take effect in call order; after a
   * failed commit every later commit fails too (the backend is then unusable).
   */
  commit(tx: BatchTx, opts: { sync: boolean }): Promise<void> {
    if (tx.state !== 'open') return Promise.reject(new Error('backend: batch committed twice'));
    if (this.closed) return Promise.reject(new Error('backend: closed'));
    tx.state = 'committing';
    if (tx.ops.length > 0 && this.poisoned === undefined) {
      // The digest travels in the same atomic batch as the records it covers.
      this.account(tx.ops);
      tx.ops.push({ type: 'put', key: rawKey('meta', META_DIGEST), value: this.digest.encode() });
    }
    const run = async (): Promise<void> => {
      if (this.poisoned !== undefined) throw this.poisoned;
      if (tx.ops.length === 0) return;
      const observe = this.commitObserver;
      const t0 = observe ? this.clock.now() : 0;
      await this.db.batch(tx.ops, { sync: opts.sync });
      if (observe) observe((this.clock.now() - t0) / 1000);
      this.writtenSinceMeasure += batchBytes(tx.ops);
      this.scheduleMeasure();
    };
    this.inFlight++;
    const p = this.commitChain.then(run);
    this.commitChain = p.then(
      () => {
        this.inFlight--;
        tx.settle();
      },
      (err: unknown) => {
        this.inFlight--;
        if (this.poisoned === undefined) this.poisoned = err;
        tx.settle(err);
      },
    );
    return p;
  }

  /**
   * Resolves once every commit called so far has reached the database (rejects with the error if
   * one failed). A reader of the database itself (a snapshot, an iteration) that must see every
   * commit already called — the apply path publishes a batch before its commit lands — waits for
   * this first.
   */
  settled(): Promise<void> {
    return this.commitChain.then(() => {
      if (this.poisoned !== undefined) throw this.poisoned;
    });
  }

  /** Commits called and not yet landed (the apply path's backpressure). */
  get commitsInFlight(): number {
    return this.inFlight;
  }

  /** Makes every commit so far durable (one synced write after them). */
  sync(): Promise<void> {
    const tx = this.newBatch();
    tx.put('meta', META_DIGEST, this.digest.encode());
    return this.commit(tx, { sync: true });
  }

  /** Bytes of the files of the database directory (etcd's db_size). */
  async sizeOnDisk(): Promise<number> {
    return (await this.engine.usage(this.dir)).total;
  }

  /**
   * The backend's size for quota checks, without I/O: the last measurement (sizeForQuota) plus
   * every byte committed since (see the invariant on `measured`). Exact after refreshSize().
   */
  size(): number {
    return this.measured + this.writtenSinceMeasure;
  }

  /** Measures the directory now (after the commits already called) and returns size(). */
  async refreshSize(): Promise<number> {
    await this.commitChain.catch(() => {});
    // A re-measure scheduled after a commit may be waiting up to SIZE_REMEASURE_MS for its turn
    // (and one that ends may schedule the next): let each run now rather than wait for it — a
    // defragment was answered a second late for that.
    while (this.measuring) {
      this.wakeMeasure?.();
      await this.measuring.catch(() => {});
    }
    this.measuring = this.measure();
    await this.measuring.finally(() => (this.measuring = undefined));
    return this.size();
  }

  /**
   * What the quota counts: the tables of the database's current version plus its write-ahead log
   * files — not the outputs of a compaction still running nor the inputs it made obsolete, which
   * exist on disk together for a moment and would trip the quota at half of it.
   */
  async sizeForQuota(): Promise<number> {
    const { logs } = await this.engine.usage(this.dir);
    return logs + (await this.sizeInUse());
  }

  private async measure(): Promise<void> {
    const before = this.writtenSinceMeasure;
    this.lastMeasureAt = this.clock.now();
    const m = await this.sizeForQuota();
    // Bytes committed while we listed may be counted twice until the next measurement: size()
    // errs high, never low.
    this.measured = m;
    this.writtenSinceMeasure -= before;
  }

  /** After a commit: measure again soon, one measurement at a time, at most every SIZE_REMEASURE_MS. */
  private scheduleMeasure(): void {
    if (this.closed) return;
    if (this.measuring) {
      this.remeasure = true;
      return;
    }
    const wait = Math.max(0, this.lastMeasureAt + SIZE_REMEASURE_MS - this.clock.now());
    this.measuring = (async () => {
      if (wait > 0) {
        await new Promise<void>((resolve) => {
          const t = this.clock.setTimeout(resolve, wait);
          this.wakeMeasure = () => {
            t.clear();
            resolve();
          };
        });
        this.wakeMeasure = undefined;
      }
      if (!this.closed) await this.measure();
    })()
      .catch(() => {}) // the estimate stays an over-estimate; the next commit measures again
      .finally(() => {
        this.measuring = undefined;
        if (this.remeasure) {
          this.remeasure = false;
          this.scheduleMeasure();
        }
      });
  }

  /** Approximate bytes of live data in the table files (etcd's db_size_in_use). */
  async sizeInUse(): Promise<number> {
    return this.db.approximateSize(Buffer.from([0x00]), Buffer.from([0xff]));
  }

  /** Compacts the whole key range, reclaiming the space of deleted and replaced entries. */
  async defragment(): Promise<void> {
    await this.commitChain.catch(() => {});
    // First pass: flushes the memtable and merges each level above the deepest into the next.
    await this.db.compactRange(BELOW_BUCKETS, ABOVE_BUCKETS);
    // LevelDB's CompactRange never rewrites the tables of the deepest level holding the range, and
    // a database's first memtable flush goes straight to level 2 (then its deepest) with its dead
    // entries inside: a small backend whose writes and deletes all met in one memtable kept every
    // byte (2000 × 1 KiB written, 9/10 deleted: 2.3 MB before and after). Two deletion markers,
    // below and above every bucket, make the next flush one table spanning the whole key range;
    // it lands above the deepest level, so merging it down rewrites every table there. They
    // delete nothing (no record lies outside a bucket) and that merge drops them.
    await this.db.batch([
      { type: 'del', key: BELOW_BUCKETS },
      { type: 'del', key: ABOVE_BUCKETS },
    ]);
    // Second pass: flushes the markers (with any writes since the first pass) and merges again.
    await this.db.compactRange(BELOW_BUCKETS, ABOVE_BUCKETS);
    await this.refreshSize(); // the quota sees the reclaimed space at once
  }

  /** A consistent copy of every bucket in the framed format described at the top of this file,
   *  holding at least every commit called before the iteration starts. */
  async *snapshotStream(): AsyncGenerator<Buffer> {
    await this.settled();
    const reader = this.openSnapshot();
    try {
      yield* reader.chunks();
    } finally {
      await reader.close();
    }
  }

  /**
   * A consistent copy of the commits landed so far (await settled() first for every commit
   * called), read lazily: `size()` is the exact length of the stream `chunks()` yields
   * (counted over the same point-in-time view), and nothing is buffered beyond one chunk. The
   * caller closes it, whether or not it read to the end; until then it pins a LevelDB snapshot.
   */
  openSnapshot(): SnapshotReader {
    return new SnapshotReader(this.db, this.db.snapshot(), this.readers);
  }

  /** SnapshotReaders opened and not yet closed (each pins a LevelDB snapshot). */
  get openSnapshotReaders(): number {
    return this.readers.size;
  }

  /**
   * Creates a database in `dir` (which must not hold one) from a snapshot
   * stream, verifies its checksum and returns it opened. On any error the
   * partially written database is destroyed and the error is rethrown.
   */
  static async restoreFrom(
    dir: string,
    stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
    opts: Pick<BackendOpenOptions, 'engine' | 'clock'> = {},
  ): Promise<Backend> {
    const engine = opts.engine ?? classicEngine;
    const db = await engine.open(dir, { errorIfExists: true });
    const be = new Backend(dir, db, engine, opts.clock ?? realMvccClock);
    try {
      await readSnapshotInto(db, stream);
      // The stream carries the sender's digest: checking it proves the copy end to end.
      await be.verify();
      await be.sync(); // durable before the member may record the snapshot as installed
    } catch (err) {
      await db.close();
      await engine.destroy(dir).catch(() => {});
      throw err;
    }
    await be.refreshSize();
    return be;
  }
}

async function readSnapshotInto(db: Db, stream: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
  let buf: Buffer = Buffer.alloc(0);
  let crc = 0;
  let sawMagic = false;
  let done = false;
  let ops: BatchOp[] = [];
  let opsBytes = 0;
  const flushOps = async (): Promise<void> => {
    if (ops.length > 0) await db.batch(ops);
    ops = [];
    opsBytes = 0;
  };
  for await (const piece of stream) {
    if (done) {
      if (piece.length > 0) throw new Error('backend: snapshot has data after its trailer');
      continue;
    }
    buf = buf.length === 0 ? Buffer.from(piece) : Buffer.concat([buf, piece]);
    let off = 0;
    if (!sawMagic) {
      if (buf.length < SNAPSHOT_MAGIC.length) continue;
      const magic = buf.subarray(0, SNAPSHOT_MAGIC.length);
      if (!magic.equals(SNAPSHOT_MAGIC)) {
        throw new Error(`backend: not a backend snapshot stream (magic ${showMagic(magic)}, want ${showMagic(SNAPSHOT_MAGIC)})`);
      }
      sawMagic = true;
      off = SNAPSHOT_MAGIC.length;
    }
    for (;;) {
      if (buf.length - off < 4) break;
      const klen = buf.readUInt32BE(off);
      if (klen === SNAPSHOT_TRAILER) {
        if (buf.length - off < 8) break;
        crc = crc32c(buf.subarray(0, off), crc);
        const want = buf.readUInt32BE(off + 4);
        if (crc >>> 0 !== want) throw new Error('backend: snapshot checksum mismatch');
        if (buf.length > off + 8) throw new Error('backend: snapshot has data after its trailer');
        done = true;
        off = buf.length;
        break;
      }
      if (buf.length - off < 4 + klen + 4) break;
      const vlen = buf.readUInt32BE(off + 4 + klen);
      const recLen = 8 + klen + vlen;
      if (buf.length - off < recLen) break;
      const key = Buffer.from(buf.subarray(off + 4, off + 4 + klen));
      const value = Buffer.from(buf.subarray(off + 8 + klen, off + recLen));
      ops.push({ type: 'put', key, value });
      opsBytes += recLen;
      off += recLen;
    }
    if (!done) crc = crc32c(buf.subarray(0, off), crc);
    buf = buf.subarray(off);
    if (opsBytes >= 4 * 1024 * 1024) await flushOps();
  }
  if (!done) throw new Error('backend: snapshot stream truncated');
  await flushOps();
}

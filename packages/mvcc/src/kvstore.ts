/**
 * The multi-version key-value store (etcd's mvcc store).
 *
 * Data layout: every change is one entry of the backend's `key` bucket, keyed
 * by its revision (see revision.ts); a put stores the encoded
 * mvccpb.KeyValue, a deletion stores a tombstone (revision + 't') whose value
 * is a KeyValue holding only the key. The in-memory TreeIndex maps each key to
 * its revision history and is rebuilt from the key bucket on open.
 *
 * Write path (driven by one apply loop, one write at a time):
 *   tx = backend.newBatch(); w = store.write(tx); ...w.put/deleteRange...; w.end();
 *   store.setConsistentIndex(tx, index); await backend.commit(tx, ...);
 *   store.publish(index, [w]);
 * Several TxnWrites may share one BatchTx (group commit): each begins where the
 * previous ended (its revision is the previous one + 1 if that one changed
 * anything), and they are published together, in order, after the commit.
 *
 * Visibility invariants:
 * - `currentRev()` is the newest published revision; every revision <= it is
 *   committed to the backend. Readers of the store read at <= currentRev(), so
 *   they never see unpublished changes even though the index already holds them
 *   (the index answers "as of revision R" and ignores newer revisions).
 * - Changes of unpublished writes are served to later TxnWrites from `pending`
 *   (revision -> KeyValue) until they are published.
 * - The write path validates against the applied state (all sealed writes,
 *   published or not) so its answers do not depend on commit timing; the read
 *   path validates against the published state.
 */
import { realMvccClock, sleepOn, type MvccClock } from './timers.js';
import { decodeKeyValueMeta, decodeKeyValueView, encodeToBuffer, mvccpb } from '@kv/api';
import { crc32c } from '@node-rs/crc32';
import {
  type Backend,
  type BackendSnapshot,
  type BatchTx,
  type Bucket,
  BUCKETS,
  ETCD_BUCKET_NAME,
  META_CONSISTENT_INDEX,
  META_FINISHED_COMPACT_REV,
  META_SCHEDULED_COMPACT_REV,
} from './backend.js';
import { META_DIGEST } from './backend_digest.js';
import { CompactedError, FutureRevError } from './errors.js';
import { KeyIndex } from './key_index.js';
import {
  REV_BYTES_LEN,
  type Revision,
  bytesToRev,
  compareRev,
  isTombstone,
  mainRevPrefix,
  revKey,
  revKeyOfBytes,
  revToBytes,
} from './revision.js';
import { TreeIndex, keyString } from './tree_index.js';

type KeyValue = mvccpb.KeyValue;
type Event = mvccpb.Event;

/** Implemented by the server's lessor; mvcc never imports it. */
export interface LeaseBinding {
  exists(id: bigint): boolean;
  attach(id: bigint, key: Buffer): void;
  detach(id: bigint, key: Buffer): void;
}

export interface RangeOptions {
  /** Revision to read at; <= 0 or absent: the view's current revision. */
  rev?: bigint;
  /** Maximum number of kvs returned; <= 0 or absent: no limit. `count` is not limited. */
  limit?: number;
  /** Return kvs with empty values. */
  keysOnly?: boolean;
  /** Return only the count. */
  countOnly?: boolean;
}

export interface RangeResult {
  kvs: KeyValue[];
  /** Number of keys in the range at the read revision (regardless of limit). */
  count: number;
  /** The view's current revision (not the read revision). */
  rev: bigint;
}

/** Something ranges can be served from: the published store or a write transaction. */
export interface ReadView {
  range(key: Buffer, end: Buffer | undefined, o?: RangeOptions): Promise<RangeResult>;
  /** The revision the view reads at by default (etcd's TxnRead.Rev()). */
  readRev(): bigint;
  /** The compaction revision the view checks requests against; -1 when none (etcd's FirstRev()). */
  firstRev(): bigint;
}

export interface PublishedChange {
  rev: bigint;
  events: Event[];
}

export interface KVStoreOptions {
  leases?: LeaseBinding;
  /** Key-bucket entries deleted per compaction batch (etcd: 1000). */
  compactionBatchLimit?: number;
  /** Pause between compaction batches in ms (etcd: 10). */
  compactionPauseMs?: number;
  /** Times the pauses between compaction batches (default: the process's clock). */
  clock?: MvccClock;
}

/** Normalises a range end: undefined = single key, empty = to the end of the key space. */
function normEnd(end: Buffer | undefined): Buffer | undefined {
  if (end === undefined) return undefined;
  if (end.length === 1 && end[0] === 0) return Buffer.alloc(0);
  return end;
}

function emptyValue(kv: KeyValue): KeyValue {
  return { ...kv, value: Buffer.alloc(0) };
}

/** A KeyValue without its value, decoded without copying the value out of the record. */
function decodeKeysOnly(v: Buffer): KeyValue {
  const m = decodeKeyValueMeta(v);
  return {
    key: m.key,
    createRevision: m.createRevision,
    modRevision: m.modRevision,
    version: m.version,
    value: EMPTY,
    lease: m.lease,
  };
}

const EMPTY = Buffer.alloc(0);

/** Fewer records than this are read with one getMany whatever their spread. */
const DenseScanMin = 256;

/**
 * Whether the records of revs[missing] are better read by one scan of the revisions they span than
 * by a point lookup each: many of them, and at least half of the main revisions in their span
 * (a range over most of the keyspace, as a list of every key is). A scan reads records in order,
 * in large batches; LevelDB's point lookups are a seek each.
 */
function isDense(revs: Revision[], missing: number[]): boolean {
  if (missing.length < DenseScanMin) return false;
  let lo = revs[missing[0]].main;
  let hi = lo;
  for (const i of missing) {
    const m = revs[i].main;
    if (m < lo) lo = m;
    if (m > hi) hi = m;
  }
  return BigInt(missing.length) * 2n >= hi - lo + 1n;
}

/**
 * Reads the records of revs[missing] into out[] by one scan over [lowest, highest] revision, in
 * revision order; records in between that are not wanted (older versions, other keys) are skipped
 * undecoded. Every wanted record must be found.
 */
async function scanRevs(
  snap: BackendSnapshot,
  revs: Revision[],
  missing: number[],
  out: (KeyValue | undefined)[],
  decode: (v: Buffer) => KeyValue,
): Promise<void> {
  const order = [...missing].sort((a, b) => compareRev(revs[a], revs[b]));
  const first = revs[order[0]];
  const last = revs[order[order.length - 1]];
  let j = 0;
  const range = { gte: revToBytes(first), lt: revToBytes({ main: last.main, sub: last.sub + 1n }) };
  scan: for await (const batch of snap.entryBatches('key', range)) {
    for (const [k, v] of batch) {
      if (j === order.length) break scan;
      const want = revs[order[j]];
      if (k.length !== REV_BYTES_LEN || k.readBigUInt64BE(0) !== want.main || k.readBigUInt64BE(9) !== want.sub) continue;
      out[order[j]] = decode(v);
      j++;
    }
  }
  if (j !== order.length) {
    const r = revs[order[j]];
    throw new Error(`mvcc: range cannot find revision ${r.main}.${r.sub}`);
  }
}

function deferred<T = void>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

interface CompactionJob {
  rev: bigint;
  /** The batch that records the scheduled compaction; deletion waits for its commit. */
  tx: BatchTx | undefined;
  done: ReturnType<typeof deferred<void>>;
}

export class KVStore implements ReadView {
  /** @internal */ readonly index = new TreeIndex();
  /** @internal */ readonly leases: LeaseBinding | undefined;
  /** key (latin1) -> lease of its live version, for keys with a lease. */
  private readonly keyLease = new Map<string, bigint>();

  /** Newest published revision. */
  private pubRev = 1n;
  /** Revision of the newest sealed write, published or not (>= pubRev). */
  /** @internal */ appliedRev = 1n;
  /** Compaction revision readers of the published state check against; -1 = none. */
  private visibleCompactRev = -1n;
  /** Compaction revision the write path checks against; -1 = none. */
  /** @internal */ appliedCompactRev = -1n;
  private ci = 0n;

  /** revKey -> KeyValue of puts not yet published. */
  /** @internal */ readonly pending = new Map<string, KeyValue>();
  private readonly unpublished: TxnWrite[] = [];
  /** @internal */ active: TxnWrite | undefined;
  private readonly listeners = new Set<(changes: PublishedChange[]) => void>();

  private readonly deferredCompactions: CompactionJob[] = [];
  private physicalChain: Promise<void> = Promise.resolve();
  private readonly compactionBatchLimit: number;
  private readonly compactionPauseMs: number;
  private readonly clock: MvccClock;
  private closed = false;

  private constructor(
    readonly backend: Backend,
    opts: KVStoreOptions,
  ) {
    this.leases = opts.leases;
    this.compactionBatchLimit = opts.compactionBatchLimit ?? 1000;
    this.compactionPauseMs = opts.compactionPauseMs ?? 10;
    this.clock = opts.clock ?? realMvccClock;
  }

  /**
   * Opens the store over a backend: rebuilds the index from the key bucket,
   * restores currentRev, compactRev and the consistent index, re-attaches keys
   * to their leases and resumes an interrupted compaction.
   */
  static async open(backend: Backend, opts: KVStoreOptions = {}): Promise<KVStore> {
    const s = new KVStore(backend, opts);
    await s.restore();
    return s;
  }

  // ---- read side -----------------------------------------------------------

  /** Newest published revision (1 on an empty store, like etcd). */
  /** Keys in the in-memory index (a deleted key counts until compaction drops it): etcd_debugging_mvcc_keys_total. */
  keyCount(): number {
    return this.index.size;
  }

  currentRev(): bigint {
    return this.pubRev;
  }

  /**
   * Revision of the newest ended write transaction, published or not (the next
   * write gets writeRev()+1). Equals currentRev() when nothing is in flight.
   */
  writeRev(): bigint {
    return this.appliedRev;
  }

  /** Newest compacted revision visible to readers (0 = none). */
  compactRev(): bigint {
    return this.visibleCompactRev < 0n ? 0n : this.visibleCompactRev;
  }

  /** Index of the last applied raft entry, as restored or last published. */
  consistentIndex(): bigint {
    return this.ci;
  }

  readRev(): bigint {
    return this.pubRev;
  }

  firstRev(): bigint {
    return this.visibleCompactRev;
  }

  /**
   * Reads the published state. `end`: undefined = the single key `key`;
   * `Buffer.from([0])` (or an empty buffer) = every key >= key; otherwise [key, end).
   * Throws FutureRevError / CompactedError for a revision out of reach.
   */
  range(key: Buffer, end: Buffer | undefined, o: RangeOptions = {}): Promise<RangeResult> {
    try {
      return this.rangeAt(key, end, this.pubRev, this.visibleCompactRev, o);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * A read view pinned at the newest published revision: every read through it sees that
   * revision, however many writes are published meanwhile (a read-only txn served outside the
   * apply loop reads all its compares and ranges at one revision, as etcd's read txn does). A
   * compaction past the pinned revision, applied meanwhile, makes its reads fail with
   * CompactedError instead of answering from an index that no longer holds that revision.
   */
  readView(): ReadView {
    const rev = this.pubRev;
    const compactRev = this.visibleCompactRev;
    return {
      range: (key, end, o = {}) => {
        try {
          if (this.appliedCompactRev > rev) throw new CompactedError();
          return this.rangeAt(key, end, rev, compactRev, o);
        } catch (e) {
          return Promise.reject(e);
        }
      },
      readRev: () => rev,
      firstRev: () => compactRev,
    };
  }

  /**
   * Range at view revision curRev. Synchronous up to the backend reads, so the
   * index lookup and the choice of revisions happen atomically.
   * @internal
   */
  rangeAt(key: Buffer, end: Buffer | undefined, curRev: bigint, compactRev: bigint, o: RangeOptions): Promise<RangeResult> {
    let rev = o.rev ?? 0n;
    if (rev > curRev) throw new FutureRevError();
    if (rev <= 0n) rev = curRev;
    if (rev < compactRev) throw new CompactedError();
    const e = normEnd(end);
    if (e === undefined) {
      // single key: one index lookup, at most one backend read
      const at = this.index.get(key, rev);
      if (at === undefined) return Promise.resolve({ kvs: [], count: 0, rev: curRev });
      if (o.countOnly) return Promise.resolve({ kvs: [], count: 1, rev: curRev });
      const kv = this.readRevSync(at.modified);
      return Promise.resolve({ kvs: [o.keysOnly ? emptyValue(kv) : kv], count: 1, rev: curRev });
    }
    if (o.keysOnly && !o.countOnly) return this.keysOnlyRange(key, e, rev, curRev, o.limit ?? 0);
    const revs = this.index.revisions(key, e, rev);
    if (revs.length === 0) return Promise.resolve({ kvs: [], count: 0, rev: curRev });
    if (o.countOnly) return Promise.resolve({ kvs: [], count: revs.length, rev: curRev });
    let limit = o.limit ?? 0;
    if (limit <= 0 || limit > revs.length) limit = revs.length;
    return this.readRevs(limit === revs.length ? revs : revs.slice(0, limit), o.keysOnly === true).then((kvs) => ({
      kvs,
      count: revs.length,
      rev: curRev,
    }));
  }

  /**
   * A keys-only range over [key, end) at `rev`, answered from the index where it can be: a key
   * whose visible version is its newest has every field of its KeyValue but the value in the index
   * (its lease in keyLease, which changes only with a new version of the key). Only keys changed
   * since `rev` (or changed and not yet published) are read from the records. A keys-only list of
   * every key thus reads nothing from the database, where etcd reads every record.
   */
  private keysOnlyRange(key: Buffer, end: Buffer, rev: bigint, curRev: bigint, limit: number): Promise<RangeResult> {
    const kvs: (KeyValue | undefined)[] = [];
    const older: number[] = [];
    const olderRevs: Revision[] = [];
    const max = limit > 0 ? limit : Number.POSITIVE_INFINITY;
    let count = 0;
    this.index.visit(key, end, (ki) => {
      const at = ki.get(rev);
      if (at === undefined) return;
      count++;
      if (kvs.length >= max) return;
      if (at.modified.main === ki.modified.main && at.modified.sub === ki.modified.sub) {
        kvs.push({
          key: ki.key,
          createRevision: at.created.main,
          modRevision: at.modified.main,
          version: at.version,
          value: EMPTY,
          lease: this.keyLease.get(ki.ks) ?? 0n,
        });
      } else {
        older.push(kvs.length);
        olderRevs.push(at.modified);
        kvs.push(undefined);
      }
    });
    const done = (): RangeResult => ({ kvs: kvs as KeyValue[], count, rev: curRev });
    if (older.length === 0) return Promise.resolve(done());
    return this.readRevs(olderRevs, true).then((read) => {
      read.forEach((kv, j) => {
        kvs[older[j]] = kv;
      });
      return done();
    });
  }

  private readRevSync(r: Revision): KeyValue {
    const k = revKey(r);
    const p = this.pending.get(k);
    if (p !== undefined) return { ...p };
    const v = this.backend.getSync('key', revToBytes(r));
    if (v === undefined) throw new Error(`mvcc: range cannot find revision ${r.main}.${r.sub}`);
    return decodeKeyValueView(v);
  }

  /**
   * Reads the KeyValues of revisions. Unpublished ones come from `pending`;
   * the rest from one backend snapshot taken in the same tick as the index
   * lookup, so a compaction that runs meanwhile cannot remove them under us.
   * keysOnly: the values are neither decoded nor returned (empty).
   */
  private readRevs(revs: Revision[], keysOnly = false): Promise<KeyValue[]> {
    const out: (KeyValue | undefined)[] = new Array(revs.length);
    let missing: number[] = [];
    if (this.pending.size === 0) {
      missing = Array.from({ length: revs.length }, (_, i) => i);
    } else {
      for (let i = 0; i < revs.length; i++) {
        const p = this.pending.get(revKey(revs[i]));
        if (p !== undefined) out[i] = keysOnly ? emptyValue(p) : { ...p };
        else missing.push(i);
      }
    }
    if (missing.length === 0) return Promise.resolve(out as KeyValue[]);
    const decode = keysOnly ? decodeKeysOnly : decodeKeyValueView;
    if (missing.length === 1) {
      const kv = this.readRevSync(revs[missing[0]]);
      out[missing[0]] = keysOnly ? emptyValue(kv) : kv;
      return Promise.resolve(out as KeyValue[]);
    }
    const snap = this.backend.snapshot();
    const read = isDense(revs, missing)
      ? scanRevs(snap, revs, missing, out, decode)
      : snap
          .getMany(
            'key',
            missing.map((i) => revToBytes(revs[i])),
          )
          .then((vals) => {
            vals.forEach((v, j) => {
              const i = missing[j];
              if (v === undefined) throw new Error(`mvcc: range cannot find revision ${revs[i].main}.${revs[i].sub}`);
              out[i] = decode(v);
            });
          });
    return read.then(() => out as KeyValue[]).finally(() => snap.close());
  }

  // ---- write side ----------------------------------------------------------

  /**
   * Begins the next write transaction; its changes are recorded in `tx`.
   * Only one TxnWrite may be open at a time.
   */
  write(tx: BatchTx): TxnWrite {
    if (this.closed) throw new Error('mvcc: closed');
    if (this.active !== undefined) throw new Error('mvcc: a write transaction is already open');
    const w = new TxnWrite(this, tx, this.appliedRev);
    this.active = w;
    return w;
  }

  /** Records the consistent index in `tx` (meta bucket, 8 bytes big-endian). */
  setConsistentIndex(tx: BatchTx, index: bigint): void {
    const b = Buffer.allocUnsafe(8);
    b.writeBigUInt64BE(BigInt.asUintN(64, index));
    tx.put('meta', META_CONSISTENT_INDEX, b);
  }

  /**
   * Makes `writes` visible to readers (in order) and emits their events to listeners. Call it
   * once backend.commit of the batch holding them has been called; `committed` is that commit.
   * Until it lands, readers find the writes' values in the store's memory (`pending`), so a
   * write is visible before the database has it — as etcd's reads see its batch buffer before
   * bolt commits. The durability of a published write is the raft log's, not the backend's (on
   * a restart the log is replayed from the backend's consistent index). Without `committed` the
   * commit has landed already. Writes that changed nothing are accepted and ignored.
   */
  publish(consistentIndex: bigint, writes: TxnWrite[], committed?: Promise<void>): void {
    const out: PublishedChange[] = [];
    const landed: TxnWrite[] = [];
    for (const w of writes) {
      if (!w.isEnded()) throw new Error('mvcc: publish of a write transaction that was not ended');
      if (!w.changed()) continue;
      if (this.unpublished[0] !== w) throw new Error('mvcc: write transactions published out of order');
      this.unpublished.shift();
      landed.push(w);
      this.pubRev = w.rev;
      out.push({ rev: w.rev, events: w.changes() });
    }
    // Invariant: a revision's value leaves `pending` only once the database holds it. (A failed
    // commit keeps them: the backend is poisoned and the member stops.)
    const forget = (): void => {
      for (const w of landed) w.forgetPending();
    };
    if (committed === undefined) forget();
    else if (landed.length > 0) committed.then(forget, () => undefined);
    this.ci = consistentIndex;
    this.activateDueCompactions();
    if (out.length === 0) return;
    let firstError: unknown;
    for (const l of [...this.listeners]) {
      try {
        l(out);
      } catch (e) {
        firstError ??= e;
      }
    }
    if (firstError !== undefined) throw firstError;
  }

  /** Subscribes to published changes (events per revision, in revision order). Returns the unsubscriber. */
  onPublished(listener: (changes: PublishedChange[]) => void): () => void {
    this.listeners.add(listener);
    return () => {
      this.listeners.delete(listener);
    };
  }

  /** @internal the store-side bookkeeping of a put done by a TxnWrite */
  recordPut(w: TxnWrite, key: Buffer, value: Buffer, lease: bigint, sub: bigint): KeyValue {
    const main = w.rev;
    const prior = this.index.get(key, main);
    const ks = keyString(key);
    const kv: KeyValue = {
      key: Buffer.from(key),
      createRevision: prior === undefined ? main : prior.created.main,
      modRevision: main,
      version: (prior === undefined ? 0n : prior.version) + 1n,
      value: Buffer.from(value),
      lease,
    };
    const r = { main, sub };
    const old = prior !== undefined ? this.keyLease.get(ks) : undefined;
    // attach first: if the binding refuses, nothing has been changed yet
    if (lease !== 0n && lease !== old) this.leases?.attach(lease, kv.key);
    w.tx.put('key', revToBytes(r), encodeToBuffer(mvccpb.KeyValue, kv));
    this.index.put(key, r);
    this.pending.set(revKey(r), kv);
    if (old !== undefined && old !== lease) this.leases?.detach(old, kv.key);
    if (lease !== 0n) this.keyLease.set(ks, lease);
    else this.keyLease.delete(ks);
    return kv;
  }

  /** @internal the store-side bookkeeping of the deletion of a live key by a TxnWrite */
  recordDelete(w: TxnWrite, ki: KeyIndex, sub: bigint): KeyValue {
    const r = { main: w.rev, sub };
    const k = ki.key; // a fresh Buffer
    // a tombstone record holds only the key
    const tomb: KeyValue = { key: k, createRevision: 0n, modRevision: 0n, version: 0n, value: EMPTY, lease: 0n };
    w.tx.put('key', revToBytes(r, true), encodeToBuffer(mvccpb.KeyValue, tomb));
    if (!this.index.tombstoneIndex(ki, r)) throw new Error(`mvcc: cannot tombstone missing key ${k.toString()}`);
    const old = this.keyLease.get(ki.ks);
    if (old !== undefined) {
      this.keyLease.delete(ki.ks);
      this.leases?.detach(old, k);
    }
    // a deletion's change carries the key and, like etcd's watch events, its mod revision
    return { ...tomb, modRevision: w.rev };
  }

  /** @internal */ sealed(w: TxnWrite): void {
    if (this.active === w) this.active = undefined;
    if (w.changed()) {
      this.appliedRev = w.rev;
      this.unpublished.push(w);
    }
  }

  // ---- compaction ----------------------------------------------------------

  /**
   * Compacts away revisions older than `rev` (etcd semantics). Throws
   * CompactedError if rev <= the last compaction, FutureRevError if rev is
   * beyond the newest applied revision. Records scheduledCompactRev in `tx`.
   * The compaction takes effect for readers once `rev` is published; the
   * returned promise resolves when the old revisions are physically deleted
   * (in batches, after `tx` is committed) and finishedCompactRev is written.
   * Do not await it before committing `tx`: the deletion waits for that commit.
   */
  compact(rev: bigint, tx: BatchTx): Promise<void> {
    if (rev <= this.appliedCompactRev) throw new CompactedError();
    if (rev > this.appliedRev) throw new FutureRevError();
    this.appliedCompactRev = rev;
    tx.put('meta', META_SCHEDULED_COMPACT_REV, revToBytes({ main: rev, sub: 0n }));
    const job: CompactionJob = { rev, tx, done: deferred<void>() };
    if (this.deferredCompactions.length === 0 && rev <= this.pubRev) this.activateCompaction(job);
    else this.deferredCompactions.push(job);
    return job.done.promise;
  }

  /** Resolves when every compaction started so far has finished deleting. */
  compactionsSettled(): Promise<void> {
    return this.physicalChain;
  }

  private activateDueCompactions(): void {
    while (this.deferredCompactions.length > 0 && this.deferredCompactions[0].rev <= this.pubRev) {
      this.activateCompaction(this.deferredCompactions.shift()!);
    }
  }

  private activateCompaction(job: CompactionJob): void {
    this.visibleCompactRev = job.rev;
    const keep = this.index.compact(job.rev);
    const run = async (): Promise<void> => {
      if (job.tx !== undefined) await job.tx.whenCommitted();
      await this.deleteCompacted(job.rev, keep);
    };
    const p = this.physicalChain.then(run);
    p.then(job.done.resolve, job.done.reject);
    this.physicalChain = p.catch(() => {});
  }

  /** Deletes key-bucket entries <= rev not in `keep`, in batches; then records finishedCompactRev. */
  private async deleteCompacted(rev: bigint, keep: Set<string>): Promise<void> {
    const end = mainRevPrefix(rev + 1n);
    let from: Buffer | undefined;
    for (;;) {
      if (this.closed) return; // resumed on next open: scheduledCompactRev is on disk
      const keys: Buffer[] = [];
      const values: Buffer[] = [];
      for await (const [k, v] of this.backend.entries('key', { gte: from, lt: end, limit: this.compactionBatchLimit })) {
        keys.push(k);
        values.push(v);
      }
      const tx = this.backend.newBatch();
      keys.forEach((k, i) => {
        if (!keep.has(revKeyOfBytes(k))) tx.del('key', k, values[i]);
      });
      if (keys.length < this.compactionBatchLimit) {
        tx.put('meta', META_FINISHED_COMPACT_REV, revToBytes({ main: rev, sub: 0n }));
        await this.backend.commit(tx, { sync: true });
        return;
      }
      const last = bytesToRev(keys[keys.length - 1]);
      from = revToBytes({ main: last.main, sub: last.sub + 1n });
      await this.backend.commit(tx, { sync: false });
      if (this.compactionPauseMs > 0) await sleepOn(this.clock, this.compactionPauseMs);
    }
  }

  // ---- hashing -------------------------------------------------------------

  /**
   * etcd's Hash: CRC-32C over every bucket in etcd's bucket-name order, each
   * contributing its name and then its keys and values, leaving out the meta
   * bucket's consistent_index.
   */
  async hash(): Promise<number> {
    const order = [...BUCKETS].sort((a, b) => Buffer.compare(Buffer.from(ETCD_BUCKET_NAME[a]), Buffer.from(ETCD_BUCKET_NAME[b])));
    const snap = await this.settledSnapshot();
    try {
      let crc = 0;
      for (const bucket of order) {
        crc = crc32c(Buffer.from(ETCD_BUCKET_NAME[bucket]), crc);
        for await (const [k, v] of snap.entries(bucket)) {
          // Left out: the consistent index (as etcd) and kv's own integrity digest (etcd has none).
          if (bucket === 'meta' && (k.equals(META_CONSISTENT_INDEX) || k.equals(META_DIGEST))) continue;
          crc = crc32c(k, crc);
          crc = crc32c(v, crc);
        }
      }
      return crc >>> 0;
    } finally {
      await snap.close();
    }
  }

  /**
   * etcd's HashKV: CRC-32C over "key" and the key-bucket entries up to `rev`
   * (0 = current), leaving out entries at or below the compaction revision
   * that a compaction at `rev` would not keep. compactRev is -1 when the store
   * was never compacted (as etcd reports it).
   */
  async hashByRev(rev: bigint): Promise<{ hash: number; compactRev: bigint; currentRev: bigint }> {
    const compactRev = this.visibleCompactRev;
    const currentRev = this.pubRev;
    if (rev > 0n && rev <= compactRev) throw new CompactedError();
    if (rev > 0n && rev > currentRev) throw new FutureRevError();
    const at = rev === 0n ? currentRev : rev;
    const keep = this.index.keep(at);
    const snap = await this.settledSnapshot();
    try {
      let crc = crc32c(Buffer.from('key'));
      for await (const [k, v] of snap.entries('key', { lt: mainRevPrefix(at + 1n) })) {
        const kr = bytesToRev(k);
        if (kr.main > at) continue;
        if (kr.main <= compactRev && keep.size > 0 && !keep.has(revKeyOfBytes(k))) continue;
        crc = crc32c(k, crc);
        crc = crc32c(v, crc);
      }
      return { hash: crc >>> 0, compactRev, currentRev };
    } finally {
      await snap.close();
    }
  }

  /** A database snapshot holding every published revision (published ones may still be landing). */
  private async settledSnapshot(): Promise<BackendSnapshot> {
    await this.backend.settled();
    return this.backend.snapshot();
  }

  // ---- history (for watchers) ----------------------------------------------

  /**
   * Events of the published revisions in [fromRev, toRev] (toRev is capped at
   * currentRev), read back from the key bucket, one item per revision.
   * Throws CompactedError if fromRev is below the compaction revision.
   */
  history(fromRev: bigint, toRev: bigint): AsyncIterable<PublishedChange> {
    if (fromRev < this.visibleCompactRev) throw new CompactedError();
    return this.historyGen(fromRev, toRev);
  }

  private async *historyGen(fromRev: bigint, toRev: bigint): AsyncGenerator<PublishedChange> {
    // re-checked here: the body runs when iteration starts, maybe later than the call
    if (fromRev < this.visibleCompactRev) throw new CompactedError();
    const upTo = toRev < this.pubRev ? toRev : this.pubRev;
    const from = fromRev < 1n ? 1n : fromRev;
    if (from > upTo) return;
    const snap: BackendSnapshot = await this.settledSnapshot();
    try {
      let cur: PublishedChange | undefined;
      for await (const [k, v] of snap.entries('key', { gte: mainRevPrefix(from), lt: mainRevPrefix(upTo + 1n) })) {
        const r = bytesToRev(k);
        const kv = mvccpb.KeyValue.decode(v);
        let ev: Event;
        if (isTombstone(k)) {
          kv.modRevision = r.main;
          ev = { type: mvccpb.Event_EventType.DELETE, kv, prevKv: undefined };
        } else {
          ev = { type: mvccpb.Event_EventType.PUT, kv, prevKv: undefined };
        }
        if (cur !== undefined && cur.rev !== r.main) {
          yield cur;
          cur = undefined;
        }
        cur ??= { rev: r.main, events: [] };
        cur.events.push(ev);
      }
      if (cur !== undefined) yield cur;
    } finally {
      await snap.close();
    }
  }

  // ---- lifecycle -----------------------------------------------------------

  /** Stops background compaction (it resumes on the next open). Does not close the backend. */
  async close(): Promise<void> {
    this.closed = true;
    for (const job of this.deferredCompactions.splice(0)) job.done.resolve();
    await this.physicalChain;
  }

  private async restore(): Promise<void> {
    const b = this.backend;
    const finished = await b.get('meta', META_FINISHED_COMPACT_REV);
    if (finished !== undefined) this.visibleCompactRev = bytesToRev(finished).main;
    const scheduledBytes = await b.get('meta', META_SCHEDULED_COMPACT_REV);
    let scheduled = scheduledBytes !== undefined ? bytesToRev(scheduledBytes).main : 0n;
    const ciBytes = await b.get('meta', META_CONSISTENT_INDEX);
    if (ciBytes !== undefined && ciBytes.length === 8) this.ci = ciBytes.readBigUInt64BE(0);

    let current = 1n;
    const keyToLease = new Map<string, { key: Buffer; lease: bigint }>();
    for await (const batch of b.entryBatches('key', { gte: revToBytes({ main: 1n, sub: 0n }) }))
      for (const [k, v] of batch) {
        const r = bytesToRev(k);
        // the index needs every field but the value: decode without copying it
        const kv = decodeKeyValueMeta(v);
        const tomb = isTombstone(k);
        const ks = keyString(kv.key);
        current = r.main;
        const ki = this.index.keyIndexByString(ks);
        if (ki !== undefined) {
          if (tomb) {
            const last = ki.generations[ki.generations.length - 1];
            if (last !== undefined && !last.isEmpty()) ki.tombstone(r.main, r.sub);
          } else {
            ki.put(r.main, r.sub);
          }
        } else if (!tomb) {
          const fresh = new KeyIndex(ks);
          fresh.restore({ main: kv.createRevision, sub: 0n }, r, kv.version);
          this.index.insert(fresh);
        }
        if (tomb || kv.lease === 0n) keyToLease.delete(ks);
        else keyToLease.set(ks, { key: Buffer.from(kv.key), lease: kv.lease });
      }
    // entries up to the compaction revision may all be gone: never report less
    if (current < this.visibleCompactRev) current = this.visibleCompactRev;
    this.pubRev = current;
    this.appliedRev = current;
    this.appliedCompactRev = this.visibleCompactRev;
    if (scheduled <= this.visibleCompactRev) scheduled = 0n;

    for (const [ks, { key, lease }] of keyToLease) {
      this.keyLease.set(ks, lease);
      try {
        this.leases?.attach(lease, key);
      } catch {
        // the lease is gone (etcd logs and goes on)
      }
    }

    if (scheduled !== 0n && scheduled <= this.appliedRev) {
      // an interrupted compaction: finish it in the background
      this.appliedCompactRev = scheduled;
      this.activateCompaction({ rev: scheduled, tx: undefined, done: deferred<void>() });
    }
  }
}

/**
 * A write transaction. Every change it makes gets revision `rev`
 * (= the previous write's revision + 1), with sub-revisions 0, 1, 2... in order.
 */
export class TxnWrite implements ReadView {
  /** The revision its changes get (if it changes anything). */
  readonly rev: bigint;
  private readonly kvs: KeyValue[] = [];
  private ended = false;

  /** @internal */ constructor(
    private readonly store: KVStore,
    /** The batch its changes are written to. */
    readonly tx: BatchTx,
    /** The revision it started from (etcd's beginRev). */
    readonly beginRev: bigint,
  ) {
    this.rev = beginRev + 1n;
  }

  /** The store this transaction writes to. */
  get kv(): KVStore {
    return this.store;
  }

  readRev(): bigint {
    return this.kvs.length > 0 ? this.rev : this.beginRev;
  }

  firstRev(): bigint {
    return this.store.appliedCompactRev;
  }

  /** Reads the latest state, including earlier unpublished writes and this one's own changes. */
  range(key: Buffer, end: Buffer | undefined, o: RangeOptions = {}): Promise<RangeResult> {
    try {
      return this.store.rangeAt(key, end, this.readRev(), this.store.appliedCompactRev, o);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Puts key=value with a lease (0n = none). */
  put(key: Buffer, value: Buffer, lease: bigint): Promise<void> {
    try {
      this.putNow(key, value, lease);
      return Promise.resolve();
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Synchronous put. */
  putNow(key: Buffer, value: Buffer, lease: bigint): void {
    this.assertOpen();
    this.kvs.push(this.store.recordPut(this, key, value, lease, BigInt(this.kvs.length)));
  }

  /** Deletes the keys in the range (same `end` convention as range); returns how many. */
  deleteRange(key: Buffer, end: Buffer | undefined): Promise<number> {
    try {
      return Promise.resolve(this.deleteRangeNow(key, end));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** Synchronous deleteRange. */
  deleteRangeNow(key: Buffer, end: Buffer | undefined): number {
    this.assertOpen();
    const live = this.store.index.liveAt(key, normEnd(end), this.readRev());
    for (const ki of live) this.kvs.push(this.store.recordDelete(this, ki, BigInt(this.kvs.length)));
    return live.length;
  }

  /** True once it changed something. */
  changed(): boolean {
    return this.kvs.length > 0;
  }

  /** Its changes as watch events (PUT with the new kv; DELETE with key and mod revision). */
  changes(): Event[] {
    return this.kvs.map((kv) =>
      kv.createRevision === 0n
        ? { type: mvccpb.Event_EventType.DELETE, kv: { ...kv }, prevKv: undefined }
        : { type: mvccpb.Event_EventType.PUT, kv: { ...kv }, prevKv: undefined },
    );
  }

  /** Seals the transaction; the next write() follows it. */
  end(): void {
    if (this.ended) throw new Error('mvcc: write transaction ended twice');
    this.ended = true;
    this.store.sealed(this);
  }

  isEnded(): boolean {
    return this.ended;
  }

  /** @internal drops its puts from the store's unpublished cache (they are committed now) */
  forgetPending(): void {
    this.kvs.forEach((kv, i) => {
      if (kv.createRevision !== 0n) this.store.pending.delete(revKey({ main: this.rev, sub: BigInt(i) }));
    });
  }

  private assertOpen(): void {
    if (this.ended) throw new Error('mvcc: write transaction already ended');
  }
}

export type { Bucket };
export { CompactedError, FutureRevError };

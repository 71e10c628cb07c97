// The lessor: leases, their expiry, and the keys attached to them (etcd's lease/lessor.go model).
//
// It knows nothing of mvcc or the backend: it is given a RangeDeleter to delete a revoked lease's
// keys and a LeaseBucket to persist leases, both belonging to the write transaction being
// applied, so a revoke and its deletions commit atomically with the consistent index.
//
// Invariants:
// - Only the primary (the leader; in a single-member cluster, the member) lets leases expire.
//   A non-primary keeps every lease alive ("forever") until it is promoted.
// - A lease's keys are exactly the keys whose current version has that lease (kept by
//   attach/detach from mvcc's puts and deletes, and rebuilt on restore).
// - Every state change (grant, revoke, checkpoint) is applied from the log, on every member, in
//   log order; expiry only *proposes* a revoke.
import { etcdserverpb } from '@kv/api';
import { RpcError } from '../errors.js';

/** What revoke needs to delete a lease's keys: satisfied by mvcc's TxnWrite. */
export interface RangeDeleter {
  deleteRange(key: Buffer, end: Buffer | undefined): Promise<number>;
}

/** Where leases are persisted: the `lease` bucket of the apply's batch. */
export interface LeaseBucket {
  put(key: Buffer, value: Buffer): void;
  del(key: Buffer): void;
}

/** etcd's MaxLeaseTTL: 9,000,000,000 seconds. */
export const MaxLeaseTTL = 9_000_000_000n;
const forever = Number.POSITIVE_INFINITY;

export class Lease {
  /** Keys attached, as latin1 strings (byte-exact, and usable as Map keys). */
  readonly keys = new Set<string>();
  /** Monotonic ms at which the lease expires; +Infinity while not primary. */
  expiry = forever;
  constructor(
    readonly id: bigint,
    /** Granted TTL in seconds (after raising to the minimum). */
    readonly ttl: bigint,
    /** Remaining TTL in seconds from the last checkpoint; 0 = unset, use ttl. */
    public remainingTTL: bigint,
  ) {}

  /** Seconds left, truncated as etcd reports them; -1 once expired. */
  remainingSeconds(now: number): bigint {
    if (this.expiry === forever) return this.ttl;
    const ms = this.expiry - now;
    return ms <= 0 ? -1n : BigInt(Math.trunc(ms / 1000));
  }
}

export interface LessorOptions {
  /** Monotonic clock in ms (injected for tests). */
  now: () => number;
  /** The smallest TTL granted, in seconds (etcd: ceil(1.5 × election timeout)). */
  minTTL: bigint;
}

/** Encodes a lease as etcd's leasepb.Lease { ID = 1, TTL = 2, RemainingTTL = 3 }. */
export function encodeLeaseRecord(id: bigint, ttl: bigint, remainingTTL: bigint): Buffer {
  // The message is three int64 varints; LeaseCheckpoint has the same first two field numbers,
  // so encode it by hand with a tiny varint writer to keep exactly etcd's record.
  const out: number[] = [];
  const varint = (field: number, v: bigint) => {
    if (v === 0n) return;
    out.push(field << 3);
    let u = BigInt.asUintN(64, v);
    while (u >= 0x80n) {
      out.push(Number(u & 0x7fn) | 0x80);
      u >>= 7n;
    }
    out.push(Number(u));
  };
  varint(1, id);
  varint(2, ttl);
  varint(3, remainingTTL);
  return Buffer.from(out);
}

export function decodeLeaseRecord(buf: Buffer): { id: bigint; ttl: bigint; remainingTTL: bigint } {
  const r = { id: 0n, ttl: 0n, remainingTTL: 0n };
  let i = 0;
  while (i < buf.length) {
    const tag = buf[i++];
    if ((tag & 7) !== 0) throw new Error(`lease record: unexpected wire type in tag ${tag}`);
    let v = 0n;
    let shift = 0n;
    for (;;) {
      if (i >= buf.length) throw new Error('lease record: truncated varint');
      const b = buf[i++];
      v |= BigInt(b & 0x7f) << shift;
      if ((b & 0x80) === 0) break;
      shift += 7n;
    }
    v = BigInt.asIntN(64, v);
    if (tag >> 3 === 1) r.id = v;
    else if (tag >> 3 === 2) r.ttl = v;
    else if (tag >> 3 === 3) r.remainingTTL = v;
  }
  return r;
}

/** The lease bucket's key for a lease id: 8 bytes big-endian, as etcd's int2bytes. */
export function leaseKey(id: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(id);
  return b;
}

export class Lessor {
  private readonly leases = new Map<bigint, Lease>();
  private primary = false;

  constructor(private readonly opts: LessorOptions) {}

  isPrimary(): boolean {
    return this.primary;
  }

  /** Rebuilds leases from the lease bucket (keys are re-attached by mvcc's restore). */
  restore(records: Iterable<Buffer>): void {
    for (const rec of records) {
      const { id, ttl, remainingTTL } = decodeLeaseRecord(rec);
      // biome-ignore lint/complexity/useMathMinMax: TTLs are bigints, which Math.max does not take
      const t = ttl < this.opts.minTTL ? this.opts.minTTL : ttl;
      this.leases.set(id, new Lease(id, t, remainingTTL));
    }
  }

  // --- mvcc's LeaseBinding ---
  exists(id: bigint): boolean {
    return this.leases.has(id);
  }
  attach(id: bigint, key: Buffer): void {
    this.leases.get(id)?.keys.add(key.toString('latin1'));
  }
  detach(id: bigint, key: Buffer): void {
    this.leases.get(id)?.keys.delete(key.toString('latin1'));
  }

  lookup(id: bigint): Lease | undefined {
    return this.leases.get(id);
  }

  /** All leases, ordered by id. */
  list(): Lease[] {
    return [...this.leases.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  // --- applied from the log ---

  grant(id: bigint, ttl: bigint, bucket: LeaseBucket): Lease {
    if (id === 0n) throw new RpcError('LeaseNotFound');
    if (ttl > MaxLeaseTTL) throw new RpcError('LeaseTTLTooLarge');
    if (this.leases.has(id)) throw new RpcError('LeaseExist');
    const l = new Lease(id, ttl < this.opts.minTTL ? this.opts.minTTL : ttl, 0n);
    if (this.primary) l.expiry = this.opts.now() + Number(l.ttl) * 1000;
    this.leases.set(id, l);
    bucket.put(leaseKey(id), encodeLeaseRecord(l.id, l.ttl, 0n));
    return l;
  }

  /** Deletes the lease and its keys (all in the caller's write transaction). */
  async revoke(id: bigint, deleter: RangeDeleter, bucket: LeaseBucket): Promise<void> {
    const l = this.leases.get(id);
    if (!l) throw new RpcError('LeaseNotFound');
    // Sorted so that the deletions happen in a deterministic order on every member.
    const keys = [...l.keys].sort();
    for (const k of keys) await deleter.deleteRange(Buffer.from(k, 'latin1'), undefined);
    this.leases.delete(id);
    bucket.del(leaseKey(id));
  }

  checkpoint(id: bigint, remainingTTL: bigint, bucket: LeaseBucket): void {
    const l = this.leases.get(id);
    if (!l) return;
    l.remainingTTL = remainingTTL;
    bucket.put(leaseKey(id), encodeLeaseRecord(l.id, l.ttl, remainingTTL));
  }

  // --- primary only, not replicated ---

  /** Resets the expiry to now + TTL; returns the TTL. */
  renew(id: bigint): bigint {
    const l = this.leases.get(id);
    if (!l) throw new RpcError('LeaseNotFound');
    if (!this.primary) throw new RpcError('NotLeader');
    if (l.expiry <= this.opts.now()) throw new RpcError('LeaseNotFound');
    l.remainingTTL = 0n;
    l.expiry = this.opts.now() + Number(l.ttl) * 1000;
    return l.ttl;
  }

  /**
   * Becomes primary: every lease expires after its remaining TTL (from the last checkpoint) or its
   * full TTL, plus `extendMs` (etcd extends by an election timeout on leader change).
   */
  promote(extendMs: number): void {
    this.primary = true;
    const now = this.opts.now();
    for (const l of this.leases.values()) {
      const secs = l.remainingTTL > 0n ? l.remainingTTL : l.ttl;
      l.expiry = now + Number(secs) * 1000 + extendMs;
    }
  }

  demote(): void {
    this.primary = false;
    for (const l of this.leases.values()) l.expiry = forever;
  }

  /** Leases past their expiry (primary only), oldest first, at most `limit`. */
  expired(limit: number): Lease[] {
    if (!this.primary) return [];
    const now = this.opts.now();
    const out: Lease[] = [];
    for (const l of this.leases.values()) if (l.expiry <= now) out.push(l);
    out.sort((a, b) => a.expiry - b.expiry);
    return out.slice(0, limit);
  }

  /** Checkpoints of every lease's remaining TTL, to persist before stopping or periodically. */
  checkpoints(): etcdserverpb.LeaseCheckpoint[] {
    if (!this.primary) return [];
    const now = this.opts.now();
    const out: etcdserverpb.LeaseCheckpoint[] = [];
    for (const l of this.leases.values()) {
      const rem = l.remainingSeconds(now);
      if (rem > 0n && rem !== l.remainingTTL) out.push({ ID: l.id, remainingTTL: rem });
    }
    return out;
  }
}

/** etcd's minimum lease TTL: ceil(1.5 election timeouts) in seconds. */
export function minLeaseTTL(electionTimeoutMs: number, heartbeatMs: number): bigint {
  const electionTicks = Math.floor(electionTimeoutMs / heartbeatMs);
  const ms = Math.floor((3 * electionTicks) / 2) * heartbeatMs;
  return BigInt(Math.ceil(ms / 1000));
}

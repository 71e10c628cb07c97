// The backend's integrity digest: a multiset hash over every record the backend holds outside
// its meta bucket, kept current by every commit and written in the same atomic batch (meta key
// `kv_digest`). At open it is recomputed from the records and compared with the stored one.
//
// Why: LevelDB, opened without paranoid checks (classic-level offers no switch for them), drops
// a damaged stretch of its log on recovery and goes on, and a lost or truncated table file just
// means fewer records. Either way the newest surviving batch still carries the digest of
// everything written up to it, so a backend that lost records — or whose records changed —
// disagrees with its own digest, and the member refuses to serve a silent subset.
//
// Digest = (count, sum): count = number of records; sum = Σ crc32c(value, crc32c(rawKey))
// mod 2^32. Adding and removing a record are O(1), so the digest costs one CRC per written record.
//
// Invariants (what makes the incremental digest exact without reading before writing):
// - key bucket: a revision key is written once and never overwritten (every change gets a new
//   revision); it is deleted only by compaction, which passes the value it read (BatchTx.del with
//   `prev`).
// - other buckets except meta: small; the Backend keeps them mirrored in memory, so a put that
//   replaces a record and a delete know the previous value.
// - meta is outside the digest: its records (consistent index, compaction marks, the digest
//   itself) are rewritten by every batch and checked in their own ways.
import { crc32c } from '@node-rs/crc32';

/** meta bucket key of the stored digest (kv's own; etcd has no such key). */
export const META_DIGEST = Buffer.from('kv_digest');

export class Digest {
  /** A number, not a bigint: cheaper per record, and exact far beyond any backend's record count. */
  count = 0;
  sum = 0;

  add(rawKey: Uint8Array, value: Uint8Array): void {
    this.count += 1;
    this.sum = (this.sum + recordHash(rawKey, value)) >>> 0;
  }

  remove(rawKey: Uint8Array, value: Uint8Array): void {
    this.count -= 1;
    this.sum = (this.sum - recordHash(rawKey, value)) >>> 0;
  }

  equals(o: Digest): boolean {
    return this.count === o.count && this.sum === o.sum;
  }

  /** 12 bytes: u64 BE count, u32 BE sum. */
  encode(): Buffer {
    const b = Buffer.allocUnsafe(12);
    b.writeBigUInt64BE(BigInt(this.count), 0);
    b.writeUInt32BE(this.sum, 8);
    return b;
  }

  static decode(b: Buffer): Digest | undefined {
    if (b.length !== 12) return undefined;
    const d = new Digest();
    d.count = Number(b.readBigUInt64BE(0));
    d.sum = b.readUInt32BE(8);
    return d;
  }

  toString(): string {
    return `${this.count} records, sum ${this.sum.toString(16).padStart(8, '0')}`;
  }
}

function recordHash(rawKey: Uint8Array, value: Uint8Array): number {
  return crc32c(value, crc32c(rawKey));
}

/** The backend holds something other than what its own digest says: it lost or changed records. */
export class BackendCorruptError extends Error {
  override readonly name = 'BackendCorruptError';
  constructor(
    readonly dir: string,
    message: string,
  ) {
    super(`backend ${dir}: ${message}`);
  }
}

// Byte helpers shared by the KV, watch and lease APIs.

/** A key or value as the API accepts it: text (UTF-8 encoded) or raw bytes. */
export type Bytes = string | Buffer | Uint8Array;

/** Encode a key or value for the wire. Strings are UTF-8; Uint8Arrays are wrapped, not copied. */
export function toBuffer(b: Bytes): Buffer {
  if (typeof b === 'string') return Buffer.from(b, 'utf8');
  if (Buffer.isBuffer(b)) return b;
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

/** The single zero byte: as a range end it means "to the end of the keyspace". */
export const NUL: Buffer = Buffer.from([0]);

/**
 * The smallest key greater than every key that starts with `prefix`: increment the last byte
 * below 0xff and drop what follows it. A prefix of only 0xff bytes (or an empty prefix) has no
 * such key; the range then runs to the end of the keyspace, which etcd spells "\0".
 */
export function prefixEnd(prefix: Bytes): Buffer {
  const end = Buffer.from(toBuffer(prefix));
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i]! < 0xff) {
      end[i] = end[i]! + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from(NUL);
}

/** Options that turn a single key into a range; at most one of them may be set. */
export interface RangeSpec {
  /** Every key starting with the given key. */
  prefix?: boolean;
  /** Every key greater than or equal to the given key. */
  fromKey?: boolean;
  /** Explicit exclusive end of the range [key, rangeEnd). */
  rangeEnd?: Bytes;
}

/**
 * Resolve a key plus range options into the wire's (key, rangeEnd) pair, the way etcd's Go
 * client does: an empty key with `prefix` or `fromKey` means the whole keyspace ("\0", "\0").
 */
export function resolveRange(key: Bytes, spec: RangeSpec): { key: Buffer; rangeEnd: Buffer } {
  const set = [spec.prefix, spec.fromKey, spec.rangeEnd !== undefined].filter(Boolean).length;
  if (set > 1) throw new TypeError('at most one of prefix, fromKey and rangeEnd may be given');
  let k = toBuffer(key);
  if (spec.prefix) {
    if (k.length === 0) return { key: Buffer.from(NUL), rangeEnd: Buffer.from(NUL) };
    return { key: k, rangeEnd: prefixEnd(k) };
  }
  if (spec.fromKey) {
    if (k.length === 0) k = Buffer.from(NUL);
    return { key: k, rangeEnd: Buffer.from(NUL) };
  }
  if (spec.rangeEnd !== undefined) return { key: k, rangeEnd: toBuffer(spec.rangeEnd) };
  return { key: k, rangeEnd: Buffer.alloc(0) };
}

/** A lease or revision number as the API accepts it. */
export type Int64 = bigint | number;

export function toBigInt(n: Int64 | undefined): bigint {
  if (n === undefined) return 0n;
  if (typeof n === 'bigint') return n;
  if (!Number.isSafeInteger(n)) throw new RangeError(`not a safe integer: ${n}`);
  return BigInt(n);
}

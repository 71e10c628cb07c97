// Deterministic key choice and fixed-size keys and values, so kvd and etcd see the same requests.

/** Seeded floats in [0, 1): the one seeded generator (@kv/raft's, through the test kit). */
export { prng } from '@kv/testkit';

/**
 * Key `index` of a key space: `prefix` then the zero-padded index, `size` bytes in all.
 * Invariant: distinct indexes give distinct keys when size >= prefix.length + digits(index).
 */
export function makeKey(prefix: string, index: number, size: number): Buffer {
  const digits = size - prefix.length;
  if (digits < String(index).length) throw new RangeError(`key size ${size} cannot hold index ${index} after "${prefix}"`);
  return Buffer.from(prefix + String(index).padStart(digits, '0'));
}

/** A value of `size` bytes (deterministic filler; servers do not compress). */
export function makeValue(size: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = 97 + (i % 26);
  return b;
}

/** Watch workload values carry their send time (process.hrtime.bigint) in the first 8 bytes. */
export const STAMP_BYTES = 8;

export function stampValue(base: Buffer, sentNs: bigint): Buffer {
  const v = Buffer.allocUnsafe(Math.max(base.length, STAMP_BYTES));
  base.copy(v);
  v.writeBigUInt64BE(sentNs, 0);
  return v;
}

export function readStamp(value: Buffer): bigint | undefined {
  return value.length >= STAMP_BYTES ? value.readBigUInt64BE(0) : undefined;
}

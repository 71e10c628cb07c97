// Deterministic key choice and fixed-size keys and values, so kvd and etcd see the same requests.

/** mulberry32: a small, fast 32-bit PRNG; same seed → same sequence. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

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

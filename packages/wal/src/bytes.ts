// Small byte helpers.

const ZEROS = Buffer.alloc(64 * 1024);

/** Ranges up to this long are checked byte by byte: cheaper than a call into Buffer.compare. */
const ShortRange = 64;

/** True if buf[start, end) holds only zero bytes (memcmp in 64 KiB steps). */
export function isZero(buf: Uint8Array, start: number, end: number): boolean {
  // A scan checks a record header (16 bytes) and its padding this way for every record.
  if (end - start <= ShortRange) {
    for (let i = start; i < end; i++) if (buf[i] !== 0) return false;
    return true;
  }
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  for (let p = start; p < end; ) {
    const n = Math.min(end - p, ZEROS.length);
    if (b.compare(ZEROS, 0, n, p, p + n) !== 0) return false;
    p += n;
  }
  return true;
}

/** A shared read-only block of zeros for preallocation writes. */
export function zeroBlock(): Buffer {
  return ZEROS;
}

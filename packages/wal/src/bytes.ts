// Small byte helpers.

const ZEROS = Buffer.alloc(64 * 1024);

/** True if buf[start, end) holds only zero bytes (memcmp in 64 KiB steps). */
export function isZero(buf: Uint8Array, start: number, end: number): boolean {
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

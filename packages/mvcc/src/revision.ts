/**
 * Revisions of the key space.
 *
 * A revision is a pair (main, sub): `main` is the store revision of an atomic
 * change set (one write transaction), `sub` numbers the individual changes
 * inside that set, starting at 0.
 *
 * On disk a revision is the 17-byte key `main(8, BE) '_' sub(8, BE)` of the
 * key bucket (etcd's layout). A deletion (tombstone) carries one more byte,
 * `'t'`. Because both numbers are fixed-width big-endian, the byte order of
 * encoded revisions is the numeric order of (main, sub).
 */

export interface Revision {
  readonly main: bigint;
  readonly sub: bigint;
}

/** Length of an encoded revision without mark. */
export const REV_BYTES_LEN = 17;
/** Length of an encoded revision with the tombstone mark. */
export const MARKED_REV_BYTES_LEN = REV_BYTES_LEN + 1;
const TOMBSTONE_MARK = 0x74; // 't'
const SEPARATOR = 0x5f; // '_'

export function rev(main: bigint, sub: bigint = 0n): Revision {
  return { main, sub };
}

/** -1, 0, 1 as a is before, equal to or after b. */
export function compareRev(a: Revision, b: Revision): number {
  if (a.main !== b.main) return a.main < b.main ? -1 : 1;
  if (a.sub !== b.sub) return a.sub < b.sub ? -1 : 1;
  return 0;
}

export function revGreaterThan(a: Revision, b: Revision): boolean {
  return compareRev(a, b) > 0;
}

export function revEqual(a: Revision, b: Revision): boolean {
  return a.main === b.main && a.sub === b.sub;
}

/** Encodes a revision as the 17-byte key (18 with the tombstone mark). */
export function revToBytes(r: Revision, tombstone = false): Buffer {
  const b = Buffer.allocUnsafe(tombstone ? MARKED_REV_BYTES_LEN : REV_BYTES_LEN);
  b.writeBigUInt64BE(BigInt.asUintN(64, r.main), 0);
  b[8] = SEPARATOR;
  b.writeBigUInt64BE(BigInt.asUintN(64, r.sub), 9);
  if (tombstone) b[REV_BYTES_LEN] = TOMBSTONE_MARK;
  return b;
}

/** Decodes the revision of a key-bucket key (the mark, if any, is ignored). */
export function bytesToRev(b: Uint8Array): Revision {
  if (b.length < REV_BYTES_LEN) throw new Error(`mvcc: revision bytes too short (${b.length})`);
  const buf = Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  return {
    main: BigInt.asIntN(64, buf.readBigUInt64BE(0)),
    sub: BigInt.asIntN(64, buf.readBigUInt64BE(9)),
  };
}

export function isTombstone(b: Uint8Array): boolean {
  return b.length === MARKED_REV_BYTES_LEN && b[REV_BYTES_LEN] === TOMBSTONE_MARK;
}

/**
 * A string identity for a revision, usable as a Map/Set key: the latin1 string
 * of its 17 encoded bytes. `revKeyOfBytes` gives the same string for a
 * key-bucket key (with or without mark) without decoding it.
 */
export function revKey(r: Revision): string {
  return revToBytes(r).toString('latin1');
}

export function revKeyOfBytes(b: Buffer): string {
  return b.toString('latin1', 0, REV_BYTES_LEN);
}

/** Encodes only the main part as 8 BE bytes: sorts before every (main, sub). */
export function mainRevPrefix(main: bigint): Buffer {
  const b = Buffer.allocUnsafe(8);
  b.writeBigUInt64BE(BigInt.asUintN(64, main), 0);
  return b;
}

/**
 * bbolt's on-disk format (go.etcd.io/bbolt 1.3, the database file etcd 3.4/3.5 keeps its backend
 * in and streams as its snapshot), as far as the reader and writer of this directory need it.
 * Every integer is little-endian (bbolt writes its structs in the machine's order; every platform
 * etcd ships for is little-endian).
 *
 *   page     header 16 bytes: id u64, flags u16, count u16, overflow u32 — the page spans
 *            1 + overflow consecutive pages of pageSize bytes; page N starts at N * pageSize.
 *   meta     pages 0 and 1, at byte 16 of the page: magic u32 (0xED0CDAED), version u32 (2),
 *            pageSize u32, flags u32, root bucket {root pgid u64, sequence u64}, freelist pgid u64,
 *            pgid u64 (high-water mark: pages in use are < pgid), txid u64, checksum u64
 *            (FNV-1a 64 of the 56 bytes before it). The valid meta with the higher txid is current.
 *   branch   count elements {pos u32, ksize u32, pgid u64}, then the keys; element i's key starts
 *            pos bytes after element i itself. Each key is the first key of its child page.
 *   leaf     count elements {flags u32, pos u32, ksize u32, vsize u32}, then key and value bytes,
 *            pos counted from the element. flags 0x01 marks a nested bucket, whose value is a
 *            bucket header {root pgid u64, sequence u64}; root 0 means an inline bucket whose leaf
 *            page (header + elements) follows the header inside the value.
 *   freelist count page ids u64 (if count is 0xFFFF, the first u64 is the real count).
 * The top-level "root bucket" of the meta holds only nested buckets (etcd's key, meta, lease, ...).
 */

export const PAGE_HEADER_SIZE = 16;
export const BRANCH_ELEMENT_SIZE = 16;
export const LEAF_ELEMENT_SIZE = 16;
export const BUCKET_HEADER_SIZE = 16;
/** Bytes of the meta struct; the checksum covers the first META_CHECKSUM_OFFSET of them. */
export const META_SIZE = 64;
export const META_CHECKSUM_OFFSET = 56;

export const BRANCH_PAGE_FLAG = 0x01;
export const LEAF_PAGE_FLAG = 0x02;
export const META_PAGE_FLAG = 0x04;
export const FREELIST_PAGE_FLAG = 0x10;
/** Leaf element flag: the value is a nested bucket. */
export const BUCKET_LEAF_FLAG = 0x01;

export const BOLT_MAGIC = 0xed0cdaed;
export const BOLT_VERSION = 2;
/** The freelist pgid of a database opened with NoFreelistSync. */
export const PGID_NO_FREELIST = 0xffffffffffffffffn;
/** The page size the writer uses (bbolt's default on Linux/amd64). */
export const DEFAULT_PAGE_SIZE = 4096;

/** A database file the reader refuses: damaged, truncated, or not bbolt. */
export class BoltFormatError extends Error {
  constructor(message: string) {
    super(`bbolt: ${message}`);
    this.name = 'BoltFormatError';
  }
}

export interface BoltMeta {
  readonly pageSize: number;
  readonly flags: number;
  /** Root page of the top-level bucket. */
  readonly root: bigint;
  readonly sequence: bigint;
  readonly freelist: bigint;
  /** High-water mark: every page in use has an id below it. */
  readonly pgid: bigint;
  readonly txid: bigint;
  readonly checksum: bigint;
}

const FNV_OFFSET = 0xcbf29ce484222325n;
const FNV_PRIME = 0x100000001b3n;
const MASK64 = 0xffffffffffffffffn;

/** FNV-1a, 64 bits (Go's hash/fnv New64a). Used on meta structs only (56 bytes), so BigInt is fine. */
export function fnv64a(data: Uint8Array): bigint {
  let h = FNV_OFFSET;
  for (let i = 0; i < data.length; i++) h = ((h ^ BigInt(data[i])) * FNV_PRIME) & MASK64;
  return h;
}

/** Decodes the meta struct at `off` of `page` (the page's header comes before it). */
export function decodeMeta(page: Buffer, off = PAGE_HEADER_SIZE): BoltMeta & { magic: number; version: number } {
  return {
    magic: page.readUInt32LE(off),
    version: page.readUInt32LE(off + 4),
    pageSize: page.readUInt32LE(off + 8),
    flags: page.readUInt32LE(off + 12),
    root: page.readBigUInt64LE(off + 16),
    sequence: page.readBigUInt64LE(off + 24),
    freelist: page.readBigUInt64LE(off + 32),
    pgid: page.readBigUInt64LE(off + 40),
    txid: page.readBigUInt64LE(off + 48),
    checksum: page.readBigUInt64LE(off + 56),
  };
}

/** Writes `m` at `off` of `page` with its checksum computed; returns the checksum. */
export function encodeMeta(page: Buffer, m: Omit<BoltMeta, 'checksum'>, off = PAGE_HEADER_SIZE): bigint {
  page.writeUInt32LE(BOLT_MAGIC, off);
  page.writeUInt32LE(BOLT_VERSION, off + 4);
  page.writeUInt32LE(m.pageSize, off + 8);
  page.writeUInt32LE(m.flags, off + 12);
  page.writeBigUInt64LE(m.root, off + 16);
  page.writeBigUInt64LE(m.sequence, off + 24);
  page.writeBigUInt64LE(m.freelist, off + 32);
  page.writeBigUInt64LE(m.pgid, off + 40);
  page.writeBigUInt64LE(m.txid, off + 48);
  const sum = fnv64a(page.subarray(off, off + META_CHECKSUM_OFFSET));
  page.writeBigUInt64LE(sum, off + META_CHECKSUM_OFFSET);
  return sum;
}

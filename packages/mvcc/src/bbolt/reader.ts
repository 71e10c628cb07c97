/**
 * A read-only bbolt database: opens a bbolt file (etcd's backend db, or an `etcdctl snapshot
 * save` file with or without its sha256 trailer) from a Buffer or a path, picks the current meta
 * page and iterates its buckets. Format: see format.ts.
 *
 * Safety on a hostile or damaged file — every read is bounds-checked, and:
 *   - a meta page counts only if its magic, version and FNV-1a checksum are right and its root,
 *     freelist and high-water mark fit the file; with both metas invalid the open fails;
 *   - a tree page must lie below the high-water mark, carry its own id and the expected type
 *     (branch or leaf), and hold its elements inside its span;
 *   - each iteration visits a page at most once (a cycle or a shared child is an error) and
 *     descends at most MAX_DEPTH levels, so it ends after at most `pgid` page reads;
 *   - keys must come out strictly ascending, else the file is refused.
 * Errors are BoltFormatError with the page id and what is wrong.
 *
 * From a path, pages are read on demand with positioned reads (memory: one page span at a time,
 * plus the set of visited page ids); from a Buffer, keys and values are views into it.
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import {
  BOLT_MAGIC,
  BOLT_VERSION,
  BRANCH_ELEMENT_SIZE,
  BRANCH_PAGE_FLAG,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  BoltFormatError,
  type BoltMeta,
  LEAF_ELEMENT_SIZE,
  LEAF_PAGE_FLAG,
  META_CHECKSUM_OFFSET,
  META_PAGE_FLAG,
  META_SIZE,
  PAGE_HEADER_SIZE,
  PGID_NO_FREELIST,
  decodeMeta,
  fnv64a,
} from './format.js';

/** Deeper B+trees than this are refused (bbolt's trees of 2^32 keys are < 20 levels deep). */
const MAX_DEPTH = 64;
const MIN_PAGE_SIZE = 512;
const MAX_PAGE_SIZE = 1 << 16;

/** Where the file's bytes come from. */
interface ByteSource {
  readonly size: number;
  /** Exactly `length` bytes at `offset` (the caller checked the range). */
  read(offset: number, length: number): Buffer;
  close(): void;
}

function bufferSource(buf: Buffer): ByteSource {
  return { size: buf.length, read: (off, len) => buf.subarray(off, off + len), close: () => {} };
}

function fileSource(path: string): ByteSource {
  const fd = openSync(path, 'r');
  let closed = false;
  try {
    const size = fstatSync(fd).size;
    return {
      size,
      read(off, len) {
        if (closed) throw new Error('bbolt: database is closed');
        const b = Buffer.allocUnsafe(len);
        let got = 0;
        while (got < len) {
          const n = readSync(fd, b, got, len - got, off + got);
          if (n === 0) throw new BoltFormatError(`file shrank while reading (offset ${off + got} of ${size})`);
          got += n;
        }
        return b;
      },
      close() {
        if (closed) return;
        closed = true;
        closeSync(fd);
      },
    };
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/** A page (with its overflow pages) as read from the file, or an inline bucket's page. */
interface PageView {
  readonly id: number;
  readonly flags: number;
  readonly count: number;
  /** The whole span: header, elements, data. */
  readonly data: Buffer;
}

export interface BoltBucketInfo {
  readonly name: Buffer;
  /** Root page id; 0 for an inline bucket. */
  readonly root: bigint;
  readonly sequence: bigint;
}

export interface BoltReader {
  /** The current meta page (the valid one with the higher txid). */
  readonly meta: BoltMeta;
  /** Which meta page was chosen (0 or 1). */
  readonly metaPage: 0 | 1;
  /** Names of the top-level buckets in key order (decoded as UTF-8). */
  buckets(): string[];
  /** The top-level buckets with their raw names and headers, in key order. */
  bucketInfos(): BoltBucketInfo[];
  hasBucket(name: string | Buffer): boolean;
  /**
   * The key/values of a top-level bucket in ascending key order (nested buckets inside it are
   * skipped). Throws BoltFormatError if the bucket does not exist or its pages are damaged (the
   * error may come mid-iteration, after some entries). From a Buffer, keys and values share its
   * memory.
   */
  entries(bucket: string | Buffer): Iterable<[Buffer, Buffer]>;
  /** Releases the file (no-op for a Buffer). Idempotent. */
  close(): void;
}

/**
 * Opens a bbolt database. `src` is the file's bytes or its path. Validates the meta pages; pages
 * of the trees are checked as iteration reaches them.
 */
export function openBolt(src: Buffer | string): BoltReader {
  const source = typeof src === 'string' ? fileSource(src) : bufferSource(src);
  try {
    return new Reader(source);
  } catch (err) {
    source.close();
    throw err;
  }
}

type MetaCandidate = { meta: BoltMeta; page: 0 | 1 } | { error: string; page: 0 | 1 };

class Reader implements BoltReader {
  readonly meta: BoltMeta;
  readonly metaPage: 0 | 1;
  private readonly pageSize: number;
  /** Pages with ids below this exist in the file and may be in use. */
  private readonly hwm: number;
  private closed = false;

  constructor(private readonly src: ByteSource) {
    const m0 = this.readMeta(0, undefined);
    // bbolt takes the page size from meta 0; if meta 0 is damaged, look for meta 1 at each
    // power-of-two offset (page 1 starts at pageSize), as bbolt falls back to the OS page size.
    let m1: MetaCandidate | undefined;
    if ('meta' in m0) m1 = this.readMeta(1, m0.meta.pageSize);
    else {
      for (let ps = MIN_PAGE_SIZE; ps <= MAX_PAGE_SIZE && m1 === undefined; ps *= 2) {
        const c = this.readMeta(1, ps);
        if ('meta' in c) m1 = c;
      }
      m1 ??= { error: 'no valid meta page at any page size', page: 1 };
    }
    const valid = [m0, m1].filter((c): c is { meta: BoltMeta; page: 0 | 1 } => 'meta' in c);
    if (valid.length === 0) {
      const why = [m0, m1].map((c) => `meta page ${c.page}: ${'error' in c ? c.error : ''}`).join('; ');
      throw new BoltFormatError(`not a valid bbolt database (${why})`);
    }
    valid.sort((a, b) => (a.meta.txid > b.meta.txid ? -1 : a.meta.txid < b.meta.txid ? 1 : 0));
    this.meta = valid[0].meta;
    this.metaPage = valid[0].page;
    this.pageSize = this.meta.pageSize;
    this.hwm = Number(this.meta.pgid);
  }

  /** Meta page `id` for page size `ps` (undefined: read it from the page itself — meta 0 only). */
  private readMeta(id: 0 | 1, ps: number | undefined): MetaCandidate {
    const off = id * (ps ?? 0);
    const need = PAGE_HEADER_SIZE + META_SIZE;
    if (off + need > this.src.size) return { error: `file too short (${this.src.size} bytes)`, page: id };
    const b = this.src.read(off, need);
    const m = decodeMeta(b);
    if (m.magic !== BOLT_MAGIC) return { error: `bad magic 0x${m.magic.toString(16)}`, page: id };
    if (m.version !== BOLT_VERSION) return { error: `unsupported version ${m.version}`, page: id };
    if (m.checksum !== 0n && m.checksum !== fnv64a(b.subarray(PAGE_HEADER_SIZE, PAGE_HEADER_SIZE + META_CHECKSUM_OFFSET))) {
      return { error: 'checksum mismatch', page: id };
    }
    if ((b.readUInt16LE(8) & META_PAGE_FLAG) === 0)
      return { error: `not a meta page (flags 0x${b.readUInt16LE(8).toString(16)})`, page: id };
    const pageSize = m.pageSize;
    if (pageSize < MIN_PAGE_SIZE || pageSize > MAX_PAGE_SIZE || (pageSize & (pageSize - 1)) !== 0) {
      return { error: `unsupported page size ${pageSize}`, page: id };
    }
    if (ps !== undefined && ps !== pageSize) return { error: `page size ${pageSize} does not match its offset ${off}`, page: id };
    if (m.pgid < 4n) return { error: `high-water mark ${m.pgid} below 4`, page: id };
    if (m.pgid * BigInt(pageSize) > BigInt(this.src.size)) {
      return {
        error: `truncated: high-water mark ${m.pgid} needs ${m.pgid * BigInt(pageSize)} bytes, the file has ${this.src.size}`,
        page: id,
      };
    }
    if (m.root < 2n || m.root >= m.pgid) return { error: `root page ${m.root} out of range`, page: id };
    if (m.freelist !== PGID_NO_FREELIST && (m.freelist < 2n || m.freelist >= m.pgid)) {
      return { error: `freelist page ${m.freelist} out of range`, page: id };
    }
    return {
      meta: {
        pageSize,
        flags: m.flags,
        root: m.root,
        sequence: m.sequence,
        freelist: m.freelist,
        pgid: m.pgid,
        txid: m.txid,
        checksum: m.checksum,
      },
      page: id,
    };
  }

  /** Reads tree page `id` with its overflow, checking range, id and type. */
  private page(id: number, visited: Set<number>): PageView {
    if (this.closed) throw new Error('bbolt: database is closed');
    if (!Number.isSafeInteger(id) || id < 2 || id >= this.hwm)
      throw new BoltFormatError(`page ${id} out of range (high-water mark ${this.hwm})`);
    if (visited.has(id)) throw new BoltFormatError(`page ${id} reached twice (cycle or shared page)`);
    visited.add(id);
    const head = this.src.read(id * this.pageSize, this.pageSize);
    const hid = head.readBigUInt64LE(0);
    if (hid !== BigInt(id)) throw new BoltFormatError(`page ${id} carries id ${hid}`);
    const flags = head.readUInt16LE(8);
    const count = head.readUInt16LE(10);
    const overflow = head.readUInt32LE(12);
    if (id + overflow >= this.hwm) throw new BoltFormatError(`page ${id}: overflow ${overflow} runs past the high-water mark ${this.hwm}`);
    const data = overflow === 0 ? head : this.src.read(id * this.pageSize, (overflow + 1) * this.pageSize);
    return { id, flags, count, data };
  }

  bucketInfos(): BoltBucketInfo[] {
    const out: BoltBucketInfo[] = [];
    for (const [k, v, flags] of this.walk(Number(this.meta.root), undefined, 'root bucket')) {
      if ((flags & BUCKET_LEAF_FLAG) === 0) continue; // bbolt keeps no plain keys at the top level
      const h = bucketHeader(v, `bucket ${JSON.stringify(k.toString('latin1'))}`);
      out.push({ name: k, root: h.root, sequence: h.sequence });
    }
    return out;
  }

  buckets(): string[] {
    return this.bucketInfos().map((b) => b.name.toString('utf8'));
  }

  hasBucket(name: string | Buffer): boolean {
    return this.findBucket(toBuf(name)) !== undefined;
  }

  /** The bucket's value (header + inline page) in the root bucket, or undefined. */
  private findBucket(name: Buffer): Buffer | undefined {
    for (const [k, v, flags] of this.walk(Number(this.meta.root), undefined, 'root bucket')) {
      const c = Buffer.compare(k, name);
      if (c < 0) continue;
      if (c > 0) return undefined;
      return (flags & BUCKET_LEAF_FLAG) !== 0 ? v : undefined;
    }
    return undefined;
  }

  entries(bucket: string | Buffer): Iterable<[Buffer, Buffer]> {
    const name = toBuf(bucket);
    const what = `bucket ${JSON.stringify(name.toString('latin1'))}`;
    const self = this;
    return {
      *[Symbol.iterator]() {
        const v = self.findBucket(name);
        if (v === undefined) throw new BoltFormatError(`${what} not found`);
        const h = bucketHeader(v, what);
        const walk = h.root === 0n ? self.walk(0, inlinePage(v, what), what) : self.walk(Number(h.root), undefined, what);
        for (const [k, val, flags] of walk) if ((flags & BUCKET_LEAF_FLAG) === 0) yield [k, val];
      },
    };
  }

  /**
   * Every leaf element of the tree rooted at page `root` (or of the inline page), in order, with
   * its flags. Checks ascending keys; each call has its own visited set.
   */
  private *walk(root: number, inline: PageView | undefined, what: string): Generator<[Buffer, Buffer, number]> {
    const visited = new Set<number>();
    let last: Buffer | undefined;
    const self = this;
    function* descend(p: PageView, depth: number): Generator<[Buffer, Buffer, number]> {
      if (depth > MAX_DEPTH) throw new BoltFormatError(`${what}: tree deeper than ${MAX_DEPTH} levels at page ${p.id}`);
      if ((p.flags & LEAF_PAGE_FLAG) !== 0) {
        for (const [k, v, flags] of leafElements(p, what)) {
          if (last !== undefined && Buffer.compare(last, k) >= 0) throw new BoltFormatError(`${what}: keys out of order at page ${p.id}`);
          last = k;
          yield [k, v, flags];
        }
        return;
      }
      if ((p.flags & BRANCH_PAGE_FLAG) === 0)
        throw new BoltFormatError(`${what}: page ${p.id} is neither branch nor leaf (flags 0x${p.flags.toString(16)})`);
      if (p.count === 0) throw new BoltFormatError(`${what}: branch page ${p.id} is empty`);
      for (const child of branchChildren(p, what)) yield* descend(self.page(child, visited), depth + 1);
    }
    yield* descend(inline ?? this.page(root, visited), 0);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.src.close();
  }
}

function toBuf(name: string | Buffer): Buffer {
  return typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
}

function bucketHeader(v: Buffer, what: string): { root: bigint; sequence: bigint } {
  if (v.length < BUCKET_HEADER_SIZE)
    throw new BoltFormatError(`${what}: bucket value of ${v.length} bytes, want at least ${BUCKET_HEADER_SIZE}`);
  return { root: v.readBigUInt64LE(0), sequence: v.readBigUInt64LE(8) };
}

/** The leaf page inside an inline bucket's value. */
function inlinePage(v: Buffer, what: string): PageView {
  const data = v.subarray(BUCKET_HEADER_SIZE);
  if (data.length < PAGE_HEADER_SIZE) throw new BoltFormatError(`${what}: inline bucket of ${v.length} bytes has no page`);
  const flags = data.readUInt16LE(8);
  if ((flags & LEAF_PAGE_FLAG) === 0) throw new BoltFormatError(`${what}: inline page is not a leaf (flags 0x${flags.toString(16)})`);
  return { id: 0, flags, count: data.readUInt16LE(10), data };
}

function* leafElements(p: PageView, what: string): Generator<[Buffer, Buffer, number]> {
  const d = p.data;
  if (PAGE_HEADER_SIZE + p.count * LEAF_ELEMENT_SIZE > d.length)
    throw new BoltFormatError(`${what}: page ${p.id}: ${p.count} elements overflow the page`);
  for (let i = 0; i < p.count; i++) {
    const e = PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE;
    const flags = d.readUInt32LE(e);
    const start = e + d.readUInt32LE(e + 4);
    const ksize = d.readUInt32LE(e + 8);
    const vsize = d.readUInt32LE(e + 12);
    if (ksize === 0) throw new BoltFormatError(`${what}: page ${p.id}: element ${i} has an empty key`);
    if (start + ksize + vsize > d.length) throw new BoltFormatError(`${what}: page ${p.id}: element ${i} runs past the page`);
    yield [d.subarray(start, start + ksize), d.subarray(start + ksize, start + ksize + vsize), flags];
  }
}

function* branchChildren(p: PageView, what: string): Generator<number> {
  const d = p.data;
  if (PAGE_HEADER_SIZE + p.count * BRANCH_ELEMENT_SIZE > d.length)
    throw new BoltFormatError(`${what}: page ${p.id}: ${p.count} elements overflow the page`);
  for (let i = 0; i < p.count; i++) {
    const e = PAGE_HEADER_SIZE + i * BRANCH_ELEMENT_SIZE;
    const start = e + d.readUInt32LE(e);
    const ksize = d.readUInt32LE(e + 4);
    if (ksize === 0 || start + ksize > d.length) throw new BoltFormatError(`${what}: page ${p.id}: branch element ${i} is damaged`);
    const child = d.readBigUInt64LE(e + 8);
    if (child > BigInt(Number.MAX_SAFE_INTEGER)) throw new BoltFormatError(`${what}: page ${p.id}: child page ${child} out of range`);
    yield Number(child);
  }
}

/** etcdctl's hasChecksum: a snapshot file is whole 512-byte multiples plus a 32-byte sha256. */
const SNAPSHOT_HASH_ALIGN = 512;
const SHA256_SIZE = 32;

export interface SnapshotHashCheck {
  /** Whether the file carries etcd's sha256 trailer (its size is 32 past a multiple of 512). */
  readonly present: boolean;
  /** Whether the trailer equals the sha256 of the bytes before it (false when absent). */
  readonly ok: boolean;
  /** Bytes of the database proper (the file's size without the trailer). */
  readonly dbSize: number;
}

/**
 * Checks the sha256 trailer of an `etcdctl snapshot save` file as `etcdctl snapshot restore`
 * does (from a path the file is read in 1 MiB pieces).
 */
export function etcdSnapshotHash(src: Buffer | string): SnapshotHashCheck {
  const source = typeof src === 'string' ? fileSource(src) : bufferSource(src);
  try {
    const size = source.size;
    if (size % SNAPSHOT_HASH_ALIGN !== SHA256_SIZE) return { present: false, ok: false, dbSize: size };
    const dbSize = size - SHA256_SIZE;
    const h = createHash('sha256');
    for (let off = 0; off < dbSize; off += 1 << 20) h.update(source.read(off, Math.min(1 << 20, dbSize - off)));
    return { present: true, ok: h.digest().equals(source.read(dbSize, SHA256_SIZE)), dbSize };
  } finally {
    source.close();
  }
}

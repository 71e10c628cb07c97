/**
 * Writes a fresh bbolt database (format.ts) from sorted buckets of key/values, as a stream of
 * pages: what `etcdctl snapshot save` receives from etcd, and what etcd and bbolt open.
 *
 * Two passes over the input, so that nothing but the tree's skeleton is held in memory:
 *   1. plan: read every bucket once, decide the leaf pages (boundaries depend only on element
 *      sizes), keep each leaf's first key and span, build the branch levels above them, choose
 *      inline buckets (bbolt's rule: a leaf of at most pageSize/4 bytes) and number every page;
 *      the file's exact size is then known.
 *   2. emit: the two meta pages, the (empty) freelist page, then each bucket's leaves — read
 *      again from the input and packed by the same rule, checked against the plan — and its
 *      branch pages, and last the root bucket's pages.
 * Memory: the plan (per leaf page: its first key and a few numbers; inline buckets' bytes, at
 * most pageSize/4 each) plus one page span.
 *
 * Layout (page ids): 0, 1 meta (meta 0 has the higher txid, both point at the same tree),
 * 2 freelist (no free pages), then per bucket in name order: leaves in key order, then branch
 * levels bottom-up; then the root bucket's pages. The high-water mark is the page count, the
 * file is exactly pageCount * pageSize bytes.
 */
import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import {
  BRANCH_ELEMENT_SIZE,
  BRANCH_PAGE_FLAG,
  BUCKET_HEADER_SIZE,
  BUCKET_LEAF_FLAG,
  DEFAULT_PAGE_SIZE,
  FREELIST_PAGE_FLAG,
  LEAF_ELEMENT_SIZE,
  LEAF_PAGE_FLAG,
  META_PAGE_FLAG,
  PAGE_HEADER_SIZE,
  encodeMeta,
} from './format.js';

/** bbolt's MaxKeySize and MaxValueSize. */
export const BOLT_MAX_KEY_SIZE = 32768;
export const BOLT_MAX_VALUE_SIZE = 2 ** 31 - 2;
/** Elements per page: page.count is a u16 and bbolt refuses 0xFFFF. */
const MAX_ELEMENTS = 0xfffe;

export type BoltEntries = Iterable<[Buffer, Buffer]> | AsyncIterable<[Buffer, Buffer]>;

export interface BoltBucketInput {
  /** The bucket's name (a top-level bucket). */
  readonly name: string | Buffer;
  /**
   * The bucket's key/values in strictly ascending key order. Called once per pass (twice), it
   * must yield the same entries each time (e.g. from one database snapshot).
   */
  entries(): BoltEntries;
}

export interface BoltWriteOptions {
  /** Default 4096. A power of two from 1024 to 65536. */
  pageSize?: number;
  /** Transaction id of meta 0 (meta 1 gets one less). Default 2. */
  txid?: bigint;
}

/** A planned database: its exact size, and the stream of its bytes (pass 2; read it once). */
export interface BoltPlan {
  readonly pageSize: number;
  readonly pageCount: number;
  /** Bytes of the file: pageCount * pageSize. */
  readonly size: number;
  /** The file's bytes, in page order (one page span per chunk). */
  chunks(): AsyncGenerator<Buffer>;
}

/** A leaf or branch page of the plan. */
interface PlannedPage {
  readonly firstKey: Buffer;
  readonly count: number;
  /** Bytes of header + elements + data. */
  readonly bytes: number;
  /** Pages spanned: ceil(bytes / pageSize). */
  readonly span: number;
  /** Assigned page id. */
  pgid: number;
}

interface PlannedBucket {
  readonly name: Buffer;
  readonly input: BoltBucketInput | undefined;
  /** Inline: the bucket value (header + leaf page). */
  inline?: Buffer;
  leaves: PlannedPage[];
  /** Branch levels bottom-up; each level's pages hold the pages of the level below. */
  branches: PlannedPage[][];
  /** Root page id (0 when inline). */
  root: number;
}

/** Packs elements of known sizes into pages, deciding boundaries from the sizes alone. */
class Packer {
  private count = 0;
  private bytes = PAGE_HEADER_SIZE;
  private firstKey: Buffer | undefined;
  readonly pages: PlannedPage[] = [];

  constructor(
    private readonly pageSize: number,
    private readonly elemSize: number,
  ) {}

  /** Adds an element; returns true when it starts a new page (the previous one is closed). */
  add(key: Buffer, dataBytes: number): boolean {
    const need = this.elemSize + dataBytes;
    let started = false;
    if (this.count > 0 && (this.bytes + need > this.pageSize || this.count >= MAX_ELEMENTS)) {
      this.close();
      started = true;
    }
    if (this.count === 0) {
      this.firstKey = Buffer.from(key);
      started = true;
    }
    this.count++;
    this.bytes += need;
    return started;
  }

  /** Closes the open page, if any. */
  close(): void {
    if (this.count === 0) return;
    this.pages.push({
      firstKey: this.firstKey!,
      count: this.count,
      bytes: this.bytes,
      span: Math.ceil(this.bytes / this.pageSize),
      pgid: -1,
    });
    this.count = 0;
    this.bytes = PAGE_HEADER_SIZE;
    this.firstKey = undefined;
  }
}

function toBuf(name: string | Buffer): Buffer {
  return typeof name === 'string' ? Buffer.from(name, 'utf8') : name;
}

/** Checks an entry and its order after `prev`. */
function checkEntry(what: string, k: Buffer, v: Buffer, prev: Buffer | undefined): void {
  if (k.length === 0) throw new Error(`bbolt writer: ${what}: empty key`);
  if (k.length > BOLT_MAX_KEY_SIZE) throw new Error(`bbolt writer: ${what}: key of ${k.length} bytes (max ${BOLT_MAX_KEY_SIZE})`);
  if (v.length > BOLT_MAX_VALUE_SIZE) throw new Error(`bbolt writer: ${what}: value of ${v.length} bytes (max ${BOLT_MAX_VALUE_SIZE})`);
  if (prev !== undefined && Buffer.compare(prev, k) >= 0) throw new Error(`bbolt writer: ${what}: keys not strictly ascending`);
}

/** Builds branch levels over `pages` until one page is left. */
function branchLevels(pages: PlannedPage[], pageSize: number): PlannedPage[][] {
  const levels: PlannedPage[][] = [];
  let level = pages;
  while (level.length > 1) {
    const p = new Packer(pageSize, BRANCH_ELEMENT_SIZE);
    for (const child of level) p.add(child.firstKey, child.firstKey.length);
    p.close();
    levels.push(p.pages);
    level = p.pages;
  }
  return levels;
}

/** The leaf page of elements `elems` in a buffer of `size` bytes (size >= the page's bytes). */
function leafPage(elems: [Buffer, Buffer, number][], size: number, pgid: number, overflow: number): Buffer {
  const b = Buffer.alloc(size);
  b.writeBigUInt64LE(BigInt(pgid), 0);
  b.writeUInt16LE(LEAF_PAGE_FLAG, 8);
  b.writeUInt16LE(elems.length, 10);
  b.writeUInt32LE(overflow, 12);
  let data = PAGE_HEADER_SIZE + elems.length * LEAF_ELEMENT_SIZE;
  for (let i = 0; i < elems.length; i++) {
    const [k, v, flags] = elems[i];
    const e = PAGE_HEADER_SIZE + i * LEAF_ELEMENT_SIZE;
    b.writeUInt32LE(flags, e);
    b.writeUInt32LE(data - e, e + 4);
    b.writeUInt32LE(k.length, e + 8);
    b.writeUInt32LE(v.length, e + 12);
    k.copy(b, data);
    v.copy(b, data + k.length);
    data += k.length + v.length;
  }
  return b;
}

function branchPage(page: PlannedPage, children: PlannedPage[], pageSize: number): Buffer {
  const b = Buffer.alloc(page.span * pageSize);
  b.writeBigUInt64LE(BigInt(page.pgid), 0);
  b.writeUInt16LE(BRANCH_PAGE_FLAG, 8);
  b.writeUInt16LE(children.length, 10);
  b.writeUInt32LE(page.span - 1, 12);
  let data = PAGE_HEADER_SIZE + children.length * BRANCH_ELEMENT_SIZE;
  for (let i = 0; i < children.length; i++) {
    const c = children[i];
    const e = PAGE_HEADER_SIZE + i * BRANCH_ELEMENT_SIZE;
    b.writeUInt32LE(data - e, e);
    b.writeUInt32LE(c.firstKey.length, e + 4);
    b.writeBigUInt64LE(BigInt(c.pgid), e + 8);
    c.firstKey.copy(b, data);
    data += c.firstKey.length;
  }
  return b;
}

/** A bucket's value in its parent: the header, and for an inline bucket its leaf page. */
function bucketValue(root: number, inlinePage?: Buffer): Buffer {
  const b = Buffer.alloc(BUCKET_HEADER_SIZE + (inlinePage?.length ?? 0));
  b.writeBigUInt64LE(BigInt(root), 0); // sequence (offset 8) stays 0
  inlinePage?.copy(b, BUCKET_HEADER_SIZE);
  return b;
}

/**
 * Pass 1: reads every bucket and plans the file. Throws on unsorted or oversized input, a
 * duplicate or empty bucket name.
 */
export async function planBolt(buckets: readonly BoltBucketInput[], opts: BoltWriteOptions = {}): Promise<BoltPlan> {
  const pageSize = opts.pageSize ?? DEFAULT_PAGE_SIZE;
  if (pageSize < 1024 || pageSize > 65536 || (pageSize & (pageSize - 1)) !== 0)
    throw new Error(`bbolt writer: unsupported page size ${pageSize}`);
  const txid = opts.txid ?? 2n;
  if (txid < 1n) throw new Error('bbolt writer: txid must be at least 1');
  const inlineMax = pageSize / 4; // bbolt's maxInlineBucketSize

  const sorted = buckets.map((b) => ({ name: toBuf(b.name), input: b })).sort((a, b) => Buffer.compare(a.name, b.name));
  for (let i = 0; i < sorted.length; i++) {
    const n = sorted[i].name;
    if (n.length === 0) throw new Error('bbolt writer: empty bucket name');
    if (n.length > BOLT_MAX_KEY_SIZE) throw new Error(`bbolt writer: bucket name of ${n.length} bytes`);
    if (i > 0 && sorted[i - 1].name.equals(n)) throw new Error(`bbolt writer: duplicate bucket ${JSON.stringify(n.toString())}`);
  }

  let next = 3; // 0, 1 meta; 2 freelist
  const planned: PlannedBucket[] = [];
  for (const { name, input } of sorted) {
    const what = `bucket ${JSON.stringify(name.toString('latin1'))}`;
    const packer = new Packer(pageSize, LEAF_ELEMENT_SIZE);
    // Entries kept while the bucket may still be inline (at most inlineMax bytes of them).
    let small: [Buffer, Buffer, number][] | undefined = [];
    let smallBytes = PAGE_HEADER_SIZE;
    let prev: Buffer | undefined;
    for await (const [k, v] of input.entries()) {
      checkEntry(what, k, v, prev);
      packer.add(k, k.length + v.length);
      if (small !== undefined) {
        smallBytes += LEAF_ELEMENT_SIZE + k.length + v.length;
        if (smallBytes > inlineMax) small = undefined;
        else small.push([Buffer.from(k), Buffer.from(v), 0]);
      }
      // Invariant: `prev` is the last key seen; keep it without pinning the source's buffer.
      prev = Buffer.from(k);
    }
    packer.close();
    const b: PlannedBucket = { name, input, leaves: [], branches: [], root: 0 };
    if (small !== undefined) {
      b.inline = bucketValue(0, leafPage(small, smallBytes, 0, 0));
    } else {
      b.leaves = packer.pages;
      for (const p of b.leaves) {
        p.pgid = next;
        next += p.span;
      }
      b.branches = branchLevels(b.leaves, pageSize);
      for (const level of b.branches) {
        for (const p of level) {
          p.pgid = next;
          next += p.span;
        }
      }
      b.root = (b.branches.at(-1) ?? b.leaves)[0].pgid;
    }
    planned.push(b);
  }

  // The root bucket: one leaf element per bucket (its value: header, or header + inline page).
  const rootPacker = new Packer(pageSize, LEAF_ELEMENT_SIZE);
  const rootElems: [Buffer, Buffer, number][] = planned.map((b) => [b.name, b.inline ?? bucketValue(b.root), BUCKET_LEAF_FLAG]);
  for (const [k, v] of rootElems) rootPacker.add(k, k.length + v.length);
  rootPacker.close();
  const rootLeaves =
    rootPacker.pages.length > 0 ? rootPacker.pages : [{ firstKey: Buffer.alloc(0), count: 0, bytes: PAGE_HEADER_SIZE, span: 1, pgid: -1 }];
  for (const p of rootLeaves) {
    p.pgid = next;
    next += p.span;
  }
  const rootBranches = branchLevels(rootLeaves, pageSize);
  for (const level of rootBranches) {
    for (const p of level) {
      p.pgid = next;
      next += p.span;
    }
  }
  const rootPgid = (rootBranches.at(-1) ?? rootLeaves)[0].pgid;
  const pageCount = next;

  let used = false;
  return {
    pageSize,
    pageCount,
    size: pageCount * pageSize,
    async *chunks() {
      if (used) throw new Error('bbolt writer: a plan is emitted once');
      used = true;
      for (const id of [0, 1]) {
        const p = Buffer.alloc(pageSize);
        p.writeBigUInt64LE(BigInt(id), 0);
        p.writeUInt16LE(META_PAGE_FLAG, 8);
        encodeMeta(p, {
          pageSize,
          flags: 0,
          root: BigInt(rootPgid),
          sequence: 0n,
          freelist: 2n,
          pgid: BigInt(pageCount),
          txid: txid - BigInt(id),
        });
        yield p;
      }
      const fl = Buffer.alloc(pageSize);
      fl.writeBigUInt64LE(2n, 0);
      fl.writeUInt16LE(FREELIST_PAGE_FLAG, 8);
      yield fl;
      let expect = 3;
      const check = (pgid: number, span: number) => {
        // Invariant: pages come out in id order, each span right after the previous one.
        if (pgid !== expect) throw new Error(`bbolt writer: internal error: page ${pgid} emitted at ${expect}`);
        expect += span;
      };
      for (const b of planned) {
        if (b.inline !== undefined) continue;
        yield* emitLeaves(b, pageSize, check);
        for (let l = 0; l < b.branches.length; l++)
          yield* emitBranches(b.branches[l], l === 0 ? b.leaves : b.branches[l - 1], pageSize, check);
      }
      // The root bucket's leaves hold every bucket's value, all in memory already.
      let at = 0;
      for (const p of rootLeaves) {
        check(p.pgid, p.span);
        yield leafPage(rootElems.slice(at, at + p.count), p.span * pageSize, p.pgid, p.span - 1);
        at += p.count;
      }
      for (let l = 0; l < rootBranches.length; l++)
        yield* emitBranches(rootBranches[l], l === 0 ? rootLeaves : rootBranches[l - 1], pageSize, check);
      if (expect !== pageCount) throw new Error(`bbolt writer: internal error: ${expect} pages emitted, ${pageCount} planned`);
    },
  };
}

/** Pass 2 for one bucket's leaves: re-reads its entries and packs them as planned. */
async function* emitLeaves(b: PlannedBucket, pageSize: number, check: (pgid: number, span: number) => void): AsyncGenerator<Buffer> {
  const what = `bucket ${JSON.stringify(b.name.toString('latin1'))}`;
  const changed = () => new Error(`bbolt writer: ${what} changed between the two passes`);
  let page = 0;
  let elems: [Buffer, Buffer, number][] = [];
  let bytes = PAGE_HEADER_SIZE;
  const flush = (): Buffer => {
    const p = b.leaves[page];
    if (p === undefined || elems.length !== p.count || bytes !== p.bytes || !elems[0][0].equals(p.firstKey)) throw changed();
    check(p.pgid, p.span);
    const out = leafPage(elems, p.span * pageSize, p.pgid, p.span - 1);
    page++;
    elems = [];
    bytes = PAGE_HEADER_SIZE;
    return out;
  };
  for await (const [k, v] of b.input!.entries()) {
    if (elems.length === b.leaves[page]?.count) yield flush();
    elems.push([k, v, 0]);
    bytes += LEAF_ELEMENT_SIZE + k.length + v.length;
  }
  if (elems.length > 0) yield flush();
  if (page !== b.leaves.length) throw changed();
}

function* emitBranches(
  level: PlannedPage[],
  children: PlannedPage[],
  pageSize: number,
  check: (pgid: number, span: number) => void,
): Generator<Buffer> {
  let at = 0;
  for (const p of level) {
    check(p.pgid, p.span);
    yield branchPage(p, children.slice(at, at + p.count), pageSize);
    at += p.count;
  }
}

/** Plans and writes a bbolt file at `path` (created or truncated). Returns its size. */
export async function writeBoltFile(path: string, buckets: readonly BoltBucketInput[], opts: BoltWriteOptions = {}): Promise<number> {
  const plan = await planBolt(buckets, opts);
  const out = createWriteStream(path, { mode: 0o600 });
  const failed = new Promise<never>((_, reject) => out.once('error', reject));
  failed.catch(() => {});
  try {
    for await (const chunk of plan.chunks()) {
      if (!out.write(chunk)) await Promise.race([once(out, 'drain'), failed]);
    }
    out.end();
    await Promise.race([once(out, 'finish'), failed]);
  } catch (err) {
    out.destroy();
    throw err;
  }
  return plan.size;
}

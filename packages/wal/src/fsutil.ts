// File-system steps the WAL's durability rests on.
import { zeroBlock } from './bytes.js';
import type { FileSystem, FsFile } from './file_system.js';
import { nodeFs } from './node_fs.js';

/**
 * fsync a directory, so that files created, renamed or removed in it survive a crash: open the
 * directory read-only and fsync the descriptor.
 */
export async function fsyncDir(dir: string, noSync = false, fs: FileSystem = nodeFs): Promise<void> {
  if (noSync) return;
  await fs.fsyncDir(dir);
}

/** Writes all of `bufs` at `position`, looping over short writes. Returns the bytes written. */
export async function writeAllAt(fh: FsFile, bufs: Buffer[], position: number): Promise<number> {
  let total = 0;
  for (const b of bufs) total += b.length;
  let written = 0;
  let pending = bufs;
  while (written < total) {
    const bytesWritten = await fh.writev(pending, position + written);
    if (bytesWritten <= 0) throw new Error(`short write at ${position + written}`);
    written += bytesWritten;
    if (written < total) pending = skipBytes(pending, bytesWritten);
  }
  return total;
}

function skipBytes(bufs: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const b of bufs) {
    if (n >= b.length) {
      n -= b.length;
      continue;
    }
    out.push(n > 0 ? b.subarray(n) : b);
    n = 0;
  }
  return out;
}

/**
 * Preallocates [from, size) of a file by writing zeros and syncing them. Node has no fallocate;
 * writing real zeros allocates the blocks, so later appends overwrite allocated blocks and an
 * fdatasync does not have to commit allocation or size metadata. Zero-filled space is also what
 * the scanner recognises as "never written".
 */
export async function preallocate(fh: FsFile, from: number, size: number, noSync = false): Promise<void> {
  // Without fsync (unsafe mode, tests) allocation buys nothing: extend the file sparsely, which
  // reads as zeros just the same and costs no writes.
  if (noSync) {
    if ((await fh.size()) < size) await fh.truncate(size);
    return;
  }
  const zeros = zeroBlock();
  for (let p = from; p < size; ) {
    const n = Math.min(zeros.length, size - p);
    await writeAllAt(fh, [n === zeros.length ? zeros : zeros.subarray(0, n)], p);
    p += n;
  }
  if (size > from && !noSync) await fh.datasync();
}

/** Whether an error is the file system being full (or the user's quota used up). */
export function isNoSpace(err: unknown): boolean {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/** Bytes an unprivileged writer can still allocate on the file system holding `path`. */
export function freeBytes(path: string, fs: FileSystem = nodeFs): Promise<number> {
  return fs.freeBytes(path);
}

/** Why tryPreallocate did not preallocate (undefined: it did). */
export type PreallocSkip = string | undefined;

/**
 * Preallocates like preallocate(), but never fills the disk: it skips preallocation when the
 * file system would be left with less free space than it is about to take (a WAL takes at most
 * half of what is free), and on ENOSPC it truncates the file back to `from`, giving the blocks
 * back. Either way the file stays usable without preallocation: appends then grow it and
 * fdatasync commits the new size with the data. Returns the reason it skipped, if it did.
 */
export async function tryPreallocate(
  fs: FileSystem,
  fh: FsFile,
  dir: string,
  from: number,
  size: number,
  noSync = false,
): Promise<PreallocSkip> {
  const need = size - from;
  if (need <= 0) return undefined;
  if (!noSync) {
    const free = await fs.freeBytes(dir);
    if (free < 2 * need) return `only ${free} bytes free on the file system`;
  }
  try {
    await preallocate(fh, from, size, noSync);
    return undefined;
  } catch (err) {
    if (!isNoSpace(err)) throw err;
    await fh.truncate(from); // never leave a partly preallocated file behind
    return 'the file system is full';
  }
}

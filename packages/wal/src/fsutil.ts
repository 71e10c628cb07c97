// File-system steps the WAL's durability rests on.
import { constants, type FileHandle, open } from 'node:fs/promises';
import { zeroBlock } from './bytes.js';

/**
 * fsync a directory, so that files created, renamed or removed in it survive a crash: open the
 * directory read-only and fsync the descriptor.
 */
export async function fsyncDir(dir: string, noSync = false): Promise<void> {
  if (noSync) return;
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes all of `bufs` at `position`, looping over short writes. Returns the bytes written. */
export async function writeAllAt(fh: FileHandle, bufs: Buffer[], position: number): Promise<number> {
  let total = 0;
  for (const b of bufs) total += b.length;
  let written = 0;
  let pending = bufs;
  while (written < total) {
    const { bytesWritten } = await fh.writev(pending, position + written);
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
export async function preallocate(fh: FileHandle, from: number, size: number, noSync = false): Promise<void> {
  // Without fsync (unsafe mode, tests) allocation buys nothing: extend the file sparsely, which
  // reads as zeros just the same and costs no writes.
  if (noSync) {
    if ((await fh.stat()).size < size) await fh.truncate(size);
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

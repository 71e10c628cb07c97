// Prepares the next segment file in the background (etcd's "file pipeline"): a fresh `N.tmp`,
// preallocated, so that cutting a segment does not wait for the allocation. The names alternate
// between 0.tmp and 1.tmp so that the file being prepared never collides with the one just handed
// out and not yet renamed. Leftover .tmp files are removed when a WAL is opened.
import { join } from 'node:path';
import type { FileSystem, FsFile } from './file_system.js';
import { tryPreallocate } from './fsutil.js';

export interface TmpSegment {
  path: string;
  fh: FsFile;
}

export class SegmentAllocator {
  private count = 0;
  private next: Promise<TmpSegment> | undefined;
  private closed = false;

  constructor(
    private readonly fs: FileSystem,
    private readonly dir: string,
    private readonly size: number,
    private readonly prealloc: boolean,
    private readonly noSync: boolean,
    private readonly warn: (message: string) => void = () => {},
  ) {}

  /** Starts preparing the next file now (called when a WAL becomes writable). */
  warm(): void {
    if (!this.next && !this.closed) this.next = this.alloc();
  }

  /**
   * A fresh preallocated file (or, when the disk has no room for that, an empty one); the caller
   * renames and owns it. A failed preparation is not kept: the next take() tries again.
   */
  async take(): Promise<TmpSegment> {
    const p = this.next ?? this.alloc();
    this.next = undefined;
    const seg = await p;
    this.warm();
    return seg;
  }

  /** Stops preparing and removes a prepared but unused file. */
  async close(): Promise<void> {
    this.closed = true;
    const p = this.next;
    this.next = undefined;
    if (!p) return;
    try {
      const seg = await p;
      await seg.fh.close();
      await this.fs.rm(seg.path, { force: true });
    } catch {
      // allocation failed: nothing to clean
    }
  }

  private alloc(): Promise<TmpSegment> {
    const path = join(this.dir, `${this.count % 2}.tmp`);
    this.count++;
    const p = (async () => {
      const fh = await this.fs.open(path, 'w+', 0o600);
      try {
        const skipped = this.prealloc ? await tryPreallocate(this.fs, fh, this.dir, 0, this.size, this.noSync) : undefined;
        if (skipped) this.warn(`wal: not preallocating the next segment (${this.size} bytes): ${skipped}; it grows as it is written`);
      } catch (err) {
        await fh.close();
        await this.fs.rm(path, { force: true }); // nothing partial stays behind
        throw err;
      }
      return { path, fh };
    })();
    p.catch(() => {}); // reported by take(); never an unhandled rejection
    return p;
  }
}

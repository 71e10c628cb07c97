// A small file system for disk-full tests: a tmpfs of a given size mounted on a temporary
// directory. Mounting needs root (CI runs as root); elsewhere the tests that need it are skipped
// with the reason.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface SmallFs {
  dir: string;
  unmount(): void;
}

/** Mounts a tmpfs of `mib` MiB, or returns why it cannot. */
export function mountSmallFs(mib: number): SmallFs | string {
  if (process.platform !== 'linux') return 'small file systems are made with tmpfs, which needs Linux';
  if (process.getuid?.() !== 0) return 'mounting a small tmpfs needs root';
  const dir = mkdtempSync(join(tmpdir(), 'kv-smallfs-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${mib}m,mode=0700`, 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return `mount -t tmpfs is not permitted here: ${String((err as { stderr?: Buffer }).stderr ?? err).trim()}`;
  }
  let mounted = true;
  return {
    dir,
    unmount() {
      if (!mounted) return;
      mounted = false;
      // Lazy: a test that failed may still hold a file open there.
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fills the file system holding `path` with one file until ENOSPC; returns the bytes written. */
export async function fillUp(path: string): Promise<number> {
  const fh = await open(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  let written = 0;
  try {
    for (let i = 0; i < 1 << 20; i++) {
      try {
        const { bytesWritten } = await fh.write(chunk, 0, chunk.length, written);
        written += bytesWritten;
        if (bytesWritten < chunk.length) break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw err;
      }
    }
  } finally {
    await fh.close();
  }
  return written;
}

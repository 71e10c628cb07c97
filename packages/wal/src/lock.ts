// The WAL directory lock: an exclusive lock on `<dir>/wal.lock`, taken through the FileSystem.
//
// Why a kernel lock (nodeFs: fs-native-extensions' open-file-description fcntl locks on Linux,
// flock on macOS) and not a pid file like the server's data dir: the kernel drops the lock the
// moment the holder dies (SIGKILL included), so there is no stale-lock take-over to race on and no
// pid reuse to be fooled by; and an OFD lock conflicts between two opens in the same process too.
// The file itself holds the owner's pid only for the error message; it is never deleted (deleting
// a lock file lets a second process lock a fresh inode while the first still holds the old one).
import { WalError } from './errors.js';
import type { FileLock, FileSystem } from './file_system.js';

export class DirLock {
  private lock: FileLock | undefined;

  private constructor(
    /** The lock file; after a directory rename this is its old path (the lock stays held). */
    public path: string,
    lock: FileLock,
  ) {
    this.lock = lock;
  }

  /** Takes the lock or throws WalError LOCKED naming the lock file (and the holder's pid if known). */
  static async acquire(fs: FileSystem, path: string): Promise<DirLock> {
    const lock = await fs.tryLock(path);
    if (!lock) {
      let holder = '';
      try {
        const pid = Number.parseInt((await fs.readFile(path)).toString('utf8'), 10);
        if (Number.isInteger(pid)) holder = ` (pid ${pid})`;
      } catch {
        // unreadable: name no pid
      }
      throw new WalError('LOCKED', `WAL is in use by another process${holder}`, path);
    }
    return new DirLock(path, lock);
  }

  get held(): boolean {
    return this.lock !== undefined;
  }

  /** Releases the lock (closing the descriptor drops it). Idempotent. */
  release(): void {
    if (this.lock === undefined) return;
    const lock = this.lock;
    this.lock = undefined;
    lock.release();
  }
}

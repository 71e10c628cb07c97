// The WAL directory lock: an exclusive kernel lock on `<dir>/wal.lock`.
//
// Why a kernel lock (fs-native-extensions: open-file-description fcntl locks on Linux, flock on
// macOS) and not a pid file like the server's data dir: the kernel drops the lock the moment the
// holder dies (SIGKILL included), so there is no stale-lock take-over to race on and no pid reuse
// to be fooled by; and an OFD lock conflicts between two opens in the same process too. The file
// itself holds the owner's pid only for the error message; it is never deleted (deleting a lock
// file lets a second process lock a fresh inode while the first still holds the old one).
import { closeSync, constants, ftruncateSync, openSync, readFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { WalError } from './errors.js';

interface NativeLocks {
  tryLock(fd: number, offset?: number, length?: number, opts?: { shared?: boolean }): boolean;
  unlock(fd: number, offset?: number, length?: number): void;
}

let native: NativeLocks | undefined;
function locks(): NativeLocks {
  if (!native) {
    const require = createRequire(import.meta.url);
    native = require('fs-native-extensions') as NativeLocks;
  }
  return native;
}

export class DirLock {
  private fd: number | undefined;

  private constructor(
    /** The lock file; after a directory rename this is its old path (the lock stays held). */
    public path: string,
    fd: number,
  ) {
    this.fd = fd;
  }

  /** Takes the lock or throws WalError LOCKED naming the lock file (and the holder's pid if known). */
  static acquire(path: string): DirLock {
    const fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o600);
    let granted = false;
    try {
      granted = locks().tryLock(fd);
    } catch (err) {
      closeSync(fd);
      throw err;
    }
    if (!granted) {
      closeSync(fd);
      let holder = '';
      try {
        const pid = Number.parseInt(readFileSync(path, 'utf8'), 10);
        if (Number.isInteger(pid)) holder = ` (pid ${pid})`;
      } catch {
        // unreadable: name no pid
      }
      throw new WalError('LOCKED', `WAL is in use by another process${holder}`, path);
    }
    ftruncateSync(fd, 0);
    writeSync(fd, `${process.pid}\n`, 0);
    return new DirLock(path, fd);
  }

  get held(): boolean {
    return this.fd !== undefined;
  }

  /** Releases the lock (closing the descriptor drops it). Idempotent. */
  release(): void {
    if (this.fd === undefined) return;
    const fd = this.fd;
    this.fd = undefined;
    closeSync(fd);
  }
}

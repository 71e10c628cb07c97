// The real file system (node:fs) behind the FileSystem interface. This is the only module of
// @kv/wal that imports node:fs.
import { closeSync, constants, existsSync, ftruncateSync, openSync, writeSync } from 'node:fs';
import { copyFile, mkdir, open, readdir, readFile, rename, rm, rmdir, stat, statfs } from 'node:fs/promises';
import { createRequire } from 'node:module';
import type { FileLock, FileSystem, FsFile, OpenFlags } from './file_system.js';

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

async function openFile(path: string, flags: OpenFlags, mode?: number): Promise<FsFile> {
  const fh = await open(path, flags, mode);
  return {
    async writev(bufs, position) {
      return (await fh.writev(bufs as Uint8Array[], position)).bytesWritten;
    },
    async read(buf, offset, length, position) {
      return (await fh.read(buf, offset, length, position)).bytesRead;
    },
    async size() {
      return (await fh.stat()).size;
    },
    truncate: (length) => fh.truncate(length),
    sync: () => fh.sync(),
    datasync: () => fh.datasync(),
    close: () => fh.close(),
  };
}

/**
 * The lock (why a kernel lock and not a pid file — see lock.ts): fs-native-extensions'
 * open-file-description fcntl locks on Linux, flock on macOS. The kernel drops it when the holder
 * dies; an OFD lock conflicts between two opens in the same process too.
 */
function tryLock(path: string): FileLock | undefined {
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
    return undefined;
  }
  ftruncateSync(fd, 0);
  writeSync(fd, `${process.pid}\n`, 0);
  let open = true;
  return {
    release() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

export const nodeFs: FileSystem = {
  open: openFile,
  readFile: (path) => readFile(path),
  readdir: (path) => readdir(path),
  async mkdir(path, options = {}) {
    await mkdir(path, options);
  },
  rename: (from, to) => rename(from, to),
  rm: (path, options) => rm(path, options),
  rmdir: (path) => rmdir(path),
  copyFile: (from, to) => copyFile(from, to),
  exists: async (path) => existsSync(path),
  async stat(path) {
    const s = await stat(path);
    return { size: s.size, isDirectory: s.isDirectory() };
  },
  async fsyncDir(path) {
    // Open the directory read-only and fsync the descriptor.
    const fh = await open(path, constants.O_RDONLY | constants.O_DIRECTORY);
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  },
  async freeBytes(path) {
    const s = await statfs(path);
    return s.bavail * s.bsize;
  },
  tryLock: async (path) => tryLock(path),
};

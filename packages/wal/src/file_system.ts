// The file system the WAL and the snapshot files run on, as an interface: `nodeFs` (node_fs.ts)
// is the real one; a simulated one (@kv/sim-world's SimFs) runs a member on a disk that loses
// unsynced writes on crash. It covers exactly what @kv/wal does with files and nothing more.
//
// Errors: an implementation rejects with Error objects carrying a Node-style `code` ('ENOENT',
// 'EEXIST', 'ENOTEMPTY', 'ENOSPC', 'EDQUOT', 'EIO', ...): the WAL decides on codes (isNoSpace,
// "missing directory means no WAL").

/** How a file is opened (Node's flag strings, the subset @kv/wal uses). */
export type OpenFlags =
  | 'r' // read; must exist
  | 'r+' // read and write; must exist
  | 'w' // write; created or truncated
  | 'w+' // read and write; created or truncated
  | 'wx'; // write; created, must not exist

/** An open file: positional I/O, size, durability. */
export interface FsFile {
  /**
   * Writes `bufs` one after another at `position` (writev). May write fewer bytes than given (the
   * caller loops; see writeAllAt); resolves with the bytes written.
   */
  writev(bufs: readonly Uint8Array[], position: number): Promise<number>;
  /** Reads up to `length` bytes at `position` into `buf` from `offset`; resolves with the bytes read. */
  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number>;
  /** Current size in bytes. */
  size(): Promise<number>;
  truncate(length: number): Promise<void>;
  /** fsync: data and metadata (size) durable. */
  sync(): Promise<void>;
  /** fdatasync: data durable (and the size, when it changed). */
  datasync(): Promise<void>;
  close(): Promise<void>;
}

/** A held exclusive lock; the holder's death releases it too. */
export interface FileLock {
  release(): void;
}

export interface FileSystem {
  open(path: string, flags: OpenFlags, mode?: number): Promise<FsFile>;
  readFile(path: string): Promise<Buffer>;
  /** Names in a directory (no order promised). */
  readdir(path: string): Promise<string[]>;
  mkdir(path: string, options?: { recursive?: boolean; mode?: number }): Promise<void>;
  /** Atomic rename; replaces an existing file (or an empty directory, for a directory). */
  rename(from: string, to: string): Promise<void>;
  /** Removes a file, or a directory tree with recursive; force: a missing path is no error. */
  rm(path: string, options?: { recursive?: boolean; force?: boolean }): Promise<void>;
  /** Removes an empty directory. */
  rmdir(path: string): Promise<void>;
  copyFile(from: string, to: string): Promise<void>;
  exists(path: string): Promise<boolean>;
  stat(path: string): Promise<{ size: number; isDirectory: boolean }>;
  /** fsync of a directory: the names created, renamed or removed in it become durable. */
  fsyncDir(path: string): Promise<void>;
  /** Bytes an unprivileged writer can still allocate on the file system holding `path`. */
  freeBytes(path: string): Promise<number>;
  /**
   * Takes an exclusive lock on the file `path` (created if missing) and writes the holder's pid
   * into it; undefined if someone else holds it.
   */
  tryLock(path: string): Promise<FileLock | undefined>;
}

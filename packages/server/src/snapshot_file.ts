// A snapshot file as `etcdctl snapshot save` (and `kvctl snapshot save`) writes it: a bbolt
// database followed by the sha256 of its bytes (etcd 3.4's clientv3/snapshot). This module checks
// the trailer and reads the database's buckets; restore.ts builds a data dir from them, and
// snapshotStatus gives what `snapshot status` prints.
//
// A file whose size is 32 bytes past a multiple of 512 carries the trailer (etcd's hasChecksum: a
// bbolt file is whole pages); a file copied out of a data dir (member/snap/db) has none and is
// accepted only with skipHashCheck, as etcd does.
import { crc32c } from '@node-rs/crc32';
import { createHash } from 'node:crypto';
import { open, stat } from 'node:fs/promises';
import { openBolt as openBoltReader } from '@kv/mvcc';

export const SHA256_BYTES = 32;

/** Raised for a snapshot file that cannot be used; the message is the whole explanation. */
export class SnapshotFileError extends Error {
  override readonly name = 'SnapshotFileError';
}

/** etcd's hasChecksum: (n % 512) == sha256.Size. */
export function hasChecksum(n: number): boolean {
  return n % 512 === SHA256_BYTES;
}

/** Go's %v of a []byte: "[1 2 3]". */
function goBytes(b: Uint8Array): string {
  return `[${Array.from(b).join(' ')}]`;
}

/** Go's error text for a failed open/stat (`open x: no such file or directory`). */
export function fsErrorText(op: string, path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException)?.code;
  const why =
    code === 'ENOENT'
      ? 'no such file or directory'
      : code === 'EACCES'
        ? 'permission denied'
        : code === 'EISDIR'
          ? 'is a directory'
          : String((err as Error)?.message ?? err);
  return `${op} ${path}: ${why}`;
}

export interface ReadSnapshotOptions {
  /** Accept a file without (or with a wrong) trailer: etcd's --skip-hash-check. */
  skipHashCheck: boolean;
  /** Bytes hashed so far, of `total` (for a progress display). */
  onProgress?: (done: number, total: number) => void;
}

/**
 * Reads a snapshot file and returns the bbolt database in it (the trailer cut off). Refuses, with
 * etcd's messages, a file without its trailer ("snapshot missing hash but --skip-hash-check=false")
 * or whose trailer does not match ("expected sha256 [...], got [...]").
 */
export async function readSnapshotFile(path: string, o: ReadSnapshotOptions): Promise<Buffer> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (err) {
    throw new SnapshotFileError(fsErrorText('open', path, err));
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new SnapshotFileError(`${path} is not a regular file`);
    const size = st.size;
    const withHash = hasChecksum(size);
    if (!withHash && !o.skipHashCheck) throw new SnapshotFileError('snapshot missing hash but --skip-hash-check=false');
    const dbBytes = withHash ? size - SHA256_BYTES : size;
    const db = Buffer.allocUnsafe(dbBytes);
    const trailer = Buffer.alloc(withHash ? SHA256_BYTES : 0);
    const sha = createHash('sha256');
    // Read (and hash) in 1 MiB steps so that a progress display can follow a large file.
    const step = 1 << 20;
    for (let off = 0; off < dbBytes; ) {
      const want = Math.min(step, dbBytes - off);
      const { bytesRead } = await fh.read(db, off, want, off);
      if (bytesRead === 0) throw new SnapshotFileError(`${path}: file shrank while it was read (at byte ${off} of ${dbBytes})`);
      sha.update(db.subarray(off, off + bytesRead));
      off += bytesRead;
      o.onProgress?.(off, dbBytes);
    }
    if (withHash) {
      const { bytesRead } = await fh.read(trailer, 0, SHA256_BYTES, dbBytes);
      if (bytesRead !== SHA256_BYTES) throw new SnapshotFileError(`${path}: file shrank while it was read`);
      if (!o.skipHashCheck) {
        const got = sha.digest();
        if (!got.equals(trailer)) throw new SnapshotFileError(`expected sha256 ${goBytes(trailer)}, got ${goBytes(got)}`);
      }
    }
    return db;
  } finally {
    await fh.close();
  }
}

/** What restore and status read of a bbolt database. */
export interface BoltView {
  /** bbolt's tx.Size(): pages in use × page size. */
  readonly size: number;
  /** The top-level buckets' names, in byte order. */
  bucketNames(): Buffer[];
  /** A top-level bucket's records in key order. */
  entries(bucket: Buffer): Iterable<[Buffer, Buffer]>;
}

/** Opens the bbolt database in `db` (bytes of a snapshot file without its trailer). */
export function openBolt(db: Buffer, path: string): BoltView {
  try {
    const r = openBoltReader(db);
    return {
      size: Number(r.meta.pgid) * r.meta.pageSize,
      bucketNames: () => r.bucketInfos().map((b) => b.name),
      entries: (bucket) => r.entries(bucket),
    };
  } catch (err) {
    throw new SnapshotFileError(`${path} is not a bbolt database (an etcd or kv snapshot): ${(err as Error).message}`);
  }
}

/** What `etcdctl snapshot status` reports (clientv3/snapshot.Status). */
export interface SnapshotStatus {
  /** CRC-32C over every bucket name, then its keys and values, in byte order. */
  hash: number;
  /** Main revision of the newest key-bucket record. */
  revision: bigint;
  /** Records over all buckets. */
  totalKey: number;
  /** bbolt's tx.Size(): pages in use × page size. */
  totalSize: number;
}

/** The status of a bbolt database (bytes of a snapshot file; a trailer after the pages is ignored). */
export function boltStatus(bolt: BoltView): SnapshotStatus {
  let hash = 0;
  let revision = 0n;
  let totalKey = 0;
  for (const name of bolt.bucketNames()) {
    hash = crc32c(name, hash);
    const isKey = name.toString('latin1') === 'key';
    for (const [k, v] of bolt.entries(name)) {
      hash = crc32c(k, hash);
      hash = crc32c(v, hash);
      // etcd's bytesToRev: the first 8 bytes, big-endian (a short key would panic there).
      if (isKey) {
        if (k.length < 8) throw new SnapshotFileError(`key bucket record with a ${k.length}-byte key: not a revision`);
        revision = k.readBigInt64BE(0);
      }
      totalKey++;
    }
  }
  return { hash: hash >>> 0, revision, totalKey, totalSize: bolt.size };
}

/** `snapshot status <path>`: the file as etcd reads it (no hash check, as etcd 3.4). */
export async function snapshotStatus(path: string): Promise<SnapshotStatus> {
  try {
    await stat(path);
  } catch (err) {
    throw new SnapshotFileError(fsErrorText('stat', path, err));
  }
  const db = await readSnapshotFile(path, { skipHashCheck: true });
  return boltStatus(openBolt(db, path));
}

// Snapshot files: one raftpb.Snapshot (metadata and state payload) per file, named
// `%016x-%016x.snap` by (term, index), CRC-protected, written whole to a temporary file, synced
// and renamed into place. Loading takes the newest file that reads back intact and sets broken
// ones aside as `<name>.broken`.
//
// File layout (little-endian):
//   +0   8 bytes  magic "KVSNAP" 0x00 0x01 (last byte: format version)
//   +8   u64      payload length N (must equal file size - 20)
//   +16  u32      CRC32C over bytes [0, 16) and the payload
//   +20  N bytes  raftpb.Snapshot (protobuf)
import { crc32c } from '@node-rs/crc32';
import { dirname, join, resolve } from 'node:path';
import { raftpb } from '@kv/api';
import { SNAP_HEADER_BYTES, SNAP_MAGIC } from './constants.js';
import { WalError } from './errors.js';
import type { FileSystem } from './file_system.js';
import { writeAllAt } from './fsutil.js';
import { nodeFs } from './node_fs.js';
import { parseSnapName, snapName, type SnapName } from './names.js';
import type { SnapshotPosition } from './payloads.js';

export interface SnapshotFilesOptions {
  /** Receives notices worth logging (a broken snapshot file set aside). */
  onWarning?: (message: string) => void;
  /** The file system the files live on (default nodeFs, the real one). */
  fs?: FileSystem;
}

/** Encodes a snapshot file image. */
export function encodeSnapshotFile(snapshot: raftpb.Snapshot): Buffer {
  const payload = raftpb.Snapshot.encode(snapshot).finish();
  const out = Buffer.alloc(SNAP_HEADER_BYTES + payload.length);
  SNAP_MAGIC.copy(out, 0);
  out.writeBigUInt64LE(BigInt(payload.length), 8);
  out.set(payload, SNAP_HEADER_BYTES);
  const crc = crc32c(out.subarray(SNAP_HEADER_BYTES), crc32c(out.subarray(0, 16)));
  out.writeUInt32LE(crc, 16);
  return out;
}

/** A magic for an error message: printable ASCII as is, other bytes as \xNN. */
function showMagic(b: Uint8Array): string {
  let out = '';
  for (const c of b) out += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : `\\x${c.toString(16).padStart(2, '0')}`;
  return `"${out}"`;
}

/** Decodes and verifies a snapshot file image; throws WalError SNAP_CORRUPT naming `file`. */
export function decodeSnapshotFile(buf: Buffer, file: string): raftpb.Snapshot {
  // The magic first: a foreign file (a backend snapshot stream, say) is named as such even when short.
  if (buf.length >= SNAP_MAGIC.length) {
    const magic = buf.subarray(0, SNAP_MAGIC.length);
    if (!magic.equals(SNAP_MAGIC)) {
      throw new WalError(
        'SNAP_CORRUPT',
        `not a raft snapshot file (bad magic or version: ${showMagic(magic)}, want ${showMagic(SNAP_MAGIC)})`,
        file,
        0,
      );
    }
  }
  if (buf.length < SNAP_HEADER_BYTES) {
    throw new WalError('SNAP_CORRUPT', `snapshot file of ${buf.length} bytes is shorter than its header`, file, 0);
  }
  const len = buf.readBigUInt64LE(8);
  if (len !== BigInt(buf.length - SNAP_HEADER_BYTES)) {
    throw new WalError('SNAP_CORRUPT', `payload length ${len} does not match the file size ${buf.length}`, file, 8);
  }
  const crc = crc32c(buf.subarray(SNAP_HEADER_BYTES), crc32c(buf.subarray(0, 16)));
  if (crc !== buf.readUInt32LE(16)) throw new WalError('SNAP_CORRUPT', 'snapshot crc mismatch', file, 16);
  let snap: raftpb.Snapshot;
  try {
    snap = raftpb.Snapshot.decode(buf.subarray(SNAP_HEADER_BYTES));
  } catch (err) {
    throw new WalError('SNAP_CORRUPT', 'undecodable snapshot', file, SNAP_HEADER_BYTES, { cause: err });
  }
  if (!snap.metadata) throw new WalError('SNAP_CORRUPT', 'snapshot without metadata', file, SNAP_HEADER_BYTES);
  return snap;
}

export class SnapshotFiles {
  private readonly warn: (message: string) => void;
  private readonly fs: FileSystem;

  private constructor(
    readonly dir: string,
    options: SnapshotFilesOptions,
  ) {
    this.warn = options.onWarning ?? (() => {});
    this.fs = options.fs ?? nodeFs;
  }

  /**
   * Creates `dir` if needed (0700; its name made durable in the parent) and removes temporary
   * files a crash left behind.
   */
  static async open(dir: string, options: SnapshotFilesOptions = {}): Promise<SnapshotFiles> {
    const fs = options.fs ?? nodeFs;
    dir = resolve(dir);
    if (!(await fs.exists(dir))) {
      await fs.mkdir(dir, { recursive: true, mode: 0o700 });
      await fs.fsyncDir(dirname(dir));
    }
    for (const n of await fs.readdir(dir)) {
      if (n.endsWith('.snap.tmp')) await fs.rm(join(dir, n), { force: true });
    }
    return new SnapshotFiles(dir, options);
  }

  /**
   * Writes `snapshot` durably: temp file, fsync, rename, directory fsync. An empty snapshot
   * (index 0) is not written. Returns the file's path.
   */
  async save(snapshot: raftpb.Snapshot): Promise<string | undefined> {
    const meta = snapshot.metadata;
    if (!meta || meta.index === 0n) return undefined;
    const name = snapName(meta.term, meta.index);
    const path = join(this.dir, name);
    const tmp = `${path}.tmp`;
    const fh = await this.fs.open(tmp, 'w', 0o600);
    try {
      await writeAllAt(fh, [encodeSnapshotFile(snapshot)], 0);
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => {});
      await this.fs.rm(tmp, { force: true });
      throw err;
    }
    await fh.close();
    await this.fs.rename(tmp, path);
    await this.fs.fsyncDir(this.dir);
    return path;
  }

  /** Snapshot file names, newest (highest term, then index) first. */
  async list(): Promise<SnapName[]> {
    const out: SnapName[] = [];
    for (const n of await this.fs.readdir(this.dir)) {
      const s = parseSnapName(n);
      if (s) out.push(s);
    }
    return out.sort((a, b) => (a.name < b.name ? 1 : a.name > b.name ? -1 : 0));
  }

  /**
   * The newest snapshot that reads back intact (and that `accept` takes, e.g. one with a marker in
   * the WAL). Broken files are renamed to `<name>.broken` and skipped. Undefined if none.
   */
  async loadNewest(accept?: (pos: SnapshotPosition) => boolean): Promise<raftpb.Snapshot | undefined> {
    for (const s of await this.list()) {
      const path = join(this.dir, s.name);
      let snap: raftpb.Snapshot;
      try {
        snap = decodeSnapshotFile(await this.fs.readFile(path), path);
        const m = snap.metadata!;
        if (m.index !== s.index || m.term !== s.term) {
          throw new WalError('SNAP_CORRUPT', `snapshot metadata (term ${m.term}, index ${m.index}) does not match its name`, path, 0);
        }
      } catch (err) {
        if (!(err instanceof WalError)) throw err;
        await this.fs.rename(path, `${path}.broken`);
        await this.fs.fsyncDir(this.dir);
        // etcd's words for it, then what was done about it.
        this.warn(`snap: corrupted snapshot file ${path}: ${err.message}; set aside as ${path}.broken, trying an older one`);
        continue;
      }
      if (!accept || accept({ index: s.index, term: s.term })) return snap;
    }
    return undefined;
  }

  /**
   * Removes all but the newest `keep` snapshot files, except the one at index `protect` (the
   * snapshot a restart would open the WAL at, while a newer file still waits for its marker).
   * Returns the removed names.
   */
  async purge(keep: number, protect?: bigint): Promise<string[]> {
    const victims = (await this.list()).slice(Math.max(0, keep)).filter((v) => v.index !== protect);
    for (const v of victims) await this.fs.rm(join(this.dir, v.name), { force: true });
    if (victims.length > 0) await this.fs.fsyncDir(this.dir);
    return victims.map((v) => v.name);
  }
}

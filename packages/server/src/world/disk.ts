// The member's data dir as one interface: the WAL, the snapshot files, the backend, snapshots
// received from the leader, the data-dir lock and the free-space figures. This module is the only
// place in the server that opens any of them; kvd's disk is dataDirDisk (the real files under
// --data-dir), the whole-cluster simulation builds a MemberDisk over a simulated file system.
//
// Layout of a data dir: data_dir.ts.
import { Backend, classicEngine, type MvccClock, type StorageEngine } from '@kv/mvcc';
import { SnapshotFiles, Wal, nodeFs, type FileSystem, type OpenResult, type SnapshotPosition, type WalOptions } from '@kv/wal';
import { existsSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { layout, openDataDir, type DataDirLayout } from '../data_dir.js';

/** A held data-dir lock. */
export interface DiskLock {
  release(): void;
}

/** A backend restored from a snapshot stream, whole and durable, not yet installed. */
export interface ReceivedSnapshot {
  /** Where it lies (for logs). */
  readonly path: string;
}

export interface MemberDisk {
  /** The data dir, as error messages name it. */
  readonly dataDir: string;
  /** Paths of its parts, for log lines and messages. */
  readonly paths: DataDirLayout;
  /** Takes the data dir's lock (refused while another process holds it); returns repairs made on the way. */
  lock(): { lock: DiskLock; notices: string[] };
  /** Completes a snapshot install a crash interrupted, removes received snapshots never installed. */
  settleReceivedSnapshots(logger: Logger): Promise<void>;
  walExists(): Promise<boolean>;
  /**
   * With a dedicated WAL dir (--wal-dir) that holds no WAL: the path of a WAL found where it
   * would be without one (<data-dir>/member/wal), which the member must not silently ignore.
   */
  misplacedWal?(): Promise<string | undefined>;
  /**
   * The path of an etcd backend (the bbolt file <data-dir>/member/snap/db) when this data dir was
   * written by etcd: kv's format differs, so the member must refuse it before touching anything.
   */
  etcdBackend?(): string | undefined;
  /** Whether the backend has ever been created (a missing one is rebuilt from the WAL). */
  backendExists(): Promise<boolean>;
  openBackend(o: { onWarning: (m: string) => void; clock: MvccClock }): Promise<Backend>;
  openSnapshots(o: { onWarning: (m: string) => void }): Promise<SnapshotFiles>;
  /** The snapshot positions the WAL recorded (Wal.validSnapshots). */
  walSnapshots(): Promise<SnapshotPosition[]>;
  openWal(pos: SnapshotPosition, o: WalOptions): Promise<OpenResult>;
  createWal(metadata: Uint8Array, o: WalOptions): Promise<Wal>;
  /**
   * Restores a snapshot stream aside under `name` (unique per receive: the caller draws it from
   * its clock): verified, synced, and only then under its final name.
   */
  receiveSnapshot(name: string, data: AsyncIterable<Buffer>, clock: MvccClock): Promise<ReceivedSnapshot>;
  /** Removes a received snapshot that will not be installed. */
  discardReceived(r: ReceivedSnapshot): Promise<void>;
  /**
   * Swaps a received snapshot in for the backend (which the caller has closed). Durable when it
   * resolves; a crash half-way is completed by the next settleReceivedSnapshots.
   */
  installReceived(r: ReceivedSnapshot): Promise<void>;
  /** Least free space (bytes) over the file systems holding the backend and the WAL. */
  freeBytes(): number;
}

/** Where a snapshot stream is restored: `db.snap-<n>.partial` while it arrives, `db.snap-<n>` once whole and durable. */
const receivedPrefix = 'db.snap-';
const partialSuffix = '.partial';

/** What a data dir lives on; every part defaults to the real one. */
export interface DataDirDiskOptions {
  /** The WAL's and the snapshot files' file system (default: node's). */
  fs?: FileSystem;
  /** The backend's storage engine; it also owns backend directories (exists, rename, remove, list). */
  engine?: StorageEngine;
  /** Takes the data-dir lock (default: data_dir.ts's, on the real file system). */
  lock?: () => { lock: DiskLock; notices: string[] };
  /** Least free bytes for the backend and the WAL (default: statfs of their directories). */
  freeBytes?: () => number;
  /** A dedicated WAL directory (etcd's --wal-dir); default <data-dir>/member/wal. */
  walDir?: string;
}

/** Least free space over the real file systems holding `dirs`. */
function statfsFreeBytes(dirs: string[]): number {
  let min = Number.POSITIVE_INFINITY;
  for (const d of dirs) {
    try {
      const s = statfsSync(d);
      min = Math.min(min, s.bavail * s.bsize);
    } catch {
      // a directory not there yet (created later) has no file system to watch yet
    }
  }
  return min;
}

/**
 * The data dir under `dataDir`, laid out as data_dir.ts says: kvd's on the real file system and
 * LevelDB, the simulation's on a simulated file system and engine (`o`).
 */
export function dataDirDisk(dataDir: string, o: DataDirDiskOptions = {}): MemberDisk {
  const dirs = layout(dataDir, o.walDir);
  const fs = o.fs ?? nodeFs;
  const engine = o.engine ?? classicEngine;
  const received = (name: string) => join(dirs.member, `${receivedPrefix}${name}`);
  return {
    dataDir,
    paths: dirs,
    lock() {
      if (o.lock) return o.lock();
      const { lock, notices } = openDataDir(dataDir, { walDir: o.walDir });
      return { lock, notices };
    },
    async settleReceivedSnapshots(logger) {
      // Installing swaps `db.snap-<n>` in for `db` (remove db, rename): a crash between the two
      // leaves no `db` but a whole received one, which is then moved into place. Anything else
      // received but never installed is of no use and removed.
      const names = (await engine.list(dirs.member)).filter((n) => n.startsWith(receivedPrefix)).sort();
      const whole = names.filter((n) => !n.endsWith(partialSuffix));
      for (const name of names) {
        const path = join(dirs.member, name);
        if (name === whole[whole.length - 1] && !(await engine.exists(dirs.db))) {
          logger.warn({ path, db: dirs.db }, 'completing a snapshot install interrupted by a crash');
          await engine.remove(dirs.db);
          await engine.rename(path, dirs.db);
          continue;
        }
        logger.warn({ path }, 'removing a received snapshot that was never installed');
        await engine.remove(path);
      }
    },
    walExists: () => Wal.exists(dirs.wal, fs),
    async misplacedWal() {
      if (!dirs.dedicatedWal || (await Wal.exists(dirs.wal, fs))) return undefined;
      const usual = layout(dataDir).wal;
      return (await Wal.exists(usual, fs)) ? usual : undefined;
    },
    etcdBackend() {
      const bolt = join(dirs.snap, 'db');
      return existsSync(bolt) ? bolt : undefined;
    },
    backendExists: () => engine.exists(dirs.db),
    openBackend: (b) => Backend.open(dirs.db, { ...b, engine }),
    openSnapshots: (s) => SnapshotFiles.open(dirs.snap, { ...s, fs }),
    walSnapshots: () => Wal.validSnapshots(dirs.wal, fs),
    openWal: (pos, w) => Wal.open(dirs.wal, pos, { ...w, fs }),
    createWal: (metadata, w) => Wal.create(dirs.wal, metadata, { ...w, fs }),
    async receiveSnapshot(name, data, clock) {
      const path = received(name);
      const partial = `${path}${partialSuffix}`;
      const b = await Backend.restoreFrom(partial, data, { clock, engine }); // verified and synced
      await b.close();
      await engine.rename(partial, path); // durable on return
      return { path };
    },
    async discardReceived(r) {
      await engine.remove(r.path);
    },
    async installReceived(r) {
      // Each step durable on return; a crash between them is completed at the next start.
      await engine.remove(dirs.db);
      await engine.rename(r.path, dirs.db);
    },
    freeBytes: () => (o.freeBytes ? o.freeBytes() : statfsFreeBytes([dirs.db, dirs.wal])),
  };
}

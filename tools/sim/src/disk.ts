// A simulated member's data dir: the server's own disk module (dataDirDisk: the same layout, the
// same received-snapshot install and crash completion as kvd) on a SimFs (WAL, snapshot files)
// and a SimEngine (backend, received snapshots), both sessions of one incarnation.
//
// The lock: the simulation runs at most one incarnation of a member at a time, and a crashed
// process's lock dies with it, so the lock is refused only while a live incarnation holds it.
import { dataDirDisk, DataDirError, type MemberDisk } from '@kv/server';
import type { StorageEngine } from '@kv/mvcc';
import type { FileSystem } from '@kv/wal';

export interface DiskLockState {
  /** Whether the holder (an incarnation) is alive; undefined: nobody holds it. */
  holderAlive?: () => boolean;
}

/** WAL segments of 64 KiB: files are Buffers, and a 64 MB preallocated segment per member would cost far more. */
const segmentBytes = 64 * 1024;

export function simDisk(dataDir: string, fs: FileSystem, engine: StorageEngine, lock: DiskLockState, alive: () => boolean): MemberDisk {
  const disk = dataDirDisk(dataDir, {
    fs,
    engine,
    lock() {
      if (lock.holderAlive?.()) throw new DataDirError(`data dir ${dataDir} is in use by another incarnation`);
      lock.holderAlive = alive;
      return {
        lock: {
          release: () => {
            if (lock.holderAlive === alive) lock.holderAlive = undefined;
          },
        },
        notices: [],
      };
    },
    // The simulated disks have no capacity limit (the disk-full paths have their own tests).
    freeBytes: () => Number.POSITIVE_INFINITY,
  });
  return {
    ...disk,
    openWal: (pos, o) => disk.openWal(pos, { ...o, segmentBytes }),
    createWal: (metadata, o) => disk.createWal(metadata, { ...o, segmentBytes }),
  };
}

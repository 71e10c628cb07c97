// The real storage engine: LevelDB through classic-level, databases as directories.
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { DbBatchOp, StorageDb, StorageEngine } from './storage_engine.js';

/** fsync a directory, so that the names created, renamed or removed in it survive a crash. */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

/** classic-level's implementation of abstract-level's private batch (see withDirectBatch). */
type DirectBatch = (ops: DbBatchOp[], options: { sync: boolean }) => Promise<void>;

/**
 * The database as StorageDb (abstract-level's API, the subset StorageDb names), with batch() going
 * straight to classic-level's `_batch`. abstract-level's public batch() clones every operation
 * (two object spreads), checks it and looks up its encodings before calling `_batch` with the same
 * Buffers: with buffer encodings, no hooks, events nor sublevels (all true here) that is pure cost,
 * and it was a third of a member's CPU time in a 300,000-key delete. `_batch(operations, options)`
 * is abstract-level's documented private API for implementations; the open check it skips is
 * kept. Falls back to batch() if a classic-level without `_batch` is ever installed.
 */
function withDirectBatch(db: ClassicLevel<Buffer, Buffer>): StorageDb {
  const sdb = db as unknown as StorageDb;
  const direct = (db as unknown as { _batch?: DirectBatch })._batch;
  if (typeof direct !== 'function') return sdb;
  const publicBatch = sdb.batch.bind(sdb);
  sdb.batch = (ops, options) => {
    if (db.status !== 'open' || ops.length === 0) return publicBatch(ops, options);
    return direct.call(db, ops, { sync: options?.sync === true });
  };
  return sdb;
}

export const classicEngine: StorageEngine = {
  async open(location, options = {}) {
    await mkdir(location, { recursive: true });
    const db = new ClassicLevel<Buffer, Buffer>(location, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      ...(options.errorIfExists ? { errorIfExists: true } : {}),
    });
    await db.open();
    return withDirectBatch(db);
  },
  destroy: (location) => ClassicLevel.destroy(location),
  exists: (location) => exists(join(location, 'CURRENT')),
  async rename(from, to) {
    await rename(from, to);
    await fsyncDir(dirname(to));
    if (dirname(from) !== dirname(to)) await fsyncDir(dirname(from));
  },
  async remove(location) {
    if (!(await exists(location))) return;
    await rm(location, { recursive: true, force: true });
    await fsyncDir(dirname(location));
  },
  async list(parent) {
    try {
      return await readdir(parent);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
  },
  async usage(location) {
    let total = 0;
    let logs = 0;
    for (const name of await readdir(location)) {
      try {
        const s = await stat(join(location, name));
        if (!s.isFile()) continue;
        total += s.size;
        if (name.endsWith('.log')) logs += s.size;
      } catch {
        // a file removed by a background LevelDB compaction while we listed
      }
    }
    return { total, logs };
  },
  async recoveryNotes(location) {
    // LevelDB reports what its recovery dropped only in its own info log (`<dir>/LOG`, started
    // anew by every open).
    let text: string;
    try {
      text = await readFile(join(location, 'LOG'), 'latin1');
    } catch {
      return [];
    }
    return text
      .split('\n')
      .filter((l) => /corruption|dropping|ignoring|missing/i.test(l))
      .map((l) => l.replace(/^\S+ \S+ /, '').trim()) // LevelDB's timestamp and thread id
      .slice(0, 20);
  },
};

// The real storage engine: LevelDB through classic-level, databases as directories.
import { constants } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { ClassicLevel } from 'classic-level';
import type { StorageDb, StorageEngine } from './storage_engine.js';

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

export const classicEngine: StorageEngine = {
  async open(location, options = {}) {
    await mkdir(location, { recursive: true });
    const db = new ClassicLevel<Buffer, Buffer>(location, {
      keyEncoding: 'buffer',
      valueEncoding: 'buffer',
      ...(options.errorIfExists ? { errorIfExists: true } : {}),
    });
    await db.open();
    return db as unknown as StorageDb; // abstract-level's API, the subset StorageDb names
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

// A bad day for a data dir, done on purpose: the ways a member's disk loses or mangles data, as
// the damage tests (and anyone reproducing a report) apply them to a stopped member's data dir.
import { readdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

export type Damage =
  | 'remove-backend' // rm -rf member/db
  | 'empty-backend-log' // LevelDB's newest .log truncated to 0 bytes
  | 'halve-backend-log' // ... to half its size
  | 'flip-backend-log' // one byte flipped in LevelDB's newest .log: the checksum of its second block's first record
  | 'corrupt-newest-snap'; // one byte flipped in the newest raft snapshot file

async function newest(dir: string, suffix: string): Promise<string> {
  const names = (await readdir(dir)).filter((n) => n.endsWith(suffix)).sort();
  if (names.length === 0) throw new Error(`no *${suffix} file in ${dir}`);
  return join(dir, names[names.length - 1]);
}

async function flip(path: string, at: (size: number) => number): Promise<void> {
  const buf = await readFile(path);
  buf[at(buf.length)] ^= 0x5a;
  await writeFile(path, buf);
}

/** Applies `damage` to the data dir of a stopped member; returns the file or directory it hit. */
export async function damageDataDir(dataDir: string, damage: Damage): Promise<string> {
  const db = join(dataDir, 'member', 'db');
  switch (damage) {
    case 'remove-backend':
      await rm(db, { recursive: true, force: true });
      return db;
    case 'empty-backend-log': {
      const log = await newest(db, '.log');
      await truncate(log, 0);
      return log;
    }
    case 'halve-backend-log': {
      const log = await newest(db, '.log');
      await truncate(log, Math.floor((await stat(log)).size / 2));
      return log;
    }
    case 'flip-backend-log': {
      // LevelDB's log is made of 32 KiB blocks, each record behind a 7-byte header that starts with
      // its CRC. A bad CRC at the start of block 1 makes LevelDB drop that block and go on with
      // the next ones: batches in the middle vanish while later ones stay (the report's case).
      const log = await newest(db, '.log');
      if ((await stat(log)).size < 3 * 32768) throw new Error(`${log} is shorter than three LevelDB log blocks`);
      await flip(log, () => 32768);
      return log;
    }
    case 'corrupt-newest-snap': {
      const snap = await newest(join(dataDir, 'member', 'snap'), '.snap');
      await flip(snap, (n) => n - 1);
      return snap;
    }
  }
}

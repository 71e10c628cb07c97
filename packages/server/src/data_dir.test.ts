// The data directory: created private and durably (every new directory's parent synced), locked
// against a second opener.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { fsyncDirSync, openDataDir } from './data_dir.js';

const dirs: string[] = [];
const temp = () => {
  const d = mkdtempSync(join(tmpdir(), 'kv-data-dir-'));
  dirs.push(d);
  return d;
};
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('openDataDir', () => {
  it('syncs the parent of every directory it creates, outermost first, and nothing when they exist', () => {
    const base = temp();
    const dataDir = join(base, 'a', 'b');
    const synced: string[] = [];
    const syncDir = (d: string) => {
      synced.push(d);
      fsyncDirSync(d);
    };
    const first = openDataDir(dataDir, { syncDir });
    // a, a/b and a/b/member are new: their parents base, a and a/b are synced, in that order.
    expect(synced).toEqual([base, join(base, 'a'), dataDir]);
    expect(statSync(first.dirs.member).mode & 0o777).toBe(0o700);
    first.lock.release();

    synced.length = 0;
    const again = openDataDir(dataDir, { syncDir });
    expect(synced).toEqual([]);
    again.lock.release();
  });

  it('syncs only the member directory when the data dir exists', () => {
    const dataDir = temp();
    const synced: string[] = [];
    const opened = openDataDir(dataDir, { syncDir: (d) => synced.push(d) });
    expect(synced).toEqual([dataDir]);
    opened.lock.release();
  });

  it('fails with the reason when a directory cannot be synced, and refuses a second opener', () => {
    const dataDir = temp();
    expect(() =>
      openDataDir(join(dataDir, 'x'), {
        syncDir: () => {
          throw new Error('EIO: fsync failed');
        },
      }),
    ).toThrow(/EIO/);
    mkdirSync(join(dataDir, 'y'));
    const held = openDataDir(join(dataDir, 'y'));
    expect(() => openDataDir(join(dataDir, 'y'))).toThrow(/in use by another process/);
    held.lock.release();
  });

  it.runIf(existsSync('/proc/self/stat'))('takes over the lock of a killed member that is not reaped yet (a zombie)', async () => {
    // sh starts a child that exits at once, then becomes `sleep`, which never reaps it
    const parent = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 30'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const zombie = await new Promise<number>((resolve) => parent.stdout.once('data', (d) => resolve(Number.parseInt(String(d), 10))));
      const deadline = Date.now() + 10_000;
      while (!/\) Z/.test(readFileSync(`/proc/${zombie}/stat`, 'utf8')) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      const dataDir = temp();
      mkdirSync(join(dataDir, 'member'), { recursive: true, mode: 0o700 });
      writeFileSync(join(dataDir, 'member', 'lock'), `${zombie}\n`);
      const opened = openDataDir(dataDir);
      expect(opened.notices.join('\n')).toMatch(new RegExp(`took over the lock of pid ${zombie}, which is gone`));
      opened.lock.release();
    } finally {
      parent.kill('SIGKILL');
    }
  });
});

// SimFs's model itself, and the real SnapshotFiles on it with a crash before every step of a save.
import { raftpb } from '@kv/api';
import { SnapshotFiles, type FileSystem } from '@kv/wal';
import { describe, expect, it } from 'vitest';
import { SimFs } from './sim_fs.js';
import { seeded } from './test_helpers.js';

async function disk(seed = 1): Promise<SimFs> {
  const fs = new SimFs({ random: seeded(seed) });
  await fs.mkdir('/d');
  await fs.fsyncDir('/');
  return fs;
}

describe('SimFs model', () => {
  it('a name is volatile until its directory is fsynced; data until the file is', async () => {
    const fs = await disk();
    const a = await fs.open('/d/a', 'w');
    await a.writev([Buffer.from('hello')], 0);
    await a.sync();
    fs.crash();
    expect(await fs.exists('/d/a')).toBe(false); // synced data, unsynced name
    const b = await fs.open('/d/b', 'w');
    await fs.fsyncDir('/d');
    await b.writev([Buffer.from('lost')], 0);
    fs.crash();
    expect((await fs.readFile('/d/b')).length).toBeLessThanOrEqual(4); // name durable, data maybe
    expect(await fs.exists('/d/b')).toBe(true);
  });

  it('kill keeps everything written; crash keeps the synced part and a prefix of the rest', async () => {
    const fs = await disk(9);
    const f = await fs.open('/d/f', 'w');
    await fs.fsyncDir('/d');
    await f.writev([Buffer.from('AAAA')], 0);
    await f.datasync();
    await f.writev([Buffer.from('BBBB')], 4);
    fs.kill();
    expect((await fs.readFile('/d/f')).toString()).toBe('AAAABBBB');
    await expect(f.writev([Buffer.from('C')], 8)).rejects.toMatchObject({ code: 'EIO' }); // the dead process's handle
    fs.crash();
    const after = (await fs.readFile('/d/f')).toString('latin1');
    expect(after.startsWith('AAAA')).toBe(true);
    expect('AAAABBBB'.startsWith(after.replace(/\0+$/, ''))).toBe(true);
  });

  it('a failed fsync drops the unsynced pages (fsyncgate): reads see them, a later fsync does not save them', async () => {
    const fs = await disk();
    const f = await fs.open('/d/f', 'w');
    await fs.fsyncDir('/d');
    await f.writev([Buffer.from('data')], 0);
    fs.failFsync(1);
    await expect(f.sync()).rejects.toMatchObject({ code: 'EIO' });
    expect((await fs.readFile('/d/f')).toString()).toBe('data');
    await f.sync(); // succeeds, without the data
    fs.crash();
    expect((await fs.readFile('/d/f')).length).toBe(0);
  });

  it('failFsync with a predicate fails the matching paths only', async () => {
    const fs = await disk();
    fs.failFsync((p) => p.endsWith('.bad'));
    const good = await fs.open('/d/x.good', 'w');
    const bad = await fs.open('/d/x.bad', 'w');
    await good.sync();
    await expect(bad.sync()).rejects.toMatchObject({ code: 'EIO' });
    fs.clearFaults();
    await bad.sync();
  });

  it('ENOSPC: a write past the capacity writes what fits, then fails', async () => {
    const fs = await disk();
    fs.setCapacity(10);
    const f = await fs.open('/d/f', 'w');
    expect(await f.writev([Buffer.alloc(8, 1)], 0)).toBe(8);
    expect(await f.writev([Buffer.alloc(8, 2)], 8)).toBe(2);
    await expect(f.writev([Buffer.alloc(1, 3)], 10)).rejects.toMatchObject({ code: 'ENOSPC' });
    expect(await f.writev([Buffer.alloc(4, 4)], 0)).toBe(4); // overwriting needs no space
    expect(await fs.freeBytes('/d')).toBe(0);
  });

  it('a session dies with its process', async () => {
    const fs = await disk();
    const s = fs.session();
    await s.mkdir('/d/x');
    fs.kill();
    await expect(s.mkdir('/d/y')).rejects.toMatchObject({ code: 'EIO' });
    await fs.session().mkdir('/d/y');
  });

  it('errors have Node codes', async () => {
    const fs = await disk();
    await expect(fs.readFile('/d/none')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(fs.open('/d', 'r')).rejects.toMatchObject({ code: 'EISDIR' });
    await fs.mkdir('/d/e');
    await fs.open('/d/e/f', 'w');
    await expect(fs.rmdir('/d/e')).rejects.toMatchObject({ code: 'ENOTEMPTY' });
    await expect(fs.open('/d/e/f', 'wx')).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(fs.tryLock('/d/l')).resolves.toBeDefined();
    await expect(fs.tryLock('/d/l')).resolves.toBeUndefined();
  });
});

function snapshot(index: bigint, size: number): raftpb.Snapshot {
  return raftpb.Snapshot.create({
    data: Buffer.alloc(size, Number(index % 251n)),
    metadata: { index, term: 2n, confState: { voters: [1n] } },
  });
}

/** A FileSystem that crashes the disk just before its n-th call (counting every method). */
function crashingBefore(fs: SimFs, n: number): { view: FileSystem; crashed: () => boolean } {
  let calls = 0;
  let crashed = false;
  const inner = fs.session();
  const view = new Proxy(inner, {
    get(target, prop, receiver) {
      const v = Reflect.get(target, prop, receiver) as unknown;
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (!crashed && calls++ === n) {
          crashed = true;
          fs.crash();
        }
        return (v as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { view, crashed: () => crashed };
}

describe('SnapshotFiles on SimFs', () => {
  it('a crash at any step of a save leaves the old snapshot or the new one, never a broken one', async () => {
    let sawOld = 0;
    let sawNew = 0;
    for (let n = 0; n < 40; n++) {
      for (let seed = 1; seed <= 5; seed++) {
        const fs = await disk(seed * 100 + n);
        const first = await SnapshotFiles.open('/d/snap', { fs: fs.session() });
        await first.save(snapshot(10n, 3000));
        const { view, crashed } = crashingBefore(fs, n);
        let saved = false;
        try {
          const files = await SnapshotFiles.open('/d/snap', { fs: view });
          await files.save(snapshot(20n, 5000));
          saved = true;
        } catch (err) {
          expect(crashed()).toBe(true); // only the crash stops it
          expect((err as NodeJS.ErrnoException).code).toBe('EIO');
        }
        if (!crashed()) {
          fs.crash(); // after the save returned: it must be durable
          expect(saved).toBe(true);
        }
        const warnings: string[] = [];
        const again = await SnapshotFiles.open('/d/snap', { fs: fs.session(), onWarning: (m) => warnings.push(m) });
        const got = await again.loadNewest();
        expect(warnings).toEqual([]); // no broken file: the rename made it visible whole or not at all
        expect(got?.metadata?.index === 10n || got?.metadata?.index === 20n).toBe(true);
        if (saved) expect(got?.metadata?.index).toBe(20n);
        if (got?.metadata?.index === 20n) sawNew++;
        else sawOld++;
        expect(
          Buffer.from(got!.data).equals(snapshot(got!.metadata!.index, got!.metadata!.index === 10n ? 3000 : 5000).data as Buffer),
        ).toBe(true);
        expect((await fs.readdir('/d/snap')).filter((x) => x.endsWith('.tmp'))).toEqual([]); // open removed leftovers
      }
    }
    expect(sawOld).toBeGreaterThan(0);
    expect(sawNew).toBeGreaterThan(0);
  });
});

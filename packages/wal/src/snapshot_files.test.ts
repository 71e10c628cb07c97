import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { WalError } from './errors.js';
import { decodeSnapshotFile, encodeSnapshotFile, SnapshotFiles } from './snapshot_files.js';
import { removeTempDirs, tempDir } from './testdata/helpers.js';

afterAll(removeTempDirs);

function snap(term: bigint, index: bigint, data = `state@${index}`): raftpb.Snapshot {
  return {
    data: Buffer.from(data),
    metadata: {
      index,
      term,
      confState: { voters: [1n, 2n, 3n], learners: [4n], votersOutgoing: [], learnersNext: [], autoLeave: false },
    },
  };
}

describe('snapshot file format', () => {
  it('round-trips and checks magic, length and crc', () => {
    const s = snap(2n, 10n);
    const img = encodeSnapshotFile(s);
    expect(img.subarray(0, 8).toString('latin1')).toBe('KVSNAP\x00\x01');
    expect(decodeSnapshotFile(img, 'f')).toEqual(s);
    const codeAt = (b: Buffer) => {
      try {
        decodeSnapshotFile(b, 'f');
        return 'ok';
      } catch (err) {
        expect(err).toBeInstanceOf(WalError);
        return `${(err as WalError).code}@${(err as WalError).offset}`;
      }
    };
    expect(codeAt(img.subarray(0, 10))).toBe('SNAP_CORRUPT@0');
    const badMagic = Buffer.from(img);
    badMagic[7] = 2;
    expect(codeAt(badMagic)).toBe('SNAP_CORRUPT@0');
    const huge = Buffer.from(img);
    huge.writeBigUInt64LE(0xffff_ffff_ffffn, 8);
    expect(codeAt(huge)).toBe('SNAP_CORRUPT@8');
    expect(codeAt(img.subarray(0, img.length - 1))).toBe('SNAP_CORRUPT@8');
    const flipped = Buffer.from(img);
    flipped[img.length - 3] ^= 1;
    expect(codeAt(flipped)).toBe('SNAP_CORRUPT@16');
  });
});

describe('SnapshotFiles', () => {
  it('saves durably under term-index names and loads the newest', async () => {
    const dir = join(await tempDir(), 'snap');
    const files = await SnapshotFiles.open(dir);
    expect(await files.loadNewest()).toBeUndefined();
    expect(await files.save(snap(0n, 0n))).toBeUndefined(); // empty: not written
    await files.save(snap(1n, 5n));
    await files.save(snap(2n, 20n));
    await files.save(snap(2n, 12n));
    expect((await readdir(dir)).sort()).toEqual([
      '0000000000000001-0000000000000005.snap',
      '0000000000000002-000000000000000c.snap',
      '0000000000000002-0000000000000014.snap',
    ]);
    expect(await files.loadNewest()).toEqual(snap(2n, 20n));
    expect(await files.loadNewest((p) => p.index < 15n)).toEqual(snap(2n, 12n));
    expect(await files.purge(2)).toEqual(['0000000000000001-0000000000000005.snap']);
  });

  it('sets broken files aside and falls back to an older one', async () => {
    const dir = join(await tempDir(), 'snap');
    const warnings: string[] = [];
    const files = await SnapshotFiles.open(dir, { onWarning: (m) => warnings.push(m) });
    await files.save(snap(1n, 5n));
    const p2 = (await files.save(snap(1n, 8n)))!;
    const p3 = (await files.save(snap(1n, 9n)))!;
    const img = await readFile(p3);
    img[img.length - 1] ^= 0x20;
    await writeFile(p3, img);
    await writeFile(p2, (await readFile(p2)).subarray(0, 30)); // torn
    // A file whose content belongs to another name.
    await writeFile(join(dir, '0000000000000001-000000000000000a.snap'), encodeSnapshotFile(snap(1n, 7n)));
    expect(await files.loadNewest()).toEqual(snap(1n, 5n));
    expect((await readdir(dir)).sort()).toEqual([
      '0000000000000001-0000000000000005.snap',
      '0000000000000001-0000000000000008.snap.broken',
      '0000000000000001-0000000000000009.snap.broken',
      '0000000000000001-000000000000000a.snap.broken',
    ]);
    expect(warnings.length).toBe(3);
    expect(warnings[0]).toContain('000000000000000a.snap');
  });

  it('open removes temporary files left by a crash', async () => {
    const dir = join(await tempDir(), 'snap');
    const files = await SnapshotFiles.open(dir);
    await files.save(snap(1n, 3n));
    await writeFile(join(dir, '0000000000000001-0000000000000004.snap.tmp'), 'partial');
    await SnapshotFiles.open(dir);
    expect(await readdir(dir)).toEqual(['0000000000000001-0000000000000003.snap']);
  });
});

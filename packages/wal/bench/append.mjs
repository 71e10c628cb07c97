// Benchmark (not a test): appends per second with group commit, for 1, 10 and 100 concurrent
// appenders, against the raw fdatasync rate of the same disk measured in the same run.
//
// usage: pnpm --filter @kv/wal build && node packages/wal/bench/append.mjs [dir] [seconds-per-case]
//   dir defaults to a fresh directory under os.tmpdir() (make sure it is on the disk you care
//   about, not a tmpfs); it is removed afterwards.
import { closeSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Wal } from '../dist/index.js';

const base = process.argv[2] ?? tmpdir();
const seconds = Number(process.argv[3] ?? 3);
const root = await mkdtemp(join(base, 'kv-wal-bench-'));
const ENTRY_BYTES = 128;

/** Raw rate: write one 128-byte record into a preallocated file and fdatasync it, in a loop. */
function rawFsyncRate() {
  const path = join(root, 'raw');
  const fd = openSync(path, 'w');
  const size = 16 * 1024 * 1024;
  const zeros = Buffer.alloc(1024 * 1024);
  for (let p = 0; p < size; p += zeros.length) writeSync(fd, zeros, 0, zeros.length, p);
  fdatasyncSync(fd);
  const rec = Buffer.alloc(ENTRY_BYTES, 0x61);
  let n = 0;
  let off = 0;
  const end = performance.now() + seconds * 1000;
  while (performance.now() < end) {
    writeSync(fd, rec, 0, rec.length, off);
    fdatasyncSync(fd);
    off = (off + rec.length) % size;
    n++;
  }
  closeSync(fd);
  return n / seconds;
}

async function walRate(appenders) {
  const wal = await Wal.create(join(root, `wal-${appenders}`), Buffer.from('bench'));
  const data = Buffer.alloc(ENTRY_BYTES - 16, 0x62); // ~128 bytes per encoded entry
  let next = 0n;
  let done = 0;
  let stop = false;
  const loop = async () => {
    while (!stop) {
      const index = ++next;
      await wal.save({ term: 1n, vote: 1n, commit: index }, [{ Term: 1n, Index: index, Type: 0, Data: data }]);
      done++;
    }
  };
  const t0 = performance.now();
  const before = wal.stats();
  const loops = Array.from({ length: appenders }, loop);
  await new Promise((r) => setTimeout(r, seconds * 1000));
  stop = true;
  await Promise.all(loops);
  const elapsed = (performance.now() - t0) / 1000;
  const s = wal.stats();
  await wal.close();
  const syncs = s.syncs - before.syncs;
  return { rate: done / elapsed, syncsPerSec: syncs / elapsed, perSync: done / Math.max(1, syncs) };
}

try {
  console.log(`dir ${root}, ${seconds}s per case, ${ENTRY_BYTES}-byte entries, node ${process.version}`);
  const raw = rawFsyncRate();
  console.log(`raw write+fdatasync: ${raw.toFixed(0)}/s`);
  console.log('appenders  appends/s  fdatasync/s  appends/sync  vs raw');
  for (const n of [1, 10, 100]) {
    const r = await walRate(n);
    console.log(
      `${String(n).padStart(9)}  ${r.rate.toFixed(0).padStart(9)}  ${r.syncsPerSec.toFixed(0).padStart(11)}  ` +
        `${r.perSync.toFixed(1).padStart(12)}  ${(r.rate / raw).toFixed(2).padStart(5)}x`,
    );
  }
} finally {
  await rm(root, { recursive: true, force: true });
}

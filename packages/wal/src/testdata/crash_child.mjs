// Child process of crash.test.ts: opens (or creates) the WAL the way a server would, then appends
// from 8 concurrent loops and prints `ack <index>` for every append that resolved, until the
// parent kills it with SIGKILL. Every few hundred entries it takes a snapshot the server's way
// (snapshot file, WAL marker, release). Imports the built package (dist/).
//
// usage: node crash_child.mjs <walDir> <snapDir>
import { raftpb } from '@kv/api';
import { SnapshotFiles, Wal } from '../../dist/index.js';

const [walDir, snapDir] = process.argv.slice(2);
const OPTS = { segmentBytes: 16 * 1024 };
const CONF = { voters: [1n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

// Keep in step with payload() in crash.test.ts.
function payload(index) {
  return Buffer.from(`crash-${index}:${'y'.repeat(Number(index % 300n))}`);
}

function out(line) {
  process.stdout.write(`${line}\n`); // synchronous for pipes on Linux
}

const snaps = await SnapshotFiles.open(snapDir);
let wal;
let last;
if (!(await Wal.exists(walDir))) {
  wal = await Wal.create(walDir, Buffer.from('crash-test'), OPTS);
  last = 0n;
} else {
  const valid = await Wal.validSnapshots(walDir);
  const snap = await snaps.loadNewest((p) => valid.some((v) => v.index === p.index && v.term === p.term));
  const pos = snap ? { index: snap.metadata.index, term: snap.metadata.term } : { index: 0n, term: 0n };
  const r = await Wal.open(walDir, pos, OPTS);
  wal = r.wal;
  last = r.entries.length > 0 ? r.entries[r.entries.length - 1].Index : pos.index;
}
out(`ready ${last}`);

let next = last;
let snapshotting = false;

async function snapshot(index) {
  snapshotting = true;
  await snaps.save({ data: Buffer.from(`snap ${index}`), metadata: { index, term: 1n, confState: CONF } });
  await wal.saveSnapshot({ index, term: 1n });
  out(`marker ${index}`); // durable from here on
  await wal.release(index);
  await snaps.purge(2);
  out(`snap ${index}`);
  snapshotting = false;
}

async function appender() {
  for (;;) {
    const index = ++next;
    const e = { Term: 1n, Index: index, Type: raftpb.EntryType.EntryNormal, Data: payload(index) };
    await wal.save({ term: 1n, vote: 1n, commit: index }, [e]);
    out(`ack ${index}`);
    // Saves resolve in call order: every index up to this one is durable.
    if (index % 250n === 0n && !snapshotting) await snapshot(index);
  }
}

for (let i = 0; i < 8; i++) {
  appender().catch((err) => {
    process.stderr.write(`appender failed: ${err?.stack ?? err}\n`);
    process.exit(3);
  });
}

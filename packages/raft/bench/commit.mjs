// Benchmark (not a test): entries committed per second through an in-process 3-node raft
// cluster. Messages are handed from node to node in the same process, storage is MemoryStorage,
// nothing is fsynced: this measures the raft state machine and the Ready loop alone.
//
// For each (batch, entry size): the client proposes `batch` entries on the leader, then every
// node handles its Readies (persist to MemoryStorage, send, apply, advance) and messages are
// delivered until the cluster is quiet; repeat for the time budget. An entry counts once all
// three nodes applied it. The log is compacted every 10,000 entries, as an application would.
//
// usage: pnpm --filter @kv/raft build && node packages/raft/bench/commit.mjs [seconds-per-case]
import { MemoryStorage, RawNode, seededRandom } from '../dist/index.js';

const seconds = Number(process.argv[2] ?? 2);
const BATCHES = [1, 16, 256];
const SIZES = [16, 256, 4096];
const COMPACT_EVERY = 10_000n;

function newCluster() {
  const ids = [1n, 2n, 3n];
  const nodes = new Map();
  for (const id of ids) {
    const storage = new MemoryStorage();
    storage.applySnapshot({
      data: Buffer.alloc(0),
      metadata: { index: 1n, term: 1n, confState: { voters: ids, learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false } },
    });
    const rn = new RawNode({
      id,
      electionTick: 10,
      heartbeatTick: 1,
      storage,
      applied: 1n,
      maxSizePerMsg: 1024n * 1024n,
      maxInflightMsgs: 256,
      random: seededRandom(Number(id)),
    });
    nodes.set(id, { id, rn, storage, applied: 1n });
  }
  return nodes;
}

/** Handles Readies and delivers messages until nothing moves. */
function pump(nodes) {
  const queue = [];
  for (;;) {
    let moved = false;
    for (const n of nodes.values()) {
      while (n.rn.hasReady()) {
        moved = true;
        const rd = n.rn.ready();
        if (rd.snapshot !== undefined) n.storage.applySnapshot(rd.snapshot);
        if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
        n.storage.append(rd.entries);
        for (const m of rd.messages) queue.push(m);
        const k = rd.committedEntries.length;
        if (k > 0) n.applied = rd.committedEntries[k - 1].Index;
        n.rn.advance(rd);
        if (n.applied - (n.storage.firstIndex() - 1n) > COMPACT_EVERY) {
          n.storage.createSnapshot(n.applied, undefined, Buffer.alloc(0));
          n.storage.compact(n.applied);
        }
      }
    }
    for (let i = 0; i < queue.length; i++) {
      moved = true;
      nodes.get(queue[i].to).rn.step(queue[i]);
    }
    queue.length = 0;
    if (!moved) return;
  }
}

function electLeader(nodes) {
  nodes.get(1n).rn.campaign();
  pump(nodes);
  if (!nodes.get(1n).rn.isLeader()) throw new Error('node 1 did not become leader');
  return nodes.get(1n);
}

function run(batch, size, secs = seconds) {
  const nodes = newCluster();
  const leader = electLeader(nodes);
  const data = Buffer.alloc(size, 0x61);
  const start = Math.min(...[...nodes.values()].map((n) => Number(n.applied)));
  const t0 = performance.now();
  const end = t0 + secs * 1000;
  let rounds = 0;
  while (performance.now() < end) {
    for (let i = 0; i < batch; i++) leader.rn.propose(data);
    pump(nodes);
    // Time passes a little (heartbeats) now and then.
    if (++rounds % 64 === 0) {
      for (const n of nodes.values()) n.rn.tick();
      pump(nodes);
    }
  }
  const elapsed = (performance.now() - t0) / 1000;
  const applied = Math.min(...[...nodes.values()].map((n) => Number(n.applied))) - start;
  return applied / elapsed;
}

// Warm up the JIT so that the first case is not penalized.
for (const batch of BATCHES) run(batch, 64, 0.3);

const fmt = (x) => Math.round(x).toLocaleString('en-US').padStart(12);
console.log(`in-process 3-node cluster, MemoryStorage, no fsync; ${seconds}s per case; node ${process.version}`);
console.log(`${'batch'.padStart(6)} ${'entry bytes'.padStart(12)} ${'entries/s'.padStart(12)} ${'MB/s'.padStart(8)}`);
for (const batch of BATCHES) {
  for (const size of SIZES) {
    const rate = run(batch, size);
    console.log(`${String(batch).padStart(6)} ${String(size).padStart(12)} ${fmt(rate)} ${((rate * size) / 1e6).toFixed(1).padStart(8)}`);
  }
}

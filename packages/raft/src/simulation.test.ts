// Seeded whole-cluster simulation: five RawNodes driven only through Ready/advance over a hostile
// network (drops, reordering, duplication, changing partitions), with crashes/restarts, log
// compaction and snapshot transfer. After every step it checks the Raft safety properties (paper
// figure 3): Election Safety, Log Matching (via applied entries), Leader Completeness and State
// Machine Safety; at the end, after healing, it checks liveness (a new proposal commits everywhere).

import { afterAll, describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { ErrProposalDropped, ErrStepPeerNotFound } from './errors.js';
import { seededRandom, type RandomSource } from './rand.js';
import { RawNode, SnapshotStatus, type Ready } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import { RaftState } from './state.js';
import { emptyConfState } from './util.js';

const MT = raftpb.MessageType;

interface SimNode {
  id: bigint;
  storage: MemoryStorage;
  rn: RawNode;
  /** The state machine: data of every applied normal entry, by log index. */
  applied: Map<bigint, string>;
  appliedIndex: bigint;
  up: boolean;
}

class Simulation {
  readonly ids: bigint[];
  readonly nodes = new Map<bigint, SimNode>();
  inflight: raftpb.Message[] = [];
  /** Side of each node in the current partition (all 0: healed). */
  side = new Map<bigint, number>();
  /** Leader per term, for Election Safety. */
  readonly leaders = new Map<bigint, bigint>();
  /** Every applied entry (index → term:data), for State Machine Safety. */
  readonly committed = new Map<bigint, string>();
  proposals = 0;
  /** Fault counters, to make sure the faults actually happened. */
  readonly stats = { restarts: 0, compactions: 0, snapshots: 0, partitions: 0 };

  constructor(
    readonly rand: RandomSource,
    readonly seed: number,
    n = 5,
  ) {
    this.ids = Array.from({ length: n }, (_, i) => BigInt(i + 1));
    for (const id of this.ids) {
      const storage = new MemoryStorage();
      storage.applySnapshot({
        data: Buffer.from('[]'),
        metadata: { index: 1n, term: 1n, confState: { ...emptyConfState(), voters: this.ids } },
      });
      const node: SimNode = { id, storage, rn: this.newRawNode(id, storage, 1n), applied: new Map(), appliedIndex: 1n, up: true };
      this.nodes.set(id, node);
      this.side.set(id, 0);
    }
  }

  private newRawNode(id: bigint, storage: MemoryStorage, applied: bigint): RawNode {
    return new RawNode({
      id,
      electionTick: 10,
      heartbeatTick: 2,
      storage,
      applied,
      maxSizePerMsg: 256n,
      maxInflightMsgs: 4,
      preVote: true,
      checkQuorum: true,
      random: seededRandom(this.seed * 1000 + Number(id)),
    });
  }

  private connected(a: bigint, b: bigint): boolean {
    return this.side.get(a) === this.side.get(b);
  }

  /** Persists and applies a Ready like a real application, then advances. */
  private handleReady(n: SimNode, rd: Ready): void {
    if (rd.snapshot !== undefined) {
      this.stats.snapshots++;
      n.storage.applySnapshot(rd.snapshot);
      // Install the state machine image carried by the snapshot.
      const image = JSON.parse(rd.snapshot.data.toString()) as [string, string][];
      n.applied = new Map(image.map(([i, d]) => [BigInt(i), d]));
      n.appliedIndex = rd.snapshot.metadata!.index;
    }
    if (rd.hardState !== undefined) n.storage.setHardState(rd.hardState);
    n.storage.append(rd.entries);
    this.inflight.push(...rd.messages);
    for (const e of rd.committedEntries) {
      expect(e.Index).toBe(n.appliedIndex + 1n);
      n.appliedIndex = e.Index;
      if (e.Type === raftpb.EntryType.EntryNormal && e.Data.length > 0) {
        n.applied.set(e.Index, e.Data.toString());
      }
      // State Machine Safety: no two nodes apply different entries at one index.
      const key = `${e.Term}:${e.Data.toString('hex')}`;
      const prev = this.committed.get(e.Index);
      if (prev === undefined) this.committed.set(e.Index, key);
      else expect(key, `index ${e.Index} applied differently on node ${n.id}`).toBe(prev);
    }
    n.rn.advance(rd);
  }

  private checkLeader(n: SimNode): void {
    const r = n.rn.raft;
    if (r.state !== RaftState.Leader) return;
    const known = this.leaders.get(r.term);
    if (known === undefined) {
      this.leaders.set(r.term, n.id);
      // Leader Completeness: a new leader's log holds every entry applied anywhere so far.
      for (const [index, key] of this.committed) {
        if (index <= r.raftLog.applied || index < r.raftLog.firstIndex()) continue;
        const term = r.raftLog.term(index);
        expect(`${term}`, `leader ${n.id} of term ${r.term} lacks committed index ${index}`).toBe(key.split(':')[0]);
      }
    } else {
      // Election Safety: at most one leader per term.
      expect(known, `two leaders in term ${r.term}`).toBe(n.id);
    }
  }

  /** One step of the simulation. */
  step(chaos: boolean, proposals = true): void {
    const rand = this.rand;
    // Time passes on every live node.
    for (const n of this.nodes.values()) if (n.up) n.rn.tick();

    if (chaos) {
      // Change the partition now and then.
      if (rand(200) === 0) {
        for (const id of this.ids) this.side.set(id, rand(2));
        this.stats.partitions++;
      }
      if (rand(150) === 0) for (const id of this.ids) this.side.set(id, 0);
      // Crash or restart a node now and then (restarts rebuild from persisted storage).
      if (rand(300) === 0) {
        const n = this.nodes.get(this.ids[rand(this.ids.length)])!;
        if (n.up) n.up = false;
        else {
          n.rn = this.newRawNode(n.id, n.storage, n.appliedIndex);
          n.up = true;
          this.stats.restarts++;
        }
      }
      // Compact a node's log up to what it applied (keeping a snapshot of its state machine).
      if (rand(100) === 0) {
        const n = this.nodes.get(this.ids[rand(this.ids.length)])!;
        const at = n.appliedIndex - 1n;
        if (at > n.storage.firstIndex()) {
          const image = [...n.applied.entries()].filter(([i]) => i <= at).map(([i, d]) => [i.toString(), d]);
          n.storage.createSnapshot(at, { ...emptyConfState(), voters: this.ids }, Buffer.from(JSON.stringify(image)));
          n.storage.compact(at);
          this.stats.compactions++;
        }
      }
    } else {
      for (const id of this.ids) this.side.set(id, 0);
      for (const n of this.nodes.values()) {
        if (!n.up) {
          n.rn = this.newRawNode(n.id, n.storage, n.appliedIndex);
          n.up = true;
        }
      }
    }

    // Client proposals through random nodes.
    if (proposals && rand(4) === 0) {
      const n = this.nodes.get(this.ids[rand(this.ids.length)])!;
      if (n.up) {
        try {
          n.rn.propose(Buffer.from(`p${this.proposals}`));
          this.proposals++;
        } catch (err) {
          if (err !== ErrProposalDropped) throw err;
        }
      }
    }

    // The network: deliver a shuffled batch; drop, duplicate or delay some messages.
    const batch = this.inflight;
    this.inflight = [];
    for (let i = batch.length - 1; i > 0; i--) {
      const j = rand(i + 1);
      [batch[i], batch[j]] = [batch[j], batch[i]];
    }
    for (const m of batch) {
      const from = this.nodes.get(m.from)!;
      const to = this.nodes.get(m.to)!;
      const lost = !to.up || !this.connected(m.from, m.to) || (chaos && rand(20) === 0);
      if (!lost && chaos && rand(10) === 0) {
        this.inflight.push(m); // delayed to the next step
        continue;
      }
      if (lost) {
        if (from.up && m.type === MT.MsgSnap) from.rn.reportSnapshot(m.to, SnapshotStatus.Failure);
        else if (from.up && rand(2) === 0) from.rn.reportUnreachable(m.to);
        continue;
      }
      const deliver = () => {
        try {
          to.rn.step(m);
        } catch (err) {
          if (err !== ErrProposalDropped && err !== ErrStepPeerNotFound) throw err;
        }
      };
      deliver();
      if (chaos && rand(30) === 0) deliver(); // duplicated
      if (m.type === MT.MsgSnap && from.up) from.rn.reportSnapshot(m.to, SnapshotStatus.Finish);
    }

    for (const n of this.nodes.values()) {
      if (!n.up) continue;
      if (n.rn.hasReady()) this.handleReady(n, n.rn.ready());
      this.checkLeader(n);
    }
  }
}

describe('seeded cluster simulation (safety under faults, liveness after healing)', () => {
  let totalSnapshots = 0;
  afterAll(() => {
    // Across the seeds, lagging nodes were brought back through snapshots.
    expect(totalSnapshots).toBeGreaterThan(0);
  });
  for (const seed of [1, 2, 3, 4, 5, 6]) {
    it(`seed ${seed}`, () => {
      const sim = new Simulation(seededRandom(seed), seed);
      for (let i = 0; i < 3000; i++) sim.step(true);
      for (let i = 0; i < 400; i++) sim.step(false);

      // Liveness: one leader, and a final proposal reaches every state machine.
      const leaders = [...sim.nodes.values()].filter((n) => n.rn.isLeader());
      expect(leaders.length).toBe(1);
      leaders[0].rn.propose(Buffer.from('final'));
      for (let i = 0; i < 200; i++) sim.step(false, false);
      const states = [...sim.nodes.values()].map((n) => [...n.applied.entries()].sort((a, b) => (a[0] < b[0] ? -1 : 1)));
      for (const s of states) {
        expect(s).toEqual(states[0]);
        expect(s[s.length - 1][1]).toBe('final');
      }
      // Plenty happened: several terms and many applied proposals.
      expect(sim.leaders.size).toBeGreaterThan(1);
      expect(states[0].length).toBeGreaterThan(50);
      expect(sim.stats.restarts).toBeGreaterThan(0);
      expect(sim.stats.compactions).toBeGreaterThan(0);
      expect(sim.stats.partitions).toBeGreaterThan(0);
      totalSnapshots += sim.stats.snapshots;
    });
  }
});

// The whole-cluster simulation's own parts: the safety checker flags each kind of violation, the
// simulated disk has the promised crash semantics, runs are reproducible, and deliberately broken
// raft variants are caught within a few seeds (the checks have teeth).

import { describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { RaftLog } from '../log.js';
import { Raft } from '../raft.js';
import type { Ready } from '../rawnode.js';
import { MemoryStorage } from '../storage.js';
import { emptyConfState, newEntry } from '../util.js';
import { digestEntry, SafetyChecker, SafetyViolation } from './sim_checker.js';
import { SimDisk } from './sim_disk.js';
import { SimRng } from './sim_rng.js';
import { runSimulation, SimulationFailure, type SimulationOptions } from './simulation.js';

const ent = (index: number, term: number, data = '') => newEntry({ Index: BigInt(index), Term: BigInt(term), Data: Buffer.from(data) });

function ready(p: Partial<Ready>): Ready {
  return { readStates: [], entries: [], committedEntries: [], messages: [], mustSync: false, ...p };
}

describe('SafetyChecker', () => {
  it('election safety: a second leader in a term is flagged', () => {
    const c = new SafetyChecker();
    c.leader(1n, 2n);
    c.leader(1n, 2n);
    c.leader(2n, 3n);
    expect(() => c.leader(3n, 2n)).toThrow(/two leaders in term 2: 1 and 3/);
  });

  it('log matching: same index and term with other data, or another previous term, is flagged', () => {
    const c = new SafetyChecker();
    const a = new MemoryStorage();
    a.append([ent(1, 1, 'x'), ent(2, 2, 'y')]);
    c.durableEntries(1n, a, [ent(1, 1, 'x'), ent(2, 2, 'y')]);
    const b = new MemoryStorage();
    b.append([ent(1, 1, 'x'), ent(2, 2, 'y')]);
    c.durableEntries(2n, b, [ent(1, 1, 'x'), ent(2, 2, 'y')]);
    const d = new MemoryStorage();
    d.append([ent(1, 1, 'x'), ent(2, 2, 'z')]);
    expect(() => c.durableEntries(3n, d, [ent(2, 2, 'z')])).toThrow(/log matching: entry 2\/2/);
    const e = new MemoryStorage();
    e.append([ent(1, 2, 'w'), ent(2, 2, 'y')]);
    expect(() => c.durableEntries(4n, e, [ent(2, 2, 'y')])).toThrow(/prev term 2/);
  });

  it('commit agreement and leader completeness use durable (term, commit) observations', () => {
    const c = new SafetyChecker();
    const log = new MemoryStorage();
    log.append([ent(1, 1), ent(2, 1), ent(3, 2)]);
    expect(c.committed(1n, { term: 2n, vote: 0n, commit: 3n }, log, 0n)).toBe(3n);
    const other = new MemoryStorage();
    other.append([ent(1, 1), ent(2, 1), ent(3, 3)]);
    expect(() => c.committed(2n, { term: 3n, vote: 0n, commit: 3n }, other, 0n)).toThrow(
      /commit agreement: node 2 committed index 3 at term 3/,
    );

    // A leader of term 3 (> 2, the term index 3 was committed in at the latest) must hold it.
    const r = new Raft({ id: 2n, electionTick: 10, heartbeatTick: 1, storage: other, peers: [1n, 2n] });
    r.term = 3n;
    expect(() => c.leaderCompleteness(2n, r)).toThrow(/leader completeness: leader 2 of term 3 has term 3 at committed index 3/);
    // A leader of term 2 is not bound by it (the entry may have been committed in term 2).
    const c2 = new SafetyChecker();
    c2.committed(1n, { term: 2n, vote: 0n, commit: 3n }, log, 0n);
    r.term = 2n;
    expect(() => c2.leaderCompleteness(2n, r)).not.toThrow();
  });

  it('state machine safety: different entries or digests at an index are flagged', () => {
    const c = new SafetyChecker();
    const e1 = ent(1, 1, 'a');
    c.applied(1n, e1, digestEntry(0, e1));
    c.applied(2n, e1, digestEntry(0, e1));
    expect(() => c.applied(3n, ent(1, 1, 'b'), digestEntry(0, ent(1, 1, 'b')))).toThrow(/state machine safety/);
    expect(() => c.snapshotInstalled(4n, 1n, 1n, 12345)).toThrow(/state machine at index 1 differs/);
    expect(() => c.snapshotInstalled(4n, 1n, 2n, digestEntry(0, e1))).toThrow(/committed at term 1/);
  });
});

describe('SimDisk', () => {
  const hs = (term: number, commit: number) => ({ term: BigInt(term), vote: 0n, commit: BigInt(commit) });

  it('a synced write is durable; a commit-only (lazy) hard state may be lost by a crash', () => {
    const rng = new SimRng(7);
    let lost = 0;
    let kept = 0;
    for (let i = 0; i < 50; i++) {
      const d = new SimDisk();
      d.write(ready({ entries: [ent(1, 1), ent(2, 1)], hardState: hs(1, 0), mustSync: true }));
      d.write(ready({ hardState: hs(1, 2), mustSync: false }));
      if (d.crash(rng)) lost++;
      else kept++;
      const st = d.recover();
      expect(st.lastIndex()).toBe(2n);
      expect([0n, 2n]).toContain(st.initialState().hardState.commit);
    }
    expect(lost).toBeGreaterThan(0);
    expect(kept).toBeGreaterThan(0);
  });

  it('a later sync (or a compaction snapshot) flushes an earlier lazy write', () => {
    const rng = new SimRng(1);
    const d = new SimDisk();
    d.write(ready({ entries: [ent(1, 1), ent(2, 1), ent(3, 1)], hardState: hs(1, 1), mustSync: true }));
    d.write(ready({ hardState: hs(1, 3) }));
    d.compact(3n, { ...emptyConfState(), voters: [1n] }, Buffer.from('0'), 2n);
    expect(d.crash(rng)).toBe(false);
    expect(d.durableHardState().commit).toBe(3n);
    expect(d.log.firstIndex()).toBe(3n);
    expect(d.log.snapshot().metadata!.index).toBe(3n);
  });

  it('a torn write keeps a prefix: snapshot, entries, then the hard state', () => {
    const rng = new SimRng(3);
    const seen = new Set<string>();
    for (let i = 0; i < 200; i++) {
      const d = new SimDisk();
      d.write(ready({ entries: [ent(1, 1)], hardState: hs(1, 1), mustSync: true }));
      d.writeTorn(ready({ entries: [ent(2, 2), ent(3, 2)], hardState: hs(2, 3), mustSync: true }), rng);
      d.crash(rng);
      const st = d.recover();
      const { commit } = st.initialState().hardState;
      // The hard state only survives with every entry before it.
      if (commit === 3n) expect(st.lastIndex()).toBe(3n);
      seen.add(`${st.lastIndex()}/${commit}`);
    }
    expect([...seen].sort()).toEqual(['1/1', '2/1', '3/1', '3/3']);
  });

  it('a torn write of a Ready with a snapshot keeps all of it or nothing', () => {
    const rng = new SimRng(5);
    const outcomes = new Set<string>();
    for (let i = 0; i < 50; i++) {
      const d = new SimDisk();
      const snap: raftpb.Snapshot = {
        data: Buffer.from('1'),
        metadata: { index: 5n, term: 2n, confState: { ...emptyConfState(), voters: [1n] } },
      };
      d.writeTorn(ready({ snapshot: snap, entries: [ent(6, 2)], hardState: hs(2, 5) }), rng);
      const st = d.recover();
      outcomes.add(`${st.snapshot().metadata!.index}/${st.lastIndex()}/${st.initialState().hardState.commit}`);
    }
    expect([...outcomes].sort()).toEqual(['0/0/0', '5/6/5']);
  });
});

describe('simulation runs', () => {
  it('are reproducible: the same seed gives the same trace', () => {
    const run = (seed: number) => {
      const lines: string[] = [];
      const r = runSimulation({ seed, nodes: 5, trace: (l) => lines.push(l), traceMessages: true });
      return { r, lines };
    };
    const a = run(42);
    const b = run(42);
    expect(b.lines).toEqual(a.lines);
    expect(b.r).toEqual(a.r);
    expect(a.lines.length).toBeGreaterThan(300);
    expect(run(43).lines).not.toEqual(a.lines);
  });

  it('a failure names the seed and how to rerun it', () => {
    const f = new SimulationFailure(123, 5, 77, new SafetyViolation('election safety: two leaders in term 2: 1 and 3'));
    expect(f.message).toContain('seed=123');
    expect(f.message).toContain('RAFT_SIM_SEED=123 pnpm --filter @kv/raft exec vitest run src/rafttest/simulation_5');
  });
});

/** Replaces a prototype method while fn runs. */
function withMutation<T extends object, K extends keyof T>(proto: T, key: K, impl: (orig: T[K]) => T[K], fn: () => void): void {
  const orig = proto[key];
  proto[key] = impl(orig);
  try {
    fn();
  } finally {
    proto[key] = orig;
  }
}

/** The failure message of the first failing seed in 1..maxSeeds ('' if none fails). */
function firstFailure(nodes: number, maxSeeds: number, opts: Partial<SimulationOptions> = {}): string {
  for (let seed = 1; seed <= maxSeeds; seed++) {
    try {
      runSimulation({ ...opts, seed, nodes });
    } catch (err) {
      if (!(err instanceof SimulationFailure)) throw err;
      return err.message;
    }
  }
  return '';
}

describe('deliberately broken raft variants are caught', () => {
  it('granting a second vote in a term breaks Election Safety', () => {
    type P = { handleVoteRequest(this: Raft, m: raftpb.Message): void };
    const proto = Raft.prototype as unknown as P;
    withMutation(
      proto,
      'handleVoteRequest',
      (orig) =>
        function (this: Raft, m: raftpb.Message) {
          if (this.lead === 0n) this.vote = 0n; // forget whom we voted for
          orig.call(this, m);
        },
      () => {
        expect(firstFailure(3, 40)).toMatch(/election safety: two leaders in term/);
      },
    );
  });

  it('dropping the election restriction (§5.4.1) breaks Leader Completeness', () => {
    withMutation(
      RaftLog.prototype,
      'isUpToDate',
      () => () => true,
      () => {
        expect(firstFailure(5, 40)).toMatch(/leader completeness/);
      },
    );
  });

  it('not replacing conflicting entries breaks Log Matching / State Machine Safety', () => {
    withMutation(
      RaftLog.prototype,
      'findConflict',
      () =>
        function (this: RaftLog, ents: raftpb.Entry[]) {
          for (const e of ents) if (e.Index > this.lastIndex()) return e.Index;
          return 0n;
        },
      () => {
        expect(firstFailure(5, 40)).toMatch(/log matching|state machine safety/);
      },
    );
  });
});

describe('read contexts that are not unique are caught', () => {
  // kv's server used to number its ReadIndex contexts 1, 2, 3... from every start. The leader's
  // read-only queue keys requests by context, so a context another node (or an earlier start)
  // has pending is not queued again.
  it('counted from 1 at every start, without retries, reads of leader and followers stall', () => {
    expect(firstFailure(3, 10, { readContexts: 'perStartCounter', readRetry: false })).toMatch(/liveness: reads not answered/);
  });

  it('counted from 1 at every start, a restarted node gets the answer of its earlier start (stale read)', () => {
    expect(firstFailure(3, 30, { readContexts: 'perStartCounter' })).toMatch(
      /linearizable read: node \d+'s read .* answered .* with read index/,
    );
  });

  it('unique contexts with retries: the same seeds pass', () => {
    expect(firstFailure(3, 30)).toBe('');
  });
});

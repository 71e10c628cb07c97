// Unit and seeded property tests for the Changer, restore and the textual change format.

import { raftpb } from '@kv/api';
import { describe, expect, it } from 'vitest';
import { Rand } from '../testing/rand.js';
import { progressMapString } from '../tracker/progress.js';
import { ProgressTracker } from '../tracker/tracker.js';
import { Changer, ConfChangeError, type ConfigAndProgress, describeConfChanges } from './confchange.js';
import { restore, toConfChangeSingle } from './restore.js';
import { confChangesFromString, confChangesToString } from './strings.js';

const T = raftpb.ConfChangeType;
const ids = (...xs: number[]): bigint[] => xs.map(BigInt);
const cs = (p: Partial<raftpb.ConfState>): raftpb.ConfState => ({
  voters: [],
  learners: [],
  votersOutgoing: [],
  learnersNext: [],
  autoLeave: false,
  ...p,
});

function install(t: ProgressTracker, r: ConfigAndProgress): void {
  t.config = r.config;
  t.progress = r.progress;
}

/** A canonical picture of a tracker: config, progress and the invariants that tie them. */
function snapshot(t: { config: ConfigAndProgress['config']; progress: ConfigAndProgress['progress'] }): string {
  return `${t.config.toString()}\n${progressMapString(t.progress)}`;
}

function sorted(c: raftpb.ConfState): raftpb.ConfState {
  const s = (xs: bigint[]): bigint[] => [...xs].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return {
    voters: s(c.voters),
    learners: s(c.learners),
    votersOutgoing: s(c.votersOutgoing),
    learnersNext: s(c.learnersNext),
    autoLeave: c.autoLeave,
  };
}

/** A random consistent ConfState (never the empty one), as etcd's restore quick test makes. */
function randConfState(r: Rand): raftpb.ConfState {
  const nVoters = 1 + r.intn(5);
  const nLearners = r.intn(5);
  const nRemoved = r.intn(3); // outgoing voters that are not incoming voters
  let pool = r.perm(2 * (nVoters + nLearners + nRemoved)).map((i) => BigInt(i + 1));
  const voters = pool.slice(0, nVoters);
  pool = pool.slice(nVoters);
  const learners = pool.slice(0, nLearners);
  pool = pool.slice(nLearners);
  const retained = r.intn(nVoters + 1);
  const votersOutgoing = retained > 0 || nRemoved > 0 ? [...voters.slice(0, retained), ...pool.slice(0, nRemoved)] : [];
  const learnersNext = nRemoved > 0 ? pool.slice(0, r.intn(nRemoved + 1)) : [];
  return cs({
    voters,
    learners,
    votersOutgoing,
    learnersNext,
    autoLeave: votersOutgoing.length > 0 && r.bool(),
  });
}

describe('restore', () => {
  const roundTrip = (c: raftpb.ConfState): void => {
    const chg = new Changer(new ProgressTracker(20), 10n);
    const res = restore(chg, c);
    const t = new ProgressTracker(20);
    install(t, res);
    expect(t.confState()).toEqual(sorted(c));
    // The changer's own tracker was not touched.
    expect(chg.tracker.config.toString()).toBe('voters=()');
    expect(chg.tracker.progress.size).toBe(0);
    // Every member has a fresh progress at lastIndex.
    for (const pr of t.progress.values()) expect([pr.match, pr.next, pr.recentActive]).toEqual([0n, 10n, true]);
  };

  it('restores hand-picked ConfStates', () => {
    roundTrip(cs({}));
    roundTrip(cs({ voters: ids(1, 2, 3) }));
    roundTrip(cs({ voters: ids(1, 2, 3), learners: ids(4, 5, 6) }));
    roundTrip(cs({ voters: ids(1, 2, 3), learners: ids(5), votersOutgoing: ids(1, 2, 4, 6), learnersNext: ids(4) }));
  });

  it('builds the documented change sequence', () => {
    const { outgoing, incoming } = toConfChangeSingle(
      cs({ voters: ids(1, 2, 3), learners: ids(5), votersOutgoing: ids(1, 2, 4, 6), learnersNext: ids(4) }),
    );
    expect(confChangesToString(outgoing)).toBe('v1 v2 v4 v6');
    expect(confChangesToString(incoming)).toBe('r1 r2 r4 r6 v1 v2 v3 l5 l4');
  });

  it('restore(confState) reproduces random ConfStates (seeded)', () => {
    const r = new Rand(7);
    for (let i = 0; i < 1000; i++) roundTrip(randConfState(r));
  });

  it('restore(x.confState()) reproduces trackers built by random changes (seeded)', () => {
    const r = new Rand(8);
    for (let i = 0; i < 500; i++) {
      const t = new ProgressTracker(20);
      const chg = new Changer(t, 10n);
      install(t, chg.simple({ type: T.ConfChangeAddNode, nodeId: 1n }));
      for (let k = 0; k < 1 + r.intn(4); k++) {
        const ccs = randChanges(r);
        try {
          install(t, r.bool() && !t.config.voters.isJoint() ? chg.enterJoint(r.bool(), ...ccs) : chg.simple(...ccs));
        } catch (e) {
          expect(e).toBeInstanceOf(ConfChangeError);
        }
      }
      const back = new ProgressTracker(20);
      install(back, restore(new Changer(new ProgressTracker(20), 10n), t.confState()));
      expect(back.config.toString()).toBe(t.config.toString());
      expect([...back.progress.keys()].sort()).toEqual([...t.progress.keys()].sort());
      for (const [id, pr] of t.progress) expect(back.progress.get(id)!.isLearner).toBe(pr.isLearner);
    }
  });

  it('rejects inconsistent ConfStates', () => {
    // 1 as voter and learner: the learner change demotes the only voter.
    expect(() => restore(new Changer(new ProgressTracker(1), 0n), cs({ voters: ids(1), learners: ids(1) }))).toThrow('removed all voters');
  });
});

/** 1..9 random changes to ids 2..10 (id 1 stays a voter), of random type. */
function randChanges(r: Rand): raftpb.ConfChangeSingle[] {
  const n = 1 + r.intn(9);
  return Array.from({ length: n }, () => ({ type: r.intn(4) as raftpb.ConfChangeType, nodeId: BigInt(2 + r.intn(9)) }));
}

describe('Changer', () => {
  it('applying changes one by one equals applying them through a joint config (seeded)', () => {
    const r = new Rand(9);
    for (let i = 0; i < 1000; i++) {
      // Setup: voter 1 plus some more voters, one at a time.
      const setup = [
        { type: T.ConfChangeAddNode, nodeId: 1n },
        ...Array.from({ length: 1 + r.intn(5) }, () => ({ type: T.ConfChangeAddNode, nodeId: BigInt(1 + r.intn(5)) })),
      ];
      const ccs = randChanges(r);
      const mk = (): [ProgressTracker, Changer] => {
        const t = new ProgressTracker(10);
        const c = new Changer(t, 10n);
        for (const cc of setup) install(t, c.simple(cc));
        return [t, c];
      };

      const [t1, c1] = mk();
      for (const cc of ccs) install(t1, c1.simple(cc));

      const [t2, c2] = mk();
      const before = snapshot(t2);
      const a = c2.enterJoint(false, ...ccs);
      const b = c2.enterJoint(true, ...ccs);
      expect(snapshot(t2)).toBe(before); // the changer never mutates its tracker
      b.config.autoLeave = false;
      expect(snapshot(b)).toBe(snapshot(a));
      install(t2, a);
      install(t2, c2.leaveJoint());

      expect(snapshot(t2)).toBe(snapshot(t1));
    }
  });

  it('ignores node id 0 and update changes; rejects unknown types', () => {
    const t = new ProgressTracker(10);
    const c = new Changer(t, 5n);
    install(t, c.simple({ type: T.ConfChangeAddNode, nodeId: 1n }));
    const r = c.simple({ type: T.ConfChangeRemoveNode, nodeId: 0n }, { type: T.ConfChangeUpdateNode, nodeId: 1n });
    expect(snapshot(r)).toBe(snapshot(t));
    expect(() => c.simple({ type: 7 as raftpb.ConfChangeType, nodeId: 2n })).toThrow('unexpected conf type 7');
  });

  it('demoting an outgoing voter stages it in learnersNext until leaveJoint', () => {
    const t = new ProgressTracker(10);
    const c = new Changer(t, 0n);
    for (const id of [1n, 2n, 3n]) install(t, c.simple({ type: T.ConfChangeAddNode, nodeId: id }));
    install(t, c.enterJoint(true, ...confChangesFromString('l3')));
    expect(t.config.toString()).toBe('voters=(1 2)&&(1 2 3) learners_next=(3) autoleave');
    expect(t.progress.get(3n)!.isLearner).toBe(false);
    install(t, c.leaveJoint());
    expect(t.config.toString()).toBe('voters=(1 2) learners=(3)');
    expect(t.progress.get(3n)!.isLearner).toBe(true);
  });

  it('errors are ConfChangeErrors', () => {
    const c = new Changer(new ProgressTracker(10), 0n);
    expect(() => c.leaveJoint()).toThrow(ConfChangeError);
    expect(() => c.enterJoint(false)).toThrow("can't make a zero-voter config joint");
  });
});

describe('confChangesFromString / confChangesToString', () => {
  it('round-trips', () => {
    const ccs = confChangesFromString(' v1 l2 r3 u4 v18446744073709551615 ');
    expect(ccs).toEqual([
      { type: T.ConfChangeAddNode, nodeId: 1n },
      { type: T.ConfChangeAddLearnerNode, nodeId: 2n },
      { type: T.ConfChangeRemoveNode, nodeId: 3n },
      { type: T.ConfChangeUpdateNode, nodeId: 4n },
      { type: T.ConfChangeAddNode, nodeId: 18446744073709551615n },
    ]);
    expect(confChangesToString(ccs)).toBe('v1 l2 r3 u4 v18446744073709551615');
    expect(confChangesFromString('')).toEqual([]);
    expect(describeConfChanges(ccs.slice(0, 2))).toBe('ConfChangeAddNode(1) ConfChangeAddLearnerNode(2)');
  });

  it('rejects malformed tokens', () => {
    expect(() => confChangesFromString('v')).toThrow('unknown token v');
    expect(() => confChangesFromString('x1')).toThrow('unknown input: x1');
    expect(() => confChangesFromString('v1x')).toThrow('invalid syntax');
    expect(() => confChangesFromString('v18446744073709551616')).toThrow();
  });
});

// Unit and seeded property tests for majority and joint quorums.

import { describe, expect, it } from 'vitest';
import { alternativeMajorityCommittedIndex } from '../testing/quorum.js';
import { Rand } from '../testing/rand.js';
import { JointConfig } from './joint.js';
import { MajorityConfig } from './majority.js';
import { indexString, mapAckIndexer, MaxIndex, VoteResult, voteResultString } from './quorum.js';

/** Random ids (subset of 1..2n) with random acked indexes in [0, n), like etcd's quick test. */
function randIdxMap(r: Rand): Map<bigint, bigint> {
  const n = r.intn(10);
  const ids = r.perm(2 * n).slice(0, n);
  return new Map(ids.map((id) => [BigInt(id + 1), BigInt(r.intn(Math.max(n, 1)))]));
}

function randVotes(r: Rand, ids: Iterable<bigint>): Map<bigint, boolean> {
  const votes = new Map<bigint, boolean>();
  for (const id of ids) {
    const k = r.intn(3);
    if (k > 0) votes.set(id, k === 2);
  }
  return votes;
}

/**
 * Brute-force vote outcome: enumerate every way the missing voters could still vote. Won iff
 * every completion wins, lost iff none does, pending otherwise. A config "wins" a complete vote if
 * both halves have a strict majority of yes (an empty half always agrees).
 */
function bruteVote(c: JointConfig, votes: Map<bigint, boolean>): VoteResult {
  const halves = [c.incoming, c.outgoing];
  const all = [...c.ids()];
  const missing = all.filter((id) => !votes.has(id));
  let wins = 0;
  for (let mask = 0; mask < 1 << missing.length; mask++) {
    const full = new Map(votes);
    missing.forEach((id, i) => {
      full.set(id, ((mask >> i) & 1) === 1);
    });
    const won = halves.every((h) => h.size === 0 || [...h].filter((id) => full.get(id)).length * 2 > h.size);
    if (won) wins++;
  }
  if (wins === 1 << missing.length) return VoteResult.VoteWon;
  if (wins === 0) return VoteResult.VoteLost;
  return VoteResult.VotePending;
}

describe('MajorityConfig', () => {
  it('formats and sorts numerically', () => {
    const c = new MajorityConfig([10n, 9n, 100n]);
    expect(c.toString()).toBe('(9 10 100)');
    expect(c.slice()).toEqual([9n, 10n, 100n]);
    expect(new MajorityConfig().toString()).toBe('()');
    expect(new MajorityConfig().describe(mapAckIndexer(new Map()))).toBe('<empty majority quorum>');
  });

  it('empty config commits everything and wins every vote', () => {
    const c = new MajorityConfig();
    expect(c.committedIndex(mapAckIndexer(new Map()))).toBe(MaxIndex);
    expect(indexString(MaxIndex)).toBe('∞');
    expect(c.voteResult(new Map())).toBe(VoteResult.VoteWon);
  });

  it('committedIndex equals the brute-force definition (seeded)', () => {
    const r = new Rand(1);
    for (let i = 0; i < 20000; i++) {
      const c = new MajorityConfig(randIdxMap(r).keys());
      const l = mapAckIndexer(randIdxMap(r));
      expect(c.committedIndex(l)).toBe(alternativeMajorityCommittedIndex(c, l));
    }
  });

  it('voteResult equals the brute-force definition (seeded)', () => {
    const r = new Rand(2);
    for (let i = 0; i < 5000; i++) {
      const c = new MajorityConfig(randIdxMap(r).keys());
      const votes = randVotes(r, [...c, 99n]);
      expect(voteResultString(c.voteResult(votes))).toBe(voteResultString(bruteVote(new JointConfig(c), votes)));
    }
  });
});

describe('JointConfig', () => {
  it('formats', () => {
    const j = new JointConfig(new MajorityConfig([1n, 2n]), new MajorityConfig([2n, 3n]));
    expect(j.toString()).toBe('(1 2)&&(2 3)');
    expect(j.isJoint()).toBe(true);
    expect(new JointConfig(new MajorityConfig([1n])).toString()).toBe('(1)');
    expect([...j.ids()].sort()).toEqual([1n, 2n, 3n]);
  });

  it('committedIndex is the min of the halves, symmetric, and a self-join is a no-op (seeded)', () => {
    const r = new Rand(3);
    for (let i = 0; i < 10000; i++) {
      const a = new MajorityConfig(randIdxMap(r).keys());
      const b = new MajorityConfig(randIdxMap(r).keys());
      const m = randIdxMap(r);
      // Make sure most voters have an index.
      for (const id of [...a, ...b]) if (r.intn(4) > 0 && !m.has(id)) m.set(id, BigInt(r.intn(20)));
      const l = mapAckIndexer(m);
      const ia = alternativeMajorityCommittedIndex(a, l);
      const ib = alternativeMajorityCommittedIndex(b, l);
      // biome-ignore lint/complexity/useMathMinMax: indexes are bigints, which Math.min does not take
      const want = ia < ib ? ia : ib;
      expect(new JointConfig(a, b).committedIndex(l)).toBe(want);
      expect(new JointConfig(b, a).committedIndex(l)).toBe(want);
      expect(new JointConfig(a, a).committedIndex(l)).toBe(ia);
      expect(new JointConfig(a).committedIndex(l)).toBe(ia);
    }
  });

  it('voteResult equals the brute-force definition and is symmetric (seeded)', () => {
    const r = new Rand(4);
    for (let i = 0; i < 5000; i++) {
      const a = new MajorityConfig(randIdxMap(r).keys());
      const b = new MajorityConfig(randIdxMap(r).keys());
      const j = new JointConfig(a, b);
      const votes = randVotes(r, j.ids());
      const want = bruteVote(j, votes);
      expect(voteResultString(j.voteResult(votes))).toBe(voteResultString(want));
      expect(new JointConfig(b, a).voteResult(votes)).toBe(want);
    }
  });
});

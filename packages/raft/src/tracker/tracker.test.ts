import { describe, expect, it } from 'vitest';
import { JointConfig } from '../quorum/joint.js';
import { MajorityConfig } from '../quorum/majority.js';
import { VoteResult } from '../quorum/quorum.js';
import { Inflights } from './inflights.js';
import { Progress } from './progress.js';
import { ProgressTracker, TrackerConfig } from './tracker.js';

function tracker(incoming: number[], outgoing: number[] = [], learners: number[] = []): ProgressTracker {
  const t = new ProgressTracker(8);
  t.config = new TrackerConfig(
    new JointConfig(new MajorityConfig(incoming.map(BigInt)), new MajorityConfig(outgoing.map(BigInt))),
    new Set(learners.map(BigInt)),
  );
  for (const id of [...incoming, ...outgoing, ...learners]) {
    t.progress.set(BigInt(id), new Progress({ next: 1n, inflights: new Inflights(8), isLearner: learners.includes(id) }));
  }
  return t;
}

describe('ProgressTracker', () => {
  it('committed() is the joint quorum over match indexes; learners do not count', () => {
    const t = tracker([1, 2, 3], [], [4]);
    const set = (id: number, m: bigint): void => void (t.progress.get(BigInt(id))!.match = m);
    set(1, 5n);
    set(2, 3n);
    set(3, 1n);
    set(4, 100n);
    expect(t.committed()).toBe(3n);
    const j = tracker([1, 2, 3], [3, 4, 5]);
    [1, 2, 3, 4, 5].forEach((id, i) => {
      j.progress.get(BigInt(id))!.match = BigInt([10, 9, 8, 2, 1][i]);
    });
    expect(j.committed()).toBe(2n); // incoming says 9, outgoing says 2
  });

  it('visit goes in ascending id order', () => {
    const t = tracker([30, 4, 200], [], [7, 11]);
    const seen: bigint[] = [];
    t.visit((id) => seen.push(id));
    expect(seen).toEqual([4n, 7n, 11n, 30n, 200n]);
  });

  it('quorumActive counts recentActive voters only', () => {
    const t = tracker([1, 2, 3], [], [4]);
    const act = (ids: number[]): void => {
      for (const [id, pr] of t.progress) pr.recentActive = ids.includes(Number(id));
    };
    act([1, 4]);
    expect(t.quorumActive()).toBe(false);
    act([1, 2]);
    expect(t.quorumActive()).toBe(true);
  });

  it('recordVote keeps the first vote; tallyVotes ignores learners and strangers', () => {
    const t = tracker([1, 2, 3], [], [4]);
    t.recordVote(1n, true);
    t.recordVote(1n, false);
    t.recordVote(4n, false);
    t.recordVote(9n, false);
    expect(t.tallyVotes()).toEqual({ granted: 1, rejected: 0, result: VoteResult.VotePending });
    t.recordVote(2n, false);
    t.recordVote(3n, false);
    expect(t.tallyVotes()).toEqual({ granted: 1, rejected: 2, result: VoteResult.VoteLost });
    t.resetVotes();
    t.recordVote(2n, true);
    t.recordVote(3n, true);
    expect(t.tallyVotes()).toEqual({ granted: 2, rejected: 0, result: VoteResult.VoteWon });
  });

  it('confState, voterNodes, learnerNodes, isSingleton, toString', () => {
    const t = tracker([3, 1, 2], [4, 1], [9, 6]);
    t.config.learnersNext.add(4n);
    t.config.autoLeave = true;
    expect(t.confState()).toEqual({
      voters: [1n, 2n, 3n],
      votersOutgoing: [1n, 4n],
      learners: [6n, 9n],
      learnersNext: [4n],
      autoLeave: true,
    });
    expect(t.voterNodes()).toEqual([1n, 2n, 3n, 4n]);
    expect(t.learnerNodes()).toEqual([6n, 9n]);
    expect(t.isSingleton()).toBe(false);
    expect(t.config.toString()).toBe('voters=(1 2 3)&&(1 4) learners=(6 9) learners_next=(4) autoleave');
    expect(tracker([5]).isSingleton()).toBe(true);
    expect(new ProgressTracker(1).confState()).toEqual({
      voters: [],
      votersOutgoing: [],
      learners: [],
      learnersNext: [],
      autoLeave: false,
    });
  });

  it('TrackerConfig.clone is deep', () => {
    const c = tracker([1, 2], [1], [3]).config;
    const d = c.clone();
    d.voters.incoming.add(7n);
    d.voters.outgoing.add(7n);
    d.learners.add(8n);
    expect(c.toString()).toBe('voters=(1 2)&&(1) learners=(3)');
  });
});

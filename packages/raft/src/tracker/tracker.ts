// ProgressTracker: the active configuration plus the leader's progress for every peer, and the
// votes of the current election.

import { raftpb } from '@kv/api';
import { JointConfig } from '../quorum/joint.js';
import { MajorityConfig } from '../quorum/majority.js';
import { type AckedIndexer, sortedIds, VoteResult } from '../quorum/quorum.js';
import { type Progress, type ProgressMap } from './progress.js';

/**
 * A membership configuration.
 *
 * Invariants (checked by the config changer):
 * - learners and voters (either half) are disjoint, so a peer's role never depends on which half
 *   of a joint config one looks at;
 * - learnersNext ⊆ voters.outgoing \ voters.incoming: it holds voters being demoted to learners,
 *   which can only become learners once the joint config is left (they are still voters in the
 *   outgoing half until then); it is empty when not joint;
 * - autoLeave is false when not joint.
 */
export class TrackerConfig {
  constructor(
    public voters: JointConfig = new JointConfig(),
    public learners: Set<bigint> = new Set(),
    public learnersNext: Set<bigint> = new Set(),
    /** Joint config only: raft should leave it automatically once that is possible. */
    public autoLeave = false,
  ) {}

  clone(): TrackerConfig {
    return new TrackerConfig(this.voters.clone(), new Set(this.learners), new Set(this.learnersNext), this.autoLeave);
  }

  /** E.g. "voters=(1 2 3)&&(1 2) learners=(4) learners_next=(3) autoleave" (empty sets omitted). */
  toString(): string {
    let s = `voters=${this.voters.toString()}`;
    if (this.learners.size > 0) s += ` learners=${new MajorityConfig(this.learners).toString()}`;
    if (this.learnersNext.size > 0) {
      s += ` learners_next=${new MajorityConfig(this.learnersNext).toString()}`;
    }
    if (this.autoLeave) s += ' autoleave';
    return s;
  }
}

/** The tally of an election: votes granted/rejected by current voters and the outcome. */
export interface VoteTally {
  granted: number;
  rejected: number;
  result: VoteResult;
}

/** AckedIndexer reading each voter's match index from a progress map. */
function matchAckIndexer(prs: ProgressMap): AckedIndexer {
  return { ackedIndex: (id) => prs.get(id)?.match };
}

/** Tracks the active configuration and the known progress and votes of its members. */
export class ProgressTracker {
  config = new TrackerConfig();
  progress: ProgressMap = new Map();
  votes = new Map<bigint, boolean>();

  /** @param maxInflight window size for new peers' Inflights */
  constructor(readonly maxInflight: number) {}

  /** The configuration as a ConfState (every id list sorted ascending). */
  confState(): raftpb.ConfState {
    return {
      voters: this.config.voters.incoming.slice(),
      votersOutgoing: this.config.voters.outgoing.slice(),
      learners: sortedIds(this.config.learners),
      learnersNext: sortedIds(this.config.learnersNext),
      autoLeave: this.config.autoLeave,
    };
  }

  /** True iff there is exactly one voter and the config is not joint. */
  isSingleton(): boolean {
    return this.config.voters.incoming.size === 1 && this.config.voters.outgoing.size === 0;
  }

  /** The largest log index known to be replicated on a quorum of the (joint) voters. */
  committed(): bigint {
    return this.config.voters.committedIndex(matchAckIndexer(this.progress));
  }

  /** Calls f for every tracked peer (voters and learners) in ascending id order. */
  visit(f: (id: bigint, pr: Progress) => void): void {
    for (const id of sortedIds(this.progress.keys())) f(id, this.progress.get(id)!);
  }

  /** Whether the peers marked recentActive form a quorum (CheckQuorum). */
  quorumActive(): boolean {
    const votes = new Map<bigint, boolean>();
    this.visit((id, pr) => {
      if (!pr.isLearner) votes.set(id, pr.recentActive);
    });
    return this.config.voters.voteResult(votes) === VoteResult.VoteWon;
  }

  /** The voters of both halves, sorted. */
  voterNodes(): bigint[] {
    return sortedIds(this.config.voters.ids());
  }

  /** The learners, sorted (learnersNext are still voters and not included). */
  learnerNodes(): bigint[] {
    return sortedIds(this.config.learners);
  }

  /** Starts a new election: forgets all recorded votes. */
  resetVotes(): void {
    this.votes = new Map();
  }

  /** Records id's vote; only the first vote of a peer in an election counts. */
  recordVote(id: bigint, granted: boolean): void {
    if (!this.votes.has(id)) this.votes.set(id, granted);
  }

  /**
   * Counts the votes of tracked non-learner peers (votes from peers no longer in the config are
   * ignored in the counts) and decides the election against the (joint) voters.
   */
  tallyVotes(): VoteTally {
    let granted = 0;
    let rejected = 0;
    for (const [id, pr] of this.progress) {
      if (pr.isLearner) continue;
      const v = this.votes.get(id);
      if (v === undefined) continue;
      if (v) granted++;
      else rejected++;
    }
    return { granted, rejected, result: this.config.voters.voteResult(this.votes) };
  }
}

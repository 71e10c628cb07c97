// Changer: validated membership changes, either one voter at a time ("simple") or via joint
// consensus (enter a joint config, later leave it). See the Raft thesis §4.1 and §4.3.

import { raftpb } from '@kv/api';
import { MajorityConfig } from '../quorum/majority.js';
import { Inflights } from '../tracker/inflights.js';
import { Progress, type ProgressMap } from '../tracker/progress.js';
import { TrackerConfig } from '../tracker/tracker.js';

/** A configuration change that was refused; the tracker state it was computed from is unchanged. */
export class ConfChangeError extends Error {
  override readonly name = 'ConfChangeError';
}

/** A new configuration together with the progress map that goes with it. */
export interface ConfigAndProgress {
  config: TrackerConfig;
  progress: ProgressMap;
}

/** What the Changer needs of a ProgressTracker (a ProgressTracker satisfies it). */
export interface ChangerTracker {
  config: TrackerConfig;
  progress: ProgressMap;
  readonly maxInflight: number;
}

/**
 * Computes configuration changes against a tracker's current config and progress. Every method
 * works on copies and returns the new config and progress map without touching the tracker; the
 * caller installs them (raft does so when the change is applied). Invalid changes throw a
 * ConfChangeError.
 *
 * By convention voter changes are made to the incoming half (voters.incoming); the outgoing half
 * is either empty or, while joint, keeps the previous voters.
 */
export class Changer {
  constructor(
    public tracker: ChangerTracker,
    /** The last log index; new peers start probing from here. */
    public lastIndex: bigint,
  ) {}

  /**
   * Enters a joint configuration: copies the incoming voters into the (empty) outgoing half, i.e.
   * (1 2 3)&&() becomes (1 2 3)&&(1 2 3), then applies `ccs` to the incoming half, giving
   * C_{new,old} in the thesis's terms. With autoLeave, raft leaves the joint config by itself once
   * it is committed.
   */
  enterJoint(autoLeave: boolean, ...ccs: raftpb.ConfChangeSingle[]): ConfigAndProgress {
    const { config, progress } = this.checkAndCopy();
    if (config.voters.isJoint()) throw new ConfChangeError('config is already joint');
    if (config.voters.incoming.size === 0) {
      // An empty config may grow by simple changes (bootstrap, tests) but can't become joint.
      throw new ConfChangeError("can't make a zero-voter config joint");
    }
    config.voters.outgoing = config.voters.incoming.clone();
    this.apply(config, progress, ccs);
    config.autoLeave = autoLeave;
    return checkAndReturn(config, progress);
  }

  /**
   * Leaves a joint configuration: drops the outgoing half (C_{new,old} → C_new), turns the staged
   * learnersNext into learners, and forgets peers that are now in neither the voters nor the
   * learners.
   */
  leaveJoint(): ConfigAndProgress {
    const { config, progress } = this.checkAndCopy();
    if (!config.voters.isJoint()) throw new ConfChangeError("can't leave a non-joint config");
    for (const id of config.learnersNext) {
      config.learners.add(id);
      progress.get(id)!.isLearner = true;
    }
    config.learnersNext = new Set();
    for (const id of config.voters.outgoing) {
      if (!config.voters.incoming.has(id) && !config.learners.has(id)) progress.delete(id);
    }
    config.voters.outgoing = new MajorityConfig();
    config.autoLeave = false;
    return checkAndReturn(config, progress);
  }

  /**
   * Applies `ccs` outside joint consensus. Together they may change the set of voters by at most
   * one (adding or removing one voter; learners are unrestricted), and must leave a voter.
   */
  simple(...ccs: raftpb.ConfChangeSingle[]): ConfigAndProgress {
    const { config, progress } = this.checkAndCopy();
    if (config.voters.isJoint()) {
      throw new ConfChangeError("can't apply simple config change in joint config");
    }
    this.apply(config, progress, ccs);
    if (symdiff(this.tracker.config.voters.incoming, config.voters.incoming) > 1) {
      throw new ConfChangeError('more than one voter changed without entering joint config');
    }
    return checkAndReturn(config, progress);
  }

  /** Applies the changes to the incoming half of `config`, in order. */
  private apply(config: TrackerConfig, prs: ProgressMap, ccs: readonly raftpb.ConfChangeSingle[]): void {
    for (const cc of ccs) {
      // Node id 0 marks a change the application chose to drop (etcd does this); skip it.
      if (cc.nodeId === 0n) continue;
      switch (cc.type) {
        case raftpb.ConfChangeType.ConfChangeAddNode:
          this.makeVoter(config, prs, cc.nodeId);
          break;
        case raftpb.ConfChangeType.ConfChangeAddLearnerNode:
          this.makeLearner(config, prs, cc.nodeId);
          break;
        case raftpb.ConfChangeType.ConfChangeRemoveNode:
          this.remove(config, prs, cc.nodeId);
          break;
        case raftpb.ConfChangeType.ConfChangeUpdateNode:
          break;
        default:
          throw new ConfChangeError(`unexpected conf type ${cc.type as number}`);
      }
    }
    if (config.voters.incoming.size === 0) throw new ConfChangeError('removed all voters');
  }

  /** Adds id as a voter of the incoming half, or promotes it if already tracked. */
  private makeVoter(config: TrackerConfig, prs: ProgressMap, id: bigint): void {
    const pr = prs.get(id);
    if (pr === undefined) {
      this.initProgress(config, prs, id, false);
      return;
    }
    pr.isLearner = false;
    config.learners.delete(id);
    config.learnersNext.delete(id);
    config.voters.incoming.add(id);
  }

  /**
   * Makes id a learner. A new peer, or a voter only of the incoming half, becomes a learner at
   * once. A voter of the outgoing half must stay a voter until the joint config is left, so it
   * is staged in learnersNext instead (learners and voters never overlap).
   */
  private makeLearner(config: TrackerConfig, prs: ProgressMap, id: bigint): void {
    const pr = prs.get(id);
    if (pr === undefined) {
      this.initProgress(config, prs, id, true);
      return;
    }
    if (pr.isLearner) return;
    // Drop it as an incoming voter but keep its progress.
    this.remove(config, prs, id);
    prs.set(id, pr);
    if (config.voters.outgoing.has(id)) {
      config.learnersNext.add(id);
    } else {
      pr.isLearner = true;
      config.learners.add(id);
    }
  }

  /** Removes id as a voter or learner of the incoming half (a no-op for unknown peers). */
  private remove(config: TrackerConfig, prs: ProgressMap, id: bigint): void {
    if (!prs.has(id)) return;
    config.voters.incoming.delete(id);
    config.learners.delete(id);
    config.learnersNext.delete(id);
    // An outgoing voter keeps its progress until the joint config is left.
    if (!config.voters.outgoing.has(id)) prs.delete(id);
  }

  /** Starts tracking a new voter or learner. */
  private initProgress(config: TrackerConfig, prs: ProgressMap, id: bigint, isLearner: boolean): void {
    if (isLearner) config.learners.add(id);
    else config.voters.incoming.add(id);
    prs.set(
      id,
      new Progress({
        // Probing from the last index: the new peer is expected to be far behind (and will
        // likely need a snapshot), and the probe's rejection hint finds the real position.
        next: this.lastIndex,
        match: 0n,
        inflights: new Inflights(this.tracker.maxInflight),
        isLearner,
        // New peers count as active so CheckQuorum doesn't depose the leader before they have
        // had a chance to respond.
        recentActive: true,
      }),
    );
  }

  /** Copies the tracker's config and progress (validating them first). */
  private checkAndCopy(): ConfigAndProgress {
    const config = this.tracker.config.clone();
    const progress: ProgressMap = new Map();
    // A shallow Progress copy suffices: the changer only ever flips isLearner.
    for (const [id, pr] of this.tracker.progress) progress.set(id, pr.clone());
    return checkAndReturn(config, progress);
  }
}

/**
 * Verifies that a config and progress map fit together: every voter, learner and staged learner
 * has a progress; staged learners are outgoing voters not yet marked as learners; learners are
 * voters of neither half and are marked as learners; a non-joint config has no staged learners
 * and no autoLeave. (The empty config is allowed so that configurations can be built up from
 * nothing.) Throws a ConfChangeError describing the first violation.
 */
export function checkInvariants(config: TrackerConfig, prs: ProgressMap): void {
  for (const ids of [config.voters.ids(), config.learners, config.learnersNext]) {
    for (const id of ids) {
      if (!prs.has(id)) throw new ConfChangeError(`no progress for ${id}`);
    }
  }
  for (const id of config.learnersNext) {
    if (!config.voters.outgoing.has(id)) {
      throw new ConfChangeError(`${id} is in LearnersNext, but not Voters[1]`);
    }
    if (prs.get(id)!.isLearner) {
      throw new ConfChangeError(`${id} is in LearnersNext, but is already marked as learner`);
    }
  }
  for (const id of config.learners) {
    if (config.voters.outgoing.has(id)) throw new ConfChangeError(`${id} is in Learners and Voters[1]`);
    if (config.voters.incoming.has(id)) throw new ConfChangeError(`${id} is in Learners and Voters[0]`);
    if (!prs.get(id)!.isLearner) {
      throw new ConfChangeError(`${id} is in Learners, but is not marked as learner`);
    }
  }
  if (!config.voters.isJoint()) {
    if (config.learnersNext.size > 0) throw new ConfChangeError('LearnersNext must be nil when not joint');
    if (config.autoLeave) throw new ConfChangeError('AutoLeave must be false when not joint');
  }
}

function checkAndReturn(config: TrackerConfig, progress: ProgressMap): ConfigAndProgress {
  checkInvariants(config, progress);
  return { config, progress };
}

/** The number of ids in exactly one of the two sets. */
function symdiff(l: ReadonlySet<bigint>, r: ReadonlySet<bigint>): number {
  let n = 0;
  for (const id of l) if (!r.has(id)) n++;
  for (const id of r) if (!l.has(id)) n++;
  return n;
}

/** "ConfChangeAddNode(1) ConfChangeRemoveNode(2)": for logs and test failures. */
export function describeConfChanges(ccs: readonly raftpb.ConfChangeSingle[]): string {
  return ccs.map((cc) => `${raftpb.confChangeTypeToJSON(cc.type)}(${cc.nodeId})`).join(' ');
}

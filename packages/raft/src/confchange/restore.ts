// Rebuilding a tracker configuration from a ConfState (snapshot or bootstrap).

import { raftpb } from '@kv/api';
import { ProgressTracker } from '../tracker/tracker.js';
import { Changer, type ConfigAndProgress } from './confchange.js';

const single = (type: raftpb.ConfChangeType, nodeId: bigint): raftpb.ConfChangeSingle => ({
  type,
  nodeId,
});

/**
 * Translates a ConfState into two lists of changes: `outgoing` builds (one voter at a time) the
 * config that is to become the outgoing half, and `incoming`, applied while entering the joint
 * config, turns that into the incoming half plus learners.
 *
 * Example: voters=(1 2 3) learners=(5) outgoing=(1 2 4 6) learners_next=(4) gives
 *   outgoing = v1 v2 v4 v6
 *   incoming = r1 r2 r4 r6 v1 v2 v3 l5 l4
 * so that from the empty config, `outgoing` yields (1 2 4 6), and entering the joint config with
 * `incoming` yields (1 2 3)&&(1 2 4 6) learners=(5) learners_next=(4): 4 is an outgoing voter, so
 * adding it as a learner stages it. (Whether 5 was a learner before is unknowable and irrelevant.)
 */
export function toConfChangeSingle(cs: raftpb.ConfState): {
  outgoing: raftpb.ConfChangeSingle[];
  incoming: raftpb.ConfChangeSingle[];
} {
  const T = raftpb.ConfChangeType;
  const outgoing = cs.votersOutgoing.map((id) => single(T.ConfChangeAddNode, id));
  const incoming = [
    ...cs.votersOutgoing.map((id) => single(T.ConfChangeRemoveNode, id)),
    ...cs.voters.map((id) => single(T.ConfChangeAddNode, id)),
    ...cs.learners.map((id) => single(T.ConfChangeAddLearnerNode, id)),
    ...cs.learnersNext.map((id) => single(T.ConfChangeAddLearnerNode, id)),
  ];
  return { outgoing, incoming };
}

/**
 * Reproduces the configuration described by `cs`, starting from the changer's tracker, which
 * must hold the empty configuration. Non-joint: the changes are applied one by one as simple
 * changes. Joint: the outgoing voters are added one by one, then the joint config is entered
 * with the incoming changes (and cs.autoLeave). New peers get progress starting at
 * changer.lastIndex. Returns the result without modifying the changer's tracker; throws a
 * ConfChangeError if `cs` is inconsistent.
 */
export function restore(changer: Changer, cs: raftpb.ConfState): ConfigAndProgress {
  const { outgoing, incoming } = toConfChangeSingle(cs);
  // Work on a scratch tracker so that the caller's tracker stays untouched until it installs the
  // result.
  const scratch = new ProgressTracker(changer.tracker.maxInflight);
  scratch.config = changer.tracker.config;
  scratch.progress = changer.tracker.progress;
  const chg = new Changer(scratch, changer.lastIndex);
  const step = (r: ConfigAndProgress): void => {
    scratch.config = r.config;
    scratch.progress = r.progress;
  };
  if (outgoing.length === 0) {
    for (const cc of incoming) step(chg.simple(cc));
  } else {
    for (const cc of outgoing) step(chg.simple(cc));
    step(chg.enterJoint(cs.autoLeave, ...incoming));
  }
  return { config: scratch.config, progress: scratch.progress };
}

// Snapshots of a node's state for observers (tests, metrics, the server's status endpoints).

import type { raftpb } from '@kv/api';
import type { Raft } from './raft.js';
import type { SoftState } from './state.js';
import { raftStateString, RaftState } from './state.js';
import type { Progress, TrackerConfig } from './tracker/index.js';
import { stateTypeString } from './tracker/index.js';

/** Cheap status: identity, hard and soft state, applied index, transfer target. */
export interface BasicStatus {
  id: bigint;
  hardState: raftpb.HardState;
  softState: SoftState;
  applied: bigint;
  /** Target of an ongoing leadership transfer, 0n if none. */
  leadTransferee: bigint;
}

/** Full status: adds the configuration and (on the leader only) every peer's progress. */
export interface Status extends BasicStatus {
  config: TrackerConfig;
  /** Copies of the leader's progress records; empty on non-leaders. */
  progress: Map<bigint, Progress>;
}

export function getBasicStatus(r: Raft): BasicStatus {
  return {
    id: r.id,
    hardState: r.hardState(),
    softState: r.softState(),
    applied: r.raftLog.applied,
    leadTransferee: r.leadTransferee,
  };
}

export function getStatus(r: Raft): Status {
  const progress = new Map<bigint, Progress>();
  if (r.state === RaftState.Leader) {
    r.prs.visit((id, pr) => progress.set(id, pr.clone(true)));
  }
  return { ...getBasicStatus(r), config: r.prs.config.clone(), progress };
}

/** JSON in the shape etcd's Status.MarshalJSON produces (ids in hex). */
export function statusToJSON(s: Status): string {
  const h = (v: bigint): string => v.toString(16);
  const prs = [...s.progress.entries()]
    .map(([id, p]) => `"${h(id)}":{"match":${p.match},"next":${p.next},"state":"${stateTypeString(p.state)}"}`)
    .join(',');
  return (
    `{"id":"${h(s.id)}","term":${s.hardState.term},"vote":"${h(s.hardState.vote)}","commit":${s.hardState.commit},` +
    `"lead":"${h(s.softState.lead)}","raftState":"${raftStateString(s.softState.raftState)}","applied":${s.applied},` +
    `"progress":{${prs}},"leadtransferee":"${h(s.leadTransferee)}"}`
  );
}

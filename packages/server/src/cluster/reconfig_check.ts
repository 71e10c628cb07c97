// etcd's strict reconfiguration check (--strict-reconfig-check, on by default): a member refuses a
// membership change that would leave the cluster without a quorum of started, connected voters.
// The rules are etcd 3.4's (etcdserver/server.go mayAddMember/mayRemoveMember/mayPromoteMember,
// api/membership/cluster.go IsReadyTo*, etcdserver/util.go numConnectedSince), decided on the
// member that takes the request from what it sees:
//
// - "started": the member has published its name (initial members are named from the start, a
//   member added by MemberAdd once it ran; etcd's Member.IsStarted);
// - "connected": this member's peer stream to it has been up for longer than HealthIntervalMs
//   (etcd's isConnectedSince with its HealthInterval of 5 s); this member itself always counts.
//
// Learners are not voters: they count in none of the quorums below.
//
// Add a voter: refused (NotEnoughStarted) when the started voters would be fewer than a quorum of
//   the voters plus the new one — except adding a second member to a one-member cluster. Add
//   anything: refused (Unhealthy) unless this member is connected to every voter.
// Remove: a learner always may go. A voter is refused (NotEnoughStarted) when the started voters
//   left would be fewer than a quorum of the voters left; a voter this member has no stream to
//   may go (it is not in the active quorum); otherwise refused (Unhealthy) when the connected
//   voters minus the removed one would be fewer than a quorum of the voters left.
// Promote: refused (NotEnoughStarted) when the started voters plus the learner would be fewer than
//   a quorum of the voters plus the learner. (Whether the learner caught up is checked before,
//   with the check on or off.)
import type { EtcdErrorName } from '@kv/api';

/** etcd's HealthInterval: how long a peer must have been connected to count as healthy. */
export const HealthIntervalMs = 5_000;

export interface ReconfigMember {
  id: bigint;
  /** Empty until the member published its attributes (etcd: not started). */
  name: string;
  isLearner: boolean;
}

/** What the member taking the request sees of its cluster. */
export interface ReconfigView {
  /** The member deciding. */
  self: bigint;
  members: readonly ReconfigMember[];
  /** Since when (on the `now` time base) this member has been connected to `id`; undefined if not. */
  activeSince(id: bigint): number | undefined;
  /** Now, on the time base of activeSince (monotonic ms). */
  now: number;
}

/** The change asked for. */
export type ReconfigChange = { kind: 'add'; isLearner: boolean } | { kind: 'remove'; id: bigint } | { kind: 'promote'; id: bigint };

/** Why a change is refused: etcd's errors (gRPC FailedPrecondition and Unavailable). */
export type ReconfigRefusal = Extract<EtcdErrorName, 'MemberNotEnoughStarted' | 'Unhealthy'>;

const isStarted = (m: ReconfigMember) => m.name.length > 0;
const quorum = (n: number) => Math.floor(n / 2) + 1;

/** etcd's isConnectedSince(now - HealthInterval): connected, and since strictly before then. */
function connectedLongEnough(v: ReconfigView, id: bigint): boolean {
  if (id === v.self) return true;
  const t = v.activeSince(id);
  return t !== undefined && t < v.now - HealthIntervalMs;
}

/** Decides a change; undefined when it may go ahead. */
export function checkReconfig(v: ReconfigView, change: ReconfigChange): ReconfigRefusal | undefined {
  const voters = v.members.filter((m) => !m.isLearner);
  const started = voters.filter(isStarted).length;
  const connected = voters.filter((m) => connectedLongEnough(v, m.id)).length;
  switch (change.kind) {
    case 'add': {
      if (!change.isLearner) {
        const members = voters.length + 1;
        // A second member for a one-member cluster (etcd's restore-a-cluster case).
        const restoring = started === 1 && members === 2;
        if (!restoring && started < quorum(members)) return 'MemberNotEnoughStarted';
      }
      if (connected !== voters.length) return 'Unhealthy';
      return undefined;
    }
    case 'remove': {
      const target = v.members.find((m) => m.id === change.id);
      if (target?.isLearner) return undefined;
      const left = voters.filter((m) => m.id !== change.id);
      if (left.filter(isStarted).length < quorum(left.length)) return 'MemberNotEnoughStarted';
      // A member this one cannot reach is not part of the active quorum: safe to remove.
      if (change.id !== v.self && v.activeSince(change.id) === undefined) return undefined;
      // etcd's formula, on all voters (the removed one included): connected − 1 ≥ quorum(voters − 1).
      if (connected - 1 < 1 + Math.floor((voters.length - 1) / 2)) return 'Unhealthy';
      return undefined;
    }
    case 'promote': {
      // The learner counts as a future voter, and as started.
      if (started + 1 < quorum(voters.length + 1)) return 'MemberNotEnoughStarted';
      return undefined;
    }
  }
}

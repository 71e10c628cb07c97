// --force-new-cluster: a member restarts as the only member of its cluster, keeping its data
// (etcd's restartAsStandaloneNode, etcdserver/raft.go). From the log read back from the WAL:
//   1. entries past the commit index are dropped (nobody can commit them any more);
//   2. conf-change entries are appended that add this member if the log does not know it and
//      remove every other member (voters and learners);
//   3. the commit index is moved to the last of them.
// raft then applies them at start like any committed entries: its configuration, and the members
// bucket, end with this member alone, which campaigns at once (a cluster of one) and leads.
//
// Differences from etcd, on purpose:
// - the commit index counts what the backend has applied too (its consistent index): kv may
//   apply an entry before the commit index that covers it is synced (a lazy save), and appending
//   conf changes at indexes the backend believes applied would skip them there;
// - learners known from the snapshot are removed as well (etcd 3.4 reads only its voters);
// - the new hard state (with its commit index) is saved with the entries, so a crash right after
//   leaves them committed; etcd saves the entries only;
// - a learner cannot be forced into a cluster of its own (raft would have no voter): refused.
import { raftpb } from '@kv/api';
import { entryConfChangeV2 } from '@kv/raft';
import { ConfigError } from '../config.js';
import { encodeMember, type MemberRecord } from './membership.js';

export interface StandaloneInput {
  /** This member. */
  self: MemberRecord;
  /** The configuration of the snapshot the log starts from (undefined: none). */
  snapshot?: { index: bigint; confState?: raftpb.ConfState };
  /** The hard state and the entries after the snapshot, as read back from the WAL. */
  hardState: raftpb.HardState;
  entries: raftpb.Entry[];
  /** The backend's consistent index (every entry up to it is applied, hence committed). */
  appliedIndex: bigint;
}

export interface StandaloneLog {
  /** The log after the snapshot: the committed entries kept, then `appended`. */
  entries: raftpb.Entry[];
  /** The conf-change entries to save to the WAL (they overwrite any uncommitted tail). */
  appended: raftpb.Entry[];
  /** The hard state to save with them: commit at the last appended entry. */
  hardState: raftpb.HardState;
  /** How many uncommitted entries were dropped. */
  discarded: number;
  /** The members removed, in id order. */
  removed: bigint[];
}

/** Members of the configuration: voters and learners, as the snapshot and the kept entries leave it. */
function membersOf(input: StandaloneInput, kept: raftpb.Entry[]): Map<bigint, 'voter' | 'learner'> {
  const ids = new Map<bigint, 'voter' | 'learner'>();
  const cs = input.snapshot?.confState;
  for (const id of [...(cs?.voters ?? []), ...(cs?.votersOutgoing ?? [])]) ids.set(id, 'voter');
  for (const id of [...(cs?.learners ?? []), ...(cs?.learnersNext ?? [])]) if (!ids.has(id)) ids.set(id, 'learner');
  const T = raftpb.ConfChangeType;
  for (const e of kept) {
    const cc = entryConfChangeV2(e);
    if (!cc) continue;
    for (const ch of cc.changes) {
      if (ch.type === T.ConfChangeAddNode) ids.set(ch.nodeId, 'voter');
      else if (ch.type === T.ConfChangeAddLearnerNode) ids.set(ch.nodeId, 'learner');
      else if (ch.type === T.ConfChangeRemoveNode) ids.delete(ch.nodeId);
    }
  }
  return ids;
}

const compareIds = (a: bigint, b: bigint) => (a < b ? -1 : a > b ? 1 : 0);

/** The log a --force-new-cluster restart runs with (see the top of this file). */
export function standaloneLog(input: StandaloneInput): StandaloneLog {
  const first = (input.snapshot?.index ?? 0n) + 1n;
  const lastIndex = first - 1n + BigInt(input.entries.length);
  if (input.appliedIndex > lastIndex) {
    // A backend installed from a leader's snapshot whose WAL marker a crash kept from being saved.
    throw new ConfigError(
      `--force-new-cluster: the backend has applied up to index ${input.appliedIndex}, past the end of the WAL (${lastIndex}); ` +
        'restart once without the flag so that the member records the snapshot it installed, or restore the data dir from a backup',
    );
  }
  let commit = input.hardState.commit;
  if (input.appliedIndex > commit) commit = input.appliedIndex;
  if (commit > lastIndex) commit = lastIndex;
  const kept = input.entries.filter((e) => e.Index <= commit);
  const discarded = input.entries.length - kept.length;
  const members = membersOf(input, kept);
  if (members.get(input.self.id) === 'learner') {
    throw new ConfigError(
      `--force-new-cluster: member ${input.self.id.toString(16)} is a learner; a cluster needs a voting member (promote it first, or force another member)`,
    );
  }
  const term = input.hardState.term;
  const appended: raftpb.Entry[] = [];
  let next = commit + 1n;
  const push = (cc: Partial<raftpb.ConfChange>) => {
    appended.push(
      raftpb.Entry.fromPartial({
        Type: raftpb.EntryType.EntryConfChange,
        Term: term,
        Index: next++,
        Data: Buffer.from(raftpb.ConfChange.encode(raftpb.ConfChange.fromPartial(cc)).finish()),
      }),
    );
  };
  // Self first, then the others: raft must never see a configuration without a voter.
  if (!members.has(input.self.id)) {
    push({ type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: input.self.id, context: encodeMember(input.self) });
  }
  const removed = [...members.keys()].filter((id) => id !== input.self.id).sort(compareIds);
  for (const id of removed) push({ type: raftpb.ConfChangeType.ConfChangeRemoveNode, nodeId: id });
  const hardState = raftpb.HardState.fromPartial({ ...input.hardState, commit: next - 1n });
  return { entries: [...kept, ...appended], appended, hardState, discarded, removed };
}

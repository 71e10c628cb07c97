// Applies a run of committed log entries as one commit group: every entry gets its own write
// transaction (its own revision, if it changes anything) inside one backend batch, and the batch
// carries the consistent index of the last entry. Driven by the raft loop (RaftConsensus) through
// the member.
//
// The group is published — visible to readers and watchers, its requests answered — as soon as
// its batch is handed to the backend, without waiting for the database write (as etcd answers
// from its batch buffer before bolt commits). The entries are durable already: they are committed,
// so a quorum's WAL holds them, this member's included, and a restart replays the log from the
// consistent index the backend holds. The raft loop thus goes on to its next fsync while the
// database writes (etcd's apply pipeline). A batch that fails to land stops the member
// (onCommitFailed); at most MaxCommitsInFlight batches are in flight, beyond that apply waits.
//
// Invariants: entries arrive in log order without gaps; an entry at or below the backend's
// consistent index was applied before a restart and is skipped (replay is idempotent). If any
// entry faults (ApplyFault), the group rejects before its batch is committed: nothing of the
// group reaches the backend, and the caller stops the member.
import type { etcdserverpb } from '@kv/api';
import type { Backend, KVStore, TxnWrite } from '@kv/mvcc';
import type { ApplyResult, Applier } from './applier.js';
import { failpoint, failpointsArmed } from '../failpoints.js';

export interface GroupEntry {
  index: bigint;
  /** undefined for entries that change no state (raft's empty entries, conf changes applied elsewhere). */
  req?: etcdserverpb.InternalRaftRequest;
}

export interface GroupDeps {
  backend: Backend;
  store: KVStore;
  applier: Applier;
  /** fsync the batch (the single member, whose durability is the backend) or not (raft: the WAL is). */
  sync: boolean;
  /** Extra writes for the batch after the entries, e.g. membership changes (optional). */
  extra?: (tx: ReturnType<Backend['newBatch']>) => void;
  /** A batch published before it landed failed to land: the member must stop (required unless `sync`). */
  onCommitFailed?: (err: unknown) => void;
}

/** Batches handed to the backend and not yet written, over which apply waits for them. */
export const MaxCommitsInFlight = 16;

/** Applies the entries; returns one result per entry (undefined for skipped or empty ones). */
export async function applyGroup(d: GroupDeps, entries: GroupEntry[]): Promise<(ApplyResult | undefined)[]> {
  const { backend, store, applier } = d;
  const tx = backend.newBatch();
  const writes: TxnWrite[] = [];
  const results: (ApplyResult | undefined)[] = [];
  let last = store.consistentIndex();
  for (const e of entries) {
    if (e.index <= store.consistentIndex() || e.req === undefined) {
      results.push(undefined);
      if (e.index > last) last = e.index;
      continue;
    }
    const w = store.write(tx);
    results.push(await applier.apply(e.req, tx, w, e.index));
    w.end();
    writes.push(w);
    last = e.index;
  }
  d.extra?.(tx);
  if (last > store.consistentIndex()) store.setConsistentIndex(tx, last);
  if (failpointsArmed()) await failpoint('beforeCommit');
  const committed = backend.commit(tx, { sync: d.sync });
  if (d.sync || d.onCommitFailed === undefined || backend.commitsInFlight > MaxCommitsInFlight) {
    // The caller's durability is this batch (sync), it cannot stop on a late failure, or the
    // database is behind: wait for the batch.
    await committed;
    store.publish(last, writes);
    return results;
  }
  store.publish(last, writes, committed);
  const failed = d.onCommitFailed;
  committed.catch((err: unknown) => failed(err));
  return results;
}

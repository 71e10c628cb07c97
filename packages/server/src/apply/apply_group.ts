// Applies a run of committed log entries as one commit group: every entry gets its own write
// transaction (its own revision, if it changes anything) inside one backend batch, the batch
// carries the consistent index of the last entry, and nothing becomes visible before the batch
// is committed. Driven by the raft loop (RaftConsensus) through the member.
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
}

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
  await backend.commit(tx, { sync: d.sync });
  store.publish(last, writes);
  return results;
}

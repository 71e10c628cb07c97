// A key's revision history as the dashboard shows it: from the current version, read the key
// at `revision = mod_revision - 1` (the state just before that change, so the previous
// version), again and again, until version 1 (the creation), a compacted revision, or a bound.
// etcd keeps no per-key history index; this is what etcdctl users do by hand with --rev.
import { ApiError, type KeyValue, type RangeResponse } from './api.js';

export type HistoryEnd =
  /** Reached version 1: the whole history since the key was (last) created. */
  | 'created'
  /** The next older revision is compacted away. */
  | 'compacted'
  /** Stopped at the bound. */
  | 'bound';

export interface History {
  /** Newest first; the first is the current one. */
  versions: KeyValue[];
  end: HistoryEnd;
}

/** How to read one key at one revision (a gateway Range with `revision`). */
export type RangeAt = (key: string, revision: string) => Promise<RangeResponse>;

export const compactedMessage = 'etcdserver: mvcc: required revision has been compacted';

/**
 * Walks back from `current` (the key as read now). Invariant: each step's mod_revision is below
 * the one before, so the walk ends within `bound` reads. A key that did not exist just before a
 * version > 1 cannot happen in etcd's model; it is reported as 'created' rather than looping.
 */
export async function walkHistory(range: RangeAt, current: KeyValue, bound = 20): Promise<History> {
  const versions: KeyValue[] = [current];
  for (;;) {
    const last = versions[versions.length - 1]!;
    if (BigInt(last.version ?? '0') <= 1n) return { versions, end: 'created' };
    if (versions.length >= bound) return { versions, end: 'bound' };
    const before = (BigInt(last.mod_revision ?? '0') - 1n).toString();
    let r: RangeResponse;
    try {
      r = await range(current.key ?? '', before);
    } catch (err) {
      if (err instanceof ApiError && err.message.includes('required revision has been compacted')) return { versions, end: 'compacted' };
      throw err;
    }
    const kv = r.kvs?.[0];
    if (!kv || BigInt(kv.mod_revision ?? '0') >= BigInt(last.mod_revision ?? '0')) return { versions, end: 'created' };
    versions.push(kv);
  }
}

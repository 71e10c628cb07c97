// The waits and retries shared by Mutex and Election (etcd's concurrency/key.go), over the
// Client's public KV and Watch API only.
import { type etcdserverpb, mvccpb } from '@kv/api';
import type { Client } from '../client.js';
import { Op } from '../kv.js';
import { EtcdError } from '../errors.js';
import { abortReason, SessionExpiredError } from './errors.js';

/** etcd's `%x` of a lease id. */
export function leaseHex(lease: bigint): string {
  return lease.toString(16);
}

/**
 * Resolves when `key` is deleted at or after revision `fromRev`. When `ownKey` is given, its
 * deletion (the session's lease is gone) rejects with SessionExpiredError instead. An aborted
 * signal rejects with its reason. Invariant: both watchers are cancelled when this settles.
 */
export async function waitDelete(
  client: Client,
  key: Buffer,
  fromRev: bigint,
  ownKey: Buffer | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (signal?.aborted) throw abortReason(signal);
  const watchers = [client.watch(key, { startRevision: fromRev, noPut: true })];
  if (ownKey) watchers.push(client.watch(ownKey, { startRevision: fromRev, noPut: true }));
  const cancelAll = () => {
    for (const w of watchers) w.cancel();
  };
  signal?.addEventListener('abort', cancelAll, { once: true });
  try {
    // Each resolves true on a delete, false when its watcher ended (cancelled) without one.
    const deleted = (i: number) =>
      (async () => {
        for await (const r of watchers[i]) if (r.events.some((e) => e.type === mvccpb.Event_EventType.DELETE)) return i;
        return -1;
      })();
    const first = await Promise.race(watchers.map((_, i) => deleted(i)));
    if (signal?.aborted) throw abortReason(signal);
    if (first === 1) throw new SessionExpiredError();
    if (first === -1) throw new Error('lost watcher waiting for delete');
  } finally {
    signal?.removeEventListener('abort', cancelAll);
    cancelAll();
  }
}

/**
 * Waits until every key under `prefix` created at or before `maxCreateRev` is deleted (etcd's
 * waitDeletes): the newest such key, then the next, each read after the previous delete, so the
 * rounds are bounded by the number of earlier keys. Returns the header of the last read.
 */
export async function waitDeletes(
  client: Client,
  prefix: Buffer,
  maxCreateRev: bigint,
  ownKey: Buffer | undefined,
  signal: AbortSignal | undefined,
): Promise<etcdserverpb.ResponseHeader> {
  for (;;) {
    if (signal?.aborted) throw abortReason(signal);
    const t = client
      .txn()
      .then(Op.get(prefix, { prefix: true, sortTarget: 'create', sortOrder: 'descend', limit: 1, maxCreateRevision: maxCreateRev }));
    if (ownKey) t.then(Op.get(ownKey));
    // One read-only txn: the newest earlier key and our own key at the same revision.
    const resp = await t.commit({ signal });
    const header = resp.header!;
    if (ownKey && (resp.responses[1]?.responseRange?.kvs.length ?? 0) === 0) throw new SessionExpiredError();
    const last = resp.responses[0]?.responseRange?.kvs ?? [];
    if (last.length === 0) return header;
    await waitDelete(client, last[0].key, header.revision + 1n, ownKey, signal);
  }
}

/** The first-created key under `prefix` (etcd's WithFirstCreate), as a RequestOp. */
export function firstCreate(prefix: Buffer): etcdserverpb.RequestOp {
  return Op.get(prefix, { prefix: true, sortTarget: 'create', sortOrder: 'ascend', limit: 1 });
}

const retryAttempts = 8;

/**
 * Runs `fn` again after an UNAVAILABLE failure (member down, no leader, leader changed), at most
 * 8 times with backoff 100 ms .. 2 s. Only for requests that are safe to repeat by construction:
 * the recipes' conditional txns (a lock or campaign txn repeated finds its own key and reuses it).
 */
export async function retryUnavailable<T>(fn: () => Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      const unavailable = err instanceof EtcdError && err.code === 14;
      if (!unavailable || attempt >= retryAttempts || signal?.aborted) throw err;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(100 * 2 ** (attempt - 1), 2000));
        signal?.addEventListener(
          'abort',
          () => {
            clearTimeout(t);
            resolve();
          },
          { once: true },
        );
      });
    }
  }
}

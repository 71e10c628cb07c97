// Lock service (etcd's v3lock): a lease-bound ownership key `name/<lease hex>` per waiter; the
// waiter whose key has the lowest create revision under `name/` owns the lock. Lock returns once
// every key created before the caller's is deleted; Unlock deletes the ownership key.
import { etcdserverpb, v3lockpb } from '@kv/api';
import type { Metadata } from '@grpc/grpc-js';
import type { Member } from '../member.js';
import { byCreate, createdAt, defaultSessionTtl, leaseHex, memberKv, recipeUnary, waitDeletes, type RecipeKv } from './recipe_kv.js';

/**
 * etcd's concurrency.Mutex.Lock with the session's lease (a new 60 s lease when `lease` is 0, as
 * etcd's server does — it is not kept alive). Invariant: on any failure after the ownership key was
 * written, the key is deleted again (etcd's Unlock on a failed wait), so a cancelled waiter never
 * blocks the ones behind it.
 */
export async function acquireLock(kv: RecipeKv, name: Buffer, lease: bigint, signal: AbortSignal): Promise<v3lockpb.LockResponse> {
  const id = lease === 0n ? await kv.grant(defaultSessionTtl) : lease;
  const prefix = Buffer.concat([name, Buffer.from('/')]);
  const myKey = Buffer.concat([prefix, Buffer.from(leaseHex(id))]);
  const getOwner: etcdserverpb.RequestOp = {
    requestRange: etcdserverpb.RangeRequest.fromPartial(byCreate(prefix, etcdserverpb.RangeRequest_SortOrder.ASCEND)),
  };
  const resp = await kv.txn({
    compare: [createdAt(myKey, 0n)],
    // Put self among the waiters; the oldest waiter holds the lock.
    success: [{ requestPut: etcdserverpb.PutRequest.fromPartial({ key: myKey, lease: id }) }, getOwner],
    // The key exists: this lease already waits for or holds the lock; reuse it.
    failure: [{ requestRange: etcdserverpb.RangeRequest.fromPartial({ key: myKey }) }, getOwner],
  });
  const header = resp.header ?? kv.header(0n);
  let myRev = header.revision;
  if (!resp.succeeded) myRev = resp.responses[0]?.responseRange?.kvs[0]?.createRevision ?? myRev;
  const owner = resp.responses[1]?.responseRange?.kvs ?? [];
  if (owner.length === 0 || owner[0].createRevision === myRev) return { header, key: myKey };
  try {
    const hdr = await waitDeletes(kv, prefix, myRev - 1n, myKey, signal);
    return { header: hdr, key: myKey };
  } catch (err) {
    await kv.deleteRange(myKey).catch(() => undefined);
    throw err;
  }
}

/** `kvFor` gives the recipes' KV acting as the call's user (its metadata's token). */
export function lockService(m: Member, kvFor: (metadata: Metadata) => RecipeKv = (md) => memberKv(m, md)): v3lockpb.LockServer {
  return {
    lock: recipeUnary((req: v3lockpb.LockRequest, signal, md) => acquireLock(kvFor(md), req.name, req.lease, signal)),
    unlock: recipeUnary(async (req: v3lockpb.UnlockRequest, _signal, md) => ({ header: (await kvFor(md).deleteRange(req.key)).header })),
  };
}

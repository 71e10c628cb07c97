// The key-value face the Lock and Election services run their recipes on (etcd runs them with
// clientv3/concurrency over an in-process client). Every operation takes the same path as the KV
// service: linearizable reads after the read barrier, writes proposed through raft, waits on the
// watchable store from a revision already read — so nothing here sees uncommitted state.
import { etcdserverpb } from '@kv/api';
import { applyRange, applyTxn, checkRangeRequest, checkTxnRequest, isTxnReadonly, type WatchResponse } from '@kv/mvcc';
import {
  status,
  type Metadata,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
  type ServiceError,
} from '@grpc/grpc-js';
import { checkRange, checkTxn } from '../auth/apply.js';
import { toServiceError } from '../errors.js';
import type { Member } from '../member.js';

/** etcd's concurrency.ErrSessionExpired (3.5's text): the waiter's own key went with its lease. */
export const ErrSessionExpired = 'mutex: session is expired';
/** etcd's concurrency.defaultSessionTTL: a Lock/Campaign without a lease gets one of 60 s. */
export const defaultSessionTtl = 60n;

/** A request error of the recipes: sent as gRPC UNKNOWN with this text, as etcd's plain Go errors are. */
export class RecipeError extends Error {
  override readonly name = 'RecipeError';
}

/** Thrown when the call's signal ends a wait (client gone, or a hook such as require-leader). */
export class AbortedError extends Error {
  override readonly name = 'AbortedError';
  constructor(readonly reason: unknown) {
    super(reason instanceof Error ? reason.message : 'context canceled');
  }
}

export interface RecipeWatch {
  /** Stops the watchers and releases the stream (idempotent). */
  close(): void;
  /** Lets a paused stream deliver again (after the consumer's own back-pressure cleared). */
  resume(): void;
}

export interface RecipeKv {
  range(req: Partial<etcdserverpb.RangeRequest>): Promise<etcdserverpb.RangeResponse>;
  txn(req: Partial<etcdserverpb.TxnRequest>): Promise<etcdserverpb.TxnResponse>;
  deleteRange(key: Buffer): Promise<etcdserverpb.DeleteRangeResponse>;
  /** Grants a lease of `ttl` seconds with an id chosen here; returns the id. */
  grant(ttl: bigint): Promise<bigint>;
  /**
   * Watchers on one stream; `onResponse` returning false pauses the stream until resume().
   * Each spec gets the watch id of its index in `specs`.
   */
  watch(
    specs: { key: Buffer; end?: Buffer; startRev: bigint; noPut?: boolean }[],
    onResponse: (r: WatchResponse) => boolean | void,
  ): RecipeWatch;
  header(revision: bigint): etcdserverpb.ResponseHeader;
  /** Watchers currently registered in the store (tests check that waits leave none behind). */
  watcherCount(): number;
}

/**
 * The recipes' KV on member `m`, acting as the caller whose call metadata is `metadata`: its token
 * names the user every read is checked for and every write is proposed as (etcd's v3lock and
 * v3election servers run the recipes through a client that carries the caller's context, so the
 * same auth checks apply as to the KV calls themselves). Without metadata: as the member itself
 * (tests).
 */
export function memberKv(m: Member, metadata?: Metadata): RecipeKv {
  const anonymous = { username: '', revision: 0n };
  const who = metadata === undefined ? m.identity.asMember : () => m.identity.authInfo(metadata);
  const reader = () => who() ?? anonymous;
  return {
    async range(partial) {
      const req = etcdserverpb.RangeRequest.fromPartial(partial);
      checkRangeRequest(req);
      if (m.auth.enabled) checkRange(m.auth, reader(), req);
      if (!req.serializable) await m.consensus.readBarrier();
      const resp = await applyRange(m.store, req);
      resp.header = m.header(resp.header?.revision ?? m.store.currentRev());
      return resp;
    },
    async txn(partial) {
      const req = etcdserverpb.TxnRequest.fromPartial(partial);
      checkTxnRequest(req, m.config.maxTxnOps);
      if (isTxnReadonly(req)) {
        if (m.auth.enabled) checkTxn(m.auth, reader(), m.lessor, req);
        await m.consensus.readBarrier();
        const resp = await applyTxn(m.store.readView(), req);
        resp.header = m.header(resp.header?.revision ?? m.store.currentRev());
        return resp;
      }
      return (await m.proposeFull({ txn: req }, who)).resp as etcdserverpb.TxnResponse;
    },
    async deleteRange(key) {
      const req = { deleteRange: etcdserverpb.DeleteRangeRequest.fromPartial({ key }) };
      return (await m.proposeFull(req, who)).resp as etcdserverpb.DeleteRangeResponse;
    },
    async grant(ttl) {
      let id = 0n;
      while (id === 0n) id = m.ids.next() & 0x7fff_ffff_ffff_ffffn;
      const resp = (await m.proposeFull({ leaseGrant: { ID: id, TTL: ttl } }, who)).resp as etcdserverpb.LeaseGrantResponse;
      return resp.ID;
    },
    watch(specs, onResponse) {
      // Observe's and the waits' watches read the election/lock prefix: the caller must be allowed to.
      if (m.auth.enabled) for (const sp of specs) m.auth.checkRead(reader(), sp.key, sp.end);
      let closed = false;
      // Watch ids are the store's; responses are passed on with the spec's index as watchId.
      const index = new Map<bigint, number>();
      const ws = m.watchable.newWatchStream((r) => (closed ? true : onResponse({ ...r, watchId: BigInt(index.get(r.watchId) ?? -1) })));
      try {
        for (const [i, s] of specs.entries()) {
          index.set(ws.watch({ key: s.key, end: s.end, startRev: s.startRev, noPut: s.noPut }), i);
        }
      } catch (err) {
        ws.close();
        throw err;
      }
      return {
        close() {
          if (closed) return;
          closed = true;
          ws.close();
        },
        resume: () => ws.resume(),
      };
    },
    header: (rev) => m.header(rev),
    watcherCount: () => m.watchable.syncedCount() + m.watchable.unsyncedCount(),
  };
}

/** An AbortSignal that fires when the gRPC call is cancelled (the client went away or timed out). */
export function callSignal(
  call: ServerUnaryCall<unknown, unknown> | ServerWritableStream<unknown, unknown>,
  extra?: AbortSignal,
): AbortSignal {
  const ac = new AbortController();
  const cancel = () => ac.abort(new AbortedError(undefined));
  if (call.cancelled) cancel();
  else call.once('cancelled', cancel);
  // A stream ended from this side (e.g. by the require-leader monitor, services/require_leader.ts)
  // stops its wait too.
  if ('writable' in call) for (const ev of ['error', 'close', 'finish']) call.once(ev, cancel);
  if (extra) {
    if (extra.aborted) ac.abort(extra.reason);
    else extra.addEventListener('abort', () => ac.abort(extra.reason), { once: true });
  }
  return ac.signal;
}

/** The smallest key greater than every key with this prefix (etcd's clientv3.GetPrefixRangeEnd). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if (end[i] < 0xff) {
      end[i]++;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** etcd's `%x` of a lease id (lowercase hex, no padding). */
export function leaseHex(lease: bigint): string {
  return lease.toString(16);
}

/** Range of one prefix sorted by create revision: ASCEND limit 1 = first created (WithFirstCreate). */
export function byCreate(
  prefix: Buffer,
  order: etcdserverpb.RangeRequest_SortOrder,
  maxCreateRevision = 0n,
): Partial<etcdserverpb.RangeRequest> {
  return {
    key: prefix,
    rangeEnd: prefixEnd(prefix),
    sortTarget: etcdserverpb.RangeRequest_SortTarget.CREATE,
    sortOrder: order,
    limit: 1n,
    maxCreateRevision,
  };
}

const { EQUAL } = etcdserverpb.Compare_CompareResult;
const { CREATE } = etcdserverpb.Compare_CompareTarget;

/** Compare create_revision(key) = rev. */
export function createdAt(key: Buffer, rev: bigint): etcdserverpb.Compare {
  return etcdserverpb.Compare.fromPartial({ result: EQUAL, target: CREATE, key, createRevision: rev });
}

function rejectOnAbort(signal: AbortSignal, reject: (e: unknown) => void): () => void {
  const onAbort = () => reject(signal.reason instanceof AbortedError ? signal.reason : new AbortedError(signal.reason));
  if (signal.aborted) onAbort();
  else signal.addEventListener('abort', onAbort, { once: true });
  return () => signal.removeEventListener('abort', onAbort);
}

/**
 * Waits until every key under `prefix` created at or before `maxCreateRev` is gone (etcd's
 * concurrency.waitDeletes): read the newest such key, wait for its deletion, read again. Each
 * round starts only after a delete, so the loop is bounded by the number of earlier waiters.
 * `ownKey`, when given, is the waiter's own key: its deletion (lease revoked or expired) ends the
 * wait with ErrSessionExpired. The signal ends it with AbortedError. Returns the header of the
 * last read. Invariant: every watcher opened here is closed before this returns or throws.
 */
export async function waitDeletes(
  kv: RecipeKv,
  prefix: Buffer,
  maxCreateRev: bigint,
  ownKey: Buffer | undefined,
  signal: AbortSignal,
): Promise<etcdserverpb.ResponseHeader> {
  for (;;) {
    if (signal.aborted) throw new AbortedError(signal.reason);
    const ops: etcdserverpb.RequestOp[] = [
      { requestRange: etcdserverpb.RangeRequest.fromPartial(byCreate(prefix, etcdserverpb.RangeRequest_SortOrder.DESCEND, maxCreateRev)) },
    ];
    if (ownKey) ops.push({ requestRange: etcdserverpb.RangeRequest.fromPartial({ key: ownKey }) });
    // One read-only txn: both answers at the same revision.
    const resp = await kv.txn({ success: ops });
    const header = resp.header ?? kv.header(0n);
    const last = resp.responses[0]?.responseRange?.kvs ?? [];
    if (ownKey && (resp.responses[1]?.responseRange?.kvs ?? []).length === 0) throw new RecipeError(ErrSessionExpired);
    if (last.length === 0) return header;
    await waitDelete(kv, last[0].key, header.revision + 1n, ownKey, signal);
  }
}

/** Resolves on the deletion of `key` at or after `fromRev`; see waitDeletes for ownKey and signal. */
export function waitDelete(kv: RecipeKv, key: Buffer, fromRev: bigint, ownKey: Buffer | undefined, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    let w: RecipeWatch | undefined;
    let settled = false;
    let unlisten = () => {};
    const done = (err?: unknown) => {
      if (settled) return;
      settled = true;
      w?.close();
      unlisten();
      if (err === undefined) resolve();
      else reject(err);
    };
    unlisten = rejectOnAbort(signal, done);
    if (signal.aborted) return;
    const specs = [{ key, startRev: fromRev, noPut: true }];
    if (ownKey) specs.push({ key: ownKey, startRev: fromRev, noPut: true });
    try {
      w = kv.watch(specs, (r) => {
        if (r.compactRevision > 0n) done(new RecipeError('etcdserver: mvcc: required revision has been compacted'));
        else if (r.events.length === 0) return;
        else if (r.watchId === 1n) done(new RecipeError(ErrSessionExpired));
        else done();
      });
      if (settled) w.close();
    } catch (err) {
      done(err);
    }
  });
}

/**
 * A recipe's failure as a gRPC status the way etcd sends it: etcd's lock and election servers
 * return the in-process client's errors, which are plain Go errors there, so every etcd text
 * (`etcdserver: requested lease not found`, `election: not leader`, ...) goes out as UNKNOWN.
 */
export function recipeServiceError(err: unknown): ServiceError {
  const se = toServiceError(err);
  if (err instanceof AbortedError) {
    se.code = status.CANCELLED;
    return se;
  }
  // As etcd 3.4, even `etcdserver: no leader` (UNAVAILABLE on the KV service) arrives as UNKNOWN:
  // a Lock or Campaign is not idempotent, so clients must not retry it blindly anyway.
  se.code = status.UNKNOWN;
  return se;
}

/** A unary handler of a recipe: gets the call's cancellation signal, fails as recipeServiceError. */
export function recipeUnary<Req, Res>(fn: (req: Req, signal: AbortSignal, metadata: Metadata) => Promise<Res>) {
  return (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>): void => {
    fn(call.request, callSignal(call as ServerUnaryCall<unknown, unknown>), call.metadata).then(
      (res) => callback(null, res),
      (err) => callback(recipeServiceError(err)),
    );
  };
}

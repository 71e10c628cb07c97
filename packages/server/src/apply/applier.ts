// The apply path: turns one committed log entry (an InternalRaftRequest) into changes of the
// state machine — mvcc, leases, alarms — inside the batch of the current commit group.
//
// Invariants:
// - apply() is called in log order, one entry at a time, never concurrently; the caller commits
//   the batch (with the consistent index) before publishing the writes or answering anyone.
// - An entry that fails with a request error (lease not found, compacted, ...: RpcError or
//   @kv/mvcc's KvError) changes nothing — the KV request layer validates before it writes — and
//   its error becomes the entry's result. Anything else thrown here (a bug, a backend read that
//   failed) is an ApplyFault: it propagates, the batch is never committed and the member stops,
//   because every member must apply every entry alike or the members diverge (etcd panics).
// - Every member applies the same entries to the same state and reaches the same state: nothing
//   here reads the clock or the member's role, except lease expiry times (not replicated state).
import { etcdserverpb } from '@kv/api';
import { applyDeleteRange, applyPut, applyTxn, type BatchTx, type KVStore, type TxnWrite } from '@kv/mvcc';
import { KvError } from '@kv/mvcc';
import { RpcError } from '../errors.js';
import type { Lessor } from '../lease/lessor.js';
import type { AlarmStore } from './alarms.js';
import type { Membership } from '../cluster/membership.js';
import { applyAuthEntry, checkEntry } from '../auth/apply.js';
import type { AuthStore } from '../auth/store.js';
import type { TokenProvider } from '../auth/token_provider.js';
import { SlowApplyMs, type MemberCounters } from '../metrics/counters.js';

export type Response =
  | etcdserverpb.PutResponse
  | etcdserverpb.DeleteRangeResponse
  | etcdserverpb.TxnResponse
  | etcdserverpb.CompactionResponse
  | etcdserverpb.LeaseGrantResponse
  | etcdserverpb.LeaseRevokeResponse
  | etcdserverpb.LeaseCheckpointResponse
  | etcdserverpb.AlarmResponse
  | { header: etcdserverpb.ResponseHeader | undefined };

export interface ApplyResult {
  resp?: Response;
  err?: unknown;
  /** Resolves when the physical part of a compaction is done (for `physical: true`). */
  compacted?: Promise<void>;
}

/** Writes to the side buckets of the batch being applied. */
function bucketOf(tx: BatchTx, bucket: 'lease' | 'alarm') {
  return {
    put: (k: Buffer, v: Buffer) => tx.put(bucket, k, v),
    del: (k: Buffer) => tx.del(bucket, k),
  };
}

export interface ApplierDeps {
  store: KVStore;
  lessor: Lessor;
  alarms: AlarmStore;
  /** Cluster membership (clustered members): member attributes are published through the log. */
  membership?: Membership;
  /** Users, roles, permissions: the auth link of the chain checks every entry against it. */
  auth: AuthStore;
  /** Where applied Authenticate entries put their tokens (none: Authenticate fails). */
  tokens?: TokenProvider;
  /** Fills a response header (cluster id, member id, raft term) with the given revision. */
  header: (revision: bigint) => etcdserverpb.ResponseHeader;
  /**
   * The member's metric counters (mvcc operations, slow applies). The clock is read for the
   * slow-apply count only, never for anything that reaches the state.
   */
  metrics?: { counters: MemberCounters; now: () => number };
}

/** Errors that answer a request (the same on every member); anything else is a fault. */
export function isRequestError(err: unknown): boolean {
  return err instanceof RpcError || err instanceof KvError;
}

/** An entry could not be applied for a reason other than the request itself: the member must stop. */
export class ApplyFault extends Error {
  override readonly name = 'ApplyFault';
  constructor(
    readonly index: bigint | undefined,
    readonly kind: string,
    cause: unknown,
  ) {
    super(`apply of ${kind} entry${index !== undefined ? ` ${index}` : ''} failed: ${(cause as Error)?.message ?? String(cause)}`, {
      cause,
    });
  }
}

/** The request kind of an entry, for logs and faults. */
export function requestKind(req: etcdserverpb.InternalRaftRequest): string {
  for (const [k, v] of Object.entries(req)) if (k !== 'header' && typeof v === 'object' && v !== null) return k;
  return 'empty';
}

export class Applier {
  constructor(private readonly d: ApplierDeps) {}

  /**
   * Applies one entry. `w` is the write transaction opened for it on `tx`; the caller ends it
   * (via the returned writes) and commits `tx`. A request error becomes the result; anything else
   * throws an ApplyFault (the caller must not commit `tx`).
   */
  async apply(req: etcdserverpb.InternalRaftRequest, tx: BatchTx, w: TxnWrite, index?: bigint): Promise<ApplyResult> {
    const m = this.d.metrics;
    if (!m) return this.applyOne(req, tx, w, index);
    const t0 = m.now();
    try {
      return await this.applyOne(req, tx, w, index);
    } finally {
      if (m.now() - t0 > SlowApplyMs) m.counters.slowApply++;
    }
  }

  private async applyOne(req: etcdserverpb.InternalRaftRequest, tx: BatchTx, w: TxnWrite, index?: bigint): Promise<ApplyResult> {
    try {
      return await this.dispatch(req, tx, w, index ?? 0n);
    } catch (err) {
      if (!isRequestError(err)) throw new ApplyFault(index, requestKind(req), err);
      // Invariant: a request error leaves the entry's write transaction unchanged.
      if (w.changed()) throw new ApplyFault(index, requestKind(req), new Error(`request error after writes: ${(err as Error).message}`));
      return { err };
    }
  }

  private capped(): boolean {
    return this.d.alarms.has(etcdserverpb.AlarmType.NOSPACE) || this.d.alarms.has(etcdserverpb.AlarmType.CORRUPT);
  }

  private async dispatch(req: etcdserverpb.InternalRaftRequest, tx: BatchTx, w: TxnWrite, index: bigint): Promise<ApplyResult> {
    const { lessor, store, auth } = this.d;
    if (this.d.alarms.has(etcdserverpb.AlarmType.CORRUPT) && !req.alarm) {
      throw new RpcError('Corrupt');
    }
    // The auth link (quota is checked before proposing): the requester in the entry's header,
    // at the auth revision it was resolved at, against the store as of this entry.
    checkEntry(auth, lessor, req);
    const authResp = applyAuthEntry(
      auth,
      this.d.tokens,
      req,
      { put: (b, k, v) => tx.put(b, k, v), del: (b, k) => tx.del(b, k) },
      index,
      this.d.header(w.readRev()),
    );
    if (authResp) return { resp: authResp };
    if (req.put) {
      if (this.capped()) throw new RpcError('NoSpace');
      const resp = await applyPut(w, req.put, lessor);
      this.d.metrics?.counters.countPut(req.put);
      resp.header = this.d.header(resp.header?.revision ?? w.rev);
      return { resp };
    }
    if (req.deleteRange) {
      const resp = await applyDeleteRange(w, req.deleteRange);
      if (this.d.metrics) this.d.metrics.counters.deleteRange++;
      resp.header = this.d.header(resp.header?.revision ?? w.readRev());
      return { resp };
    }
    if (req.txn) {
      if (this.capped() && txnPuts(req.txn)) throw new RpcError('NoSpace');
      const resp = await applyTxn(w, req.txn, lessor);
      this.d.metrics?.counters.countTxn(req.txn, resp);
      resp.header = this.d.header(resp.header?.revision ?? w.readRev());
      return { resp };
    }
    if (req.compaction) {
      // Throws synchronously (compacted / future revision); the promise settles once the old
      // revisions are physically gone, which needs this batch committed first: never await it here.
      const compacted = store.compact(req.compaction.revision, tx);
      compacted.catch(() => undefined); // awaited only by a client asking for `physical`
      const resp: etcdserverpb.CompactionResponse = { header: this.d.header(w.readRev()) };
      return { resp, compacted };
    }
    if (req.leaseGrant) {
      if (this.capped()) throw new RpcError('NoSpace');
      const l = lessor.grant(req.leaseGrant.ID, req.leaseGrant.TTL, bucketOf(tx, 'lease'));
      const resp: etcdserverpb.LeaseGrantResponse = { header: this.d.header(w.readRev()), ID: l.id, TTL: l.ttl, error: '' };
      return { resp };
    }
    if (req.leaseRevoke) {
      await lessor.revoke(req.leaseRevoke.ID, w, bucketOf(tx, 'lease'));
      const resp: etcdserverpb.LeaseRevokeResponse = { header: this.d.header(w.readRev()) };
      return { resp };
    }
    if (req.leaseCheckpoint) {
      for (const c of req.leaseCheckpoint.checkpoints) lessor.checkpoint(c.ID, c.remainingTTL, bucketOf(tx, 'lease'));
      return { resp: { header: this.d.header(w.readRev()) } };
    }
    if (req.alarm) {
      return { resp: this.applyAlarm(req.alarm, tx) };
    }
    if (req.v2) {
      this.applyAttributes(req.v2, tx);
      return {};
    }
    throw new RpcError('NotCapable');
  }

  /**
   * A member publishing its name and client URLs: etcd 3.4's v2 request
   * `PUT /0/members/<id hex>/attributes` with `{"name","clientURLs"}`; nothing else of v2 is served.
   */
  private applyAttributes(r: etcdserverpb.Request, tx: BatchTx): void {
    const m = /^\/0\/members\/([0-9a-f]+)\/attributes$/.exec(r.Path);
    if (r.Method !== 'PUT' || !m || !this.d.membership) throw new RpcError('NotCapable');
    let attrs: { name?: string; clientURLs?: string[] };
    try {
      attrs = JSON.parse(r.Val) as { name?: string; clientURLs?: string[] };
    } catch {
      throw new RpcError('NotCapable'); // the same on every member: a request error, not a fault
    }
    this.d.membership.setAttributes(BigInt(`0x${m[1]}`), attrs.name ?? '', attrs.clientURLs ?? [], {
      put: (b, k, v) => tx.put(b, k, v),
      del: (b, k) => tx.del(b, k),
    });
  }

  private applyAlarm(ar: etcdserverpb.AlarmRequest, tx: BatchTx): etcdserverpb.AlarmResponse {
    // etcd 3.4's applier answers alarms without a header, and nothing fills one in later.
    const resp: etcdserverpb.AlarmResponse = { header: undefined, alarms: [] };
    const bucket = bucketOf(tx, 'alarm');
    switch (ar.action) {
      case etcdserverpb.AlarmRequest_AlarmAction.GET:
        resp.alarms = this.d.alarms.get(ar.alarm);
        break;
      case etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE: {
        if (ar.alarm === etcdserverpb.AlarmType.NONE) break;
        const m = this.d.alarms.activate(ar.memberID, ar.alarm, bucket);
        if (m) resp.alarms.push(m);
        break;
      }
      case etcdserverpb.AlarmRequest_AlarmAction.DEACTIVATE: {
        const m = this.d.alarms.deactivate(ar.memberID, ar.alarm, bucket);
        if (m) resp.alarms.push(m);
        break;
      }
    }
    return resp;
  }
}

/**
 * Whether a txn may grow the backend: a put in any branch (etcd's quota cost of a txn is that of
 * its puts, so a txn that only deletes or reads is allowed under NOSPACE). Nested txns count too,
 * where etcd 3.4 looks at the top level only: kv does not let a nested put past the alarm.
 */
export function txnPuts(t: etcdserverpb.TxnRequest): boolean {
  return [...t.success, ...t.failure].some((op) => op.requestPut !== undefined || (op.requestTxn !== undefined && txnPuts(op.requestTxn)));
}

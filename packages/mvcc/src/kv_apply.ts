/**
 * The KV request layer on @kv/api types: what etcd 3.4 does for Range, Put,
 * DeleteRange and Txn, split like etcd splits it:
 *
 * - validation that needs no state (etcd's v3rpc/key.go, run before a request
 *   enters raft): checkRangeRequest, checkPutRequest, checkDeleteRequest,
 *   checkTxnRequest;
 * - application against the store (etcd's etcdserver/apply.go): applyRange,
 *   applyPut, applyDeleteRange, applyTxn.
 *
 * Response headers carry only `revision`; the server fills the rest of the
 * top-level header (nested txn responses keep revision-only headers, as in etcd).
 */
import { etcdserverpb, type mvccpb } from '@kv/api';
import { CompactedError, FutureRevError, KvError } from './errors.js';
import { KVStore, type LeaseBinding, type ReadView, TxnWrite } from './kvstore.js';

type KeyValue = mvccpb.KeyValue;
type RangeRequest = etcdserverpb.RangeRequest;
type RangeResponse = etcdserverpb.RangeResponse;
type PutRequest = etcdserverpb.PutRequest;
type PutResponse = etcdserverpb.PutResponse;
type DeleteRangeRequest = etcdserverpb.DeleteRangeRequest;
type DeleteRangeResponse = etcdserverpb.DeleteRangeResponse;
type TxnRequest = etcdserverpb.TxnRequest;
type TxnResponse = etcdserverpb.TxnResponse;
type RequestOp = etcdserverpb.RequestOp;
type ResponseOp = etcdserverpb.ResponseOp;
type Compare = etcdserverpb.Compare;

const { SortOrder, SortTarget, CompareResult, CompareTarget } = {
  SortOrder: etcdserverpb.RangeRequest_SortOrder,
  SortTarget: etcdserverpb.RangeRequest_SortTarget,
  CompareResult: etcdserverpb.Compare_CompareResult,
  CompareTarget: etcdserverpb.Compare_CompareTarget,
};

export { KvError };

function header(revision: bigint): etcdserverpb.ResponseHeader {
  return { clusterId: 0n, memberId: 0n, revision, raftTerm: 0n };
}

/** A request's range end as the store takes it: an absent (empty) end means the single key. */
function rangeEndOf(rangeEnd: Buffer | undefined): Buffer | undefined {
  return rangeEnd === undefined || rangeEnd.length === 0 ? undefined : rangeEnd;
}

// ---- stateless validation (v3rpc) -------------------------------------------

export function checkRangeRequest(req: RangeRequest): void {
  if (req.key.length === 0) throw new KvError('EmptyKey');
}

export function checkPutRequest(req: PutRequest): void {
  if (req.key.length === 0) throw new KvError('EmptyKey');
  if (req.ignoreValue && req.value.length !== 0) throw new KvError('ValueProvided');
  if (req.ignoreLease && req.lease !== 0n) throw new KvError('LeaseProvided');
}

export function checkDeleteRequest(req: DeleteRangeRequest): void {
  if (req.key.length === 0) throw new KvError('EmptyKey');
}

/**
 * etcd's Txn validation: operation count (per branch and compare list, nested
 * txns get the remaining budget), per-op checks, then the "duplicate key"
 * check of puts against other puts and deletes in both branches.
 */
export function checkTxnRequest(req: TxnRequest, maxTxnOps: number): void {
  checkTxnOps(req, maxTxnOps);
  checkIntervals(req.success);
  checkIntervals(req.failure);
}

function checkTxnOps(req: TxnRequest, maxTxnOps: number): void {
  const opc = Math.max(req.compare.length, req.success.length, req.failure.length);
  if (opc > maxTxnOps) throw new KvError('TooManyOps');
  for (const c of req.compare) if (c.key.length === 0) throw new KvError('EmptyKey');
  for (const op of req.success) checkRequestOp(op, maxTxnOps - opc);
  for (const op of req.failure) checkRequestOp(op, maxTxnOps - opc);
}

function checkRequestOp(op: RequestOp, maxTxnOps: number): void {
  if (op.requestRange !== undefined) return checkRangeRequest(op.requestRange);
  if (op.requestPut !== undefined) return checkPutRequest(op.requestPut);
  if (op.requestDeleteRange !== undefined) return checkDeleteRequest(op.requestDeleteRange);
  if (op.requestTxn !== undefined) return checkTxnOps(op.requestTxn, maxTxnOps);
  throw new KvError('KeyNotFound'); // an empty op, as etcd answers it
}

/**
 * A deleted interval as etcd's interval tree sees it: [begin, end) over
 * strings where an empty end means "to infinity". A put's key k collides with
 * it when begin <= k < end. (An end like "\0" below begin yields an empty
 * interval, so a from-key delete never collides; that is etcd 3.4's behaviour.)
 */
interface Interval {
  begin: Buffer;
  end: Buffer | undefined; // undefined = infinity
}

function intervalOf(d: DeleteRangeRequest): Interval {
  if (d.rangeEnd.length === 0) {
    // a point: [key, key+"\0")
    return { begin: d.key, end: Buffer.concat([d.key, Buffer.from([0])]) };
  }
  return { begin: d.key, end: d.rangeEnd };
}

function hits(dels: Interval[], key: Buffer): boolean {
  for (const iv of dels) {
    if (Buffer.compare(iv.begin, key) <= 0 && (iv.end === undefined || Buffer.compare(key, iv.end) < 0)) return true;
  }
  return false;
}

/** Returns the puts of this level and below, and the deletes; throws DuplicateKey on a collision. */
function checkIntervals(reqs: RequestOp[]): { puts: Set<string>; dels: Interval[] } {
  const dels: Interval[] = [];
  for (const op of reqs) if (op.requestDeleteRange !== undefined) dels.push(intervalOf(op.requestDeleteRange));

  const puts = new Set<string>();
  const keyOf = (s: string): Buffer => Buffer.from(s, 'latin1');
  for (const op of reqs) {
    if (op.requestTxn === undefined) continue;
    const thenSide = checkIntervals(op.requestTxn.success);
    const elseSide = checkIntervals(op.requestTxn.failure);
    for (const k of thenSide.puts) {
      if (puts.has(k) || hits(dels, keyOf(k))) throw new KvError('DuplicateKey');
      puts.add(k);
    }
    for (const k of elseSide.puts) {
      // the same key in both branches of one txn is fine: only one branch runs
      if (puts.has(k) && !thenSide.puts.has(k)) throw new KvError('DuplicateKey');
      if (hits(dels, keyOf(k))) throw new KvError('DuplicateKey');
      puts.add(k);
    }
    for (const iv of [...thenSide.dels, ...elseSide.dels]) if (isProperInterval(iv)) dels.push(iv);
  }

  for (const op of reqs) {
    if (op.requestPut === undefined) continue;
    const k = op.requestPut.key.toString('latin1');
    if (puts.has(k) || hits(dels, op.requestPut.key)) throw new KvError('DuplicateKey');
    puts.add(k);
  }
  return { puts, dels };
}

/** Whether etcd's union of a nested txn's deletes (over ["\0", inf)) would carry the interval up. */
function isProperInterval(iv: Interval): boolean {
  return iv.end === undefined || Buffer.compare(iv.begin, iv.end) < 0;
}

// ---- Range ---------------------------------------------------------------------

type Cmp = (a: KeyValue, b: KeyValue) => number;
const cmpBig = (a: bigint, b: bigint): number => (a < b ? -1 : a > b ? 1 : 0);
const SORTERS = new Map<number, Cmp>([
  [SortTarget.KEY, (a, b) => Buffer.compare(a.key, b.key)],
  [SortTarget.VERSION, (a, b) => cmpBig(a.version, b.version)],
  [SortTarget.CREATE, (a, b) => cmpBig(a.createRevision, b.createRevision)],
  [SortTarget.MOD, (a, b) => cmpBig(a.modRevision, b.modRevision)],
  [SortTarget.VALUE, (a, b) => Buffer.compare(a.value, b.value)],
]);

/**
 * etcd's Range: fetches limit+1 to know `more` (everything when sorting or
 * filtering), prunes by min/max mod/create revision, sorts (a non-KEY target
 * with order NONE sorts ascending), truncates to the limit. `count` is the
 * number of keys in the range before filtering and limiting.
 * Sorting is stable (etcd's sort.Sort is not, for more than 12 items: ties
 * may come out in a different order than etcd's).
 */
export async function applyRange(view: ReadView, req: RangeRequest): Promise<RangeResponse> {
  let limit = req.limit;
  if (
    req.sortOrder !== SortOrder.NONE ||
    req.minModRevision !== 0n ||
    req.maxModRevision !== 0n ||
    req.minCreateRevision !== 0n ||
    req.maxCreateRevision !== 0n
  ) {
    limit = 0n; // fetch everything; sort and truncate afterwards
  }
  if (limit > 0n) limit += 1n; // one extra to learn 'more'

  const rr = await view.range(req.key, rangeEndOf(req.rangeEnd), {
    limit: limit > 0n ? Number(limit) : 0,
    rev: req.revision,
    countOnly: req.countOnly,
    // the store then skips the values (unless they are sorted by)
    keysOnly: req.keysOnly && req.sortTarget !== SortTarget.VALUE,
  });

  let kvs = rr.kvs;
  if (req.maxModRevision !== 0n) kvs = kvs.filter((kv) => !(kv.modRevision > req.maxModRevision));
  if (req.minModRevision !== 0n) kvs = kvs.filter((kv) => !(kv.modRevision < req.minModRevision));
  if (req.maxCreateRevision !== 0n) kvs = kvs.filter((kv) => !(kv.createRevision > req.maxCreateRevision));
  if (req.minCreateRevision !== 0n) kvs = kvs.filter((kv) => !(kv.createRevision < req.minCreateRevision));

  let order = req.sortOrder;
  if (req.sortTarget !== SortTarget.KEY && order === SortOrder.NONE) order = SortOrder.ASCEND;
  if (order !== SortOrder.NONE) {
    const cmp = SORTERS.get(req.sortTarget);
    if (cmp !== undefined) {
      if (order === SortOrder.ASCEND) kvs = [...kvs].sort(cmp);
      else if (order === SortOrder.DESCEND) kvs = [...kvs].sort((a, b) => cmp(b, a));
    }
  }

  let more = false;
  if (req.limit > 0n && kvs.length > Number(req.limit)) {
    kvs = kvs.slice(0, Number(req.limit));
    more = true;
  }
  if (req.keysOnly) kvs = kvs.map((kv) => ({ ...kv, value: Buffer.alloc(0) }));
  return { header: header(rr.rev), kvs, more, count: BigInt(rr.count) };
}

// ---- Put -------------------------------------------------------------------------

function leaseExists(leases: LeaseBinding | undefined, id: bigint): boolean {
  return leases !== undefined && leases.exists(id);
}

/** etcd's Put outside a txn: the lease must exist, then as inside a txn. */
export async function applyPut(w: TxnWrite, req: PutRequest, leases?: LeaseBinding): Promise<PutResponse> {
  if (req.lease !== 0n && !leaseExists(leases ?? w.kv.leases, req.lease)) throw new KvError('LeaseNotFound');
  return putInTxn(w, req);
}

/** etcd's Put inside a write txn (the lease was checked before the txn started). */
async function putInTxn(w: TxnWrite, req: PutRequest): Promise<PutResponse> {
  let prev: KeyValue | undefined;
  if (req.ignoreValue || req.ignoreLease || req.prevKv) {
    const rr = await w.range(req.key, undefined, {});
    prev = rr.kvs[0];
  }
  if ((req.ignoreValue || req.ignoreLease) && prev === undefined) throw new KvError('KeyNotFound');
  const value = req.ignoreValue ? prev!.value : req.value;
  const lease = req.ignoreLease ? prev!.lease : req.lease;
  w.putNow(req.key, value, lease);
  return { header: header(w.rev), prevKv: req.prevKv ? prev : undefined };
}

// ---- DeleteRange -------------------------------------------------------------------

export async function applyDeleteRange(w: TxnWrite, req: DeleteRangeRequest): Promise<DeleteRangeResponse> {
  const end = rangeEndOf(req.rangeEnd);
  let prevKvs: KeyValue[] = [];
  if (req.prevKv) prevKvs = (await w.range(req.key, end, {})).kvs;
  const deleted = w.deleteRangeNow(req.key, end);
  return { header: header(w.readRev()), deleted: BigInt(deleted), prevKvs };
}

// ---- Txn -----------------------------------------------------------------------------

/** etcd's isTxnReadonly: every op of both branches is a Range (a nested txn is not). */
export function isTxnReadonly(req: TxnRequest): boolean {
  return req.success.every((op) => op.requestRange !== undefined) && req.failure.every((op) => op.requestRange !== undefined);
}

/** etcd's isTxnSerializable: every op of both branches is a serializable Range. */
export function isTxnSerializable(req: TxnRequest): boolean {
  const ser = (op: RequestOp): boolean => op.requestRange !== undefined && op.requestRange.serializable;
  return req.success.every(ser) && req.failure.every(ser);
}

function writesAnything(req: TxnRequest): boolean {
  for (const op of [...req.success, ...req.failure]) {
    if (op.requestPut !== undefined || op.requestDeleteRange !== undefined) return true;
    if (op.requestTxn !== undefined && writesAnything(op.requestTxn)) return true;
  }
  return false;
}

/**
 * etcd's Txn. All compares (nested ones included) are evaluated first, on the
 * state before the txn; then the ops of the chosen branches are checked
 * (ignore_value/ignore_lease need the key, the lease must exist, range
 * revisions must be in reach) and applied in order. The header revision is
 * the txn's revision if it changed anything, else the revision it read at.
 *
 * `view` may be a read view (KVStore.readView(), pinned at one revision) for a
 * txn that writes nothing (a read-only txn served outside the apply loop);
 * otherwise it must be a fresh TxnWrite.
 */
export async function applyTxn(view: ReadView | TxnWrite, req: TxnRequest, leases?: LeaseBinding): Promise<TxnResponse> {
  if (!(view instanceof TxnWrite) && writesAnything(req)) {
    throw new Error('mvcc: a txn that writes must be applied on a TxnWrite');
  }
  const path = await compareToPath(view, req);
  if (!isTxnReadonly(req)) {
    const lb = leases ?? (view instanceof TxnWrite ? view.kv.leases : view instanceof KVStore ? view.leases : undefined);
    await checkRequests(view, req, path, 0, (op) => checkRequestPut(view, op, lb));
  }
  await checkRequests(view, req, path, 0, (op) => checkRequestRange(view, op));
  const { resp } = newTxnResp(req, path, 0);
  await applyTxnOps(view, req, path, 0, resp);
  resp.header = header(view.readRev());
  return resp;
}

/** The outcome of every (nested) compare list along the chosen branches, in depth-first order. */
async function compareToPath(rv: ReadView, req: TxnRequest): Promise<boolean[]> {
  const ok = await applyCompares(rv, req.compare);
  const path = [ok];
  for (const op of ok ? req.success : req.failure) {
    if (op.requestTxn !== undefined) path.push(...(await compareToPath(rv, op.requestTxn)));
  }
  return path;
}

async function applyCompares(rv: ReadView, cmps: Compare[]): Promise<boolean> {
  for (const c of cmps) if (!(await applyCompare(rv, c))) return false;
  return true;
}

/** A compare holds when every key in its range satisfies it; a missing key compares as an empty KeyValue (except on VALUE, which fails). */
async function applyCompare(rv: ReadView, c: Compare): Promise<boolean> {
  let kvs: KeyValue[];
  try {
    kvs = (await rv.range(c.key, rangeEndOf(c.rangeEnd), {})).kvs;
  } catch {
    return false;
  }
  if (kvs.length === 0) {
    if (c.target === CompareTarget.VALUE) return false; // no way to express "missing value"
    return compareKV(c, { key: c.key, createRevision: 0n, modRevision: 0n, version: 0n, value: Buffer.alloc(0), lease: 0n });
  }
  return kvs.every((kv) => compareKV(c, kv));
}

function compareKV(c: Compare, kv: KeyValue): boolean {
  let result = 0;
  switch (c.target) {
    case CompareTarget.VALUE:
      result = Buffer.compare(kv.value, c.value ?? Buffer.alloc(0));
      break;
    case CompareTarget.CREATE:
      result = cmpBig(kv.createRevision, c.createRevision ?? 0n);
      break;
    case CompareTarget.MOD:
      result = cmpBig(kv.modRevision, c.modRevision ?? 0n);
      break;
    case CompareTarget.VERSION:
      result = cmpBig(kv.version, c.version ?? 0n);
      break;
    case CompareTarget.LEASE:
      result = cmpBig(kv.lease, c.lease ?? 0n);
      break;
  }
  switch (c.result) {
    case CompareResult.EQUAL:
      return result === 0;
    case CompareResult.NOT_EQUAL:
      return result !== 0;
    case CompareResult.GREATER:
      return result > 0;
    case CompareResult.LESS:
      return result < 0;
  }
  return true;
}

/**
 * Runs `f` on every non-txn op of the chosen branches, depth first.
 * Returns the number of nested txns visited (to advance along `path`).
 */
async function checkRequests(
  rv: ReadView,
  req: TxnRequest,
  path: boolean[],
  at: number,
  f: (op: RequestOp) => Promise<void> | void,
): Promise<number> {
  let nested = 0;
  let cursor = at + 1;
  for (const op of path[at] ? req.success : req.failure) {
    if (op.requestTxn !== undefined) {
      const n = await checkRequests(rv, op.requestTxn, path, cursor, f);
      nested += n + 1;
      cursor += n + 1;
      continue;
    }
    await f(op);
  }
  return nested;
}

async function checkRequestPut(rv: ReadView, op: RequestOp, leases: LeaseBinding | undefined): Promise<void> {
  const req = op.requestPut;
  if (req === undefined) return;
  if (req.ignoreValue || req.ignoreLease) {
    const rr = await rv.range(req.key, undefined, {});
    if (rr.kvs.length === 0) throw new KvError('KeyNotFound');
  }
  if (req.lease !== 0n && !leaseExists(leases, req.lease)) throw new KvError('LeaseNotFound');
}

function checkRequestRange(rv: ReadView, op: RequestOp): void {
  const req = op.requestRange;
  if (req === undefined || req.revision === 0n) return;
  if (req.revision > rv.readRev()) throw new FutureRevError();
  if (req.revision < rv.firstRev()) throw new CompactedError();
}

/** The response skeleton for the chosen branches; returns it and the number of nested txns it covers. */
function newTxnResp(req: TxnRequest, path: boolean[], at: number): { resp: TxnResponse; nested: number } {
  const succeeded = path[at];
  const responses: ResponseOp[] = [];
  let nested = 0;
  let cursor = at + 1;
  for (const op of succeeded ? req.success : req.failure) {
    if (op.requestTxn !== undefined) {
      const sub = newTxnResp(op.requestTxn, path, cursor);
      responses.push({ responseTxn: sub.resp });
      nested += sub.nested + 1;
      cursor += sub.nested + 1;
    } else {
      responses.push({});
    }
  }
  return { resp: { header: header(0n), succeeded, responses }, nested };
}

async function applyTxnOps(view: ReadView, req: TxnRequest, path: boolean[], at: number, resp: TxnResponse): Promise<number> {
  let nested = 0;
  let cursor = at + 1;
  const ops = path[at] ? req.success : req.failure;
  for (let i = 0; i < ops.length; i++) {
    const op = ops[i];
    const out = resp.responses[i];
    if (op.requestRange !== undefined) {
      out.responseRange = await applyRange(view, op.requestRange);
    } else if (op.requestPut !== undefined) {
      out.responsePut = await putInTxn(asWrite(view), op.requestPut);
    } else if (op.requestDeleteRange !== undefined) {
      out.responseDeleteRange = await applyDeleteRange(asWrite(view), op.requestDeleteRange);
    } else if (op.requestTxn !== undefined) {
      const n = await applyTxnOps(view, op.requestTxn, path, cursor, out.responseTxn!);
      nested += n + 1;
      cursor += n + 1;
    }
  }
  return nested;
}

function asWrite(view: ReadView): TxnWrite {
  if (!(view instanceof TxnWrite)) throw new Error('mvcc: a txn that writes must be applied on a TxnWrite');
  return view;
}

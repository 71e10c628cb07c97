import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { etcdserverpb, ErrorText, type mvccpb } from '@kv/api';
import { CompactedError, FutureRevError, KvError } from './errors.js';
import {
  applyDeleteRange,
  applyPut,
  applyRange,
  applyTxn,
  checkDeleteRequest,
  checkPutRequest,
  checkRangeRequest,
  checkTxnRequest,
} from './kv_apply.js';
import type { TxnWrite } from './kvstore.js';
import { FakeLeases, b, openStore, str, tempDirs, type Opened } from './testdata/store_helpers.js';

const { RangeRequest, PutRequest, DeleteRangeRequest, TxnRequest, Compare, RequestOp } = etcdserverpb;
const { SortOrder, SortTarget, CR, CT } = {
  SortOrder: etcdserverpb.RangeRequest_SortOrder,
  SortTarget: etcdserverpb.RangeRequest_SortTarget,
  CR: etcdserverpb.Compare_CompareResult,
  CT: etcdserverpb.Compare_CompareTarget,
};

const dirs = tempDirs();
let o: Opened;
let leases: FakeLeases;
beforeEach(async () => {
  leases = new FakeLeases();
  leases.grant(100n);
  o = await openStore(await dirs.make(), { leases });
});
afterEach(async () => {
  await o.close();
  await dirs.cleanup();
});

const rangeReq = (p: Partial<etcdserverpb.RangeRequest>) => RangeRequest.fromPartial(p);
const putOp = (k: string, v: string, p: Partial<etcdserverpb.PutRequest> = {}) =>
  RequestOp.fromPartial({ requestPut: { key: b(k), value: b(v), ...p } });
const delOp = (k: string, end?: Buffer, p: Partial<etcdserverpb.DeleteRangeRequest> = {}) =>
  RequestOp.fromPartial({ requestDeleteRange: { key: b(k), rangeEnd: end, ...p } });
const rangeOp = (k: string, p: Partial<etcdserverpb.RangeRequest> = {}) => RequestOp.fromPartial({ requestRange: { key: b(k), ...p } });
const txnOp = (t: Partial<etcdserverpb.TxnRequest>) => RequestOp.fromPartial({ requestTxn: t });
const cmp = (k: string, target: number, result: number, v: Partial<etcdserverpb.Compare>) =>
  Compare.fromPartial({ key: b(k), target, result, ...v });

/** Applies a request in its own write txn (one apply-loop step). */
async function step<T>(fn: (w: TxnWrite) => Promise<T>): Promise<T> {
  let out!: T;
  await o.write(async (w) => {
    out = await fn(w);
  });
  return out;
}
const put = (k: string, v: string, p: Partial<etcdserverpb.PutRequest> = {}) =>
  step((w) => applyPut(w, PutRequest.fromPartial({ key: b(k), value: b(v), ...p })));
const txn = (t: Partial<etcdserverpb.TxnRequest>) => step((w) => applyTxn(w, TxnRequest.fromPartial(t)));
const keys = (kvs: mvccpb.KeyValue[]) => kvs.map((kv) => str(kv.key));

async function kvError(p: Promise<unknown> | (() => unknown), name: string): Promise<void> {
  let err: unknown;
  try {
    await (typeof p === 'function' ? p() : p);
  } catch (e) {
    err = e;
  }
  expect(err).toBeInstanceOf(KvError);
  expect((err as KvError).name).toBe(name);
}

describe('request validation (v3rpc)', () => {
  it('rejects empty keys and contradictory put flags with etcd texts', () => {
    expect(() => checkRangeRequest(rangeReq({}))).toThrow(ErrorText.EmptyKey);
    expect(() => checkDeleteRequest(DeleteRangeRequest.fromPartial({}))).toThrow(ErrorText.EmptyKey);
    expect(() => checkPutRequest(PutRequest.fromPartial({ value: b('v') }))).toThrow(ErrorText.EmptyKey);
    expect(() => checkPutRequest(PutRequest.fromPartial({ key: b('k'), value: b('v'), ignoreValue: true }))).toThrow(
      ErrorText.ValueProvided,
    );
    expect(() => checkPutRequest(PutRequest.fromPartial({ key: b('k'), lease: 5n, ignoreLease: true }))).toThrow(ErrorText.LeaseProvided);
    checkPutRequest(PutRequest.fromPartial({ key: b('k'), ignoreValue: true, ignoreLease: true }));
  });

  it('limits txn operations per list, nested txns get the remaining budget', async () => {
    const ops = (n: number) => Array.from({ length: n }, (_, i) => rangeOp(`k${i}`));
    checkTxnRequest(TxnRequest.fromPartial({ success: ops(3), failure: ops(3) }), 3);
    await kvError(() => checkTxnRequest(TxnRequest.fromPartial({ success: ops(4) }), 3), 'TooManyOps');
    await kvError(() => checkTxnRequest(TxnRequest.fromPartial({ failure: ops(4) }), 3), 'TooManyOps');
    const cmps = [1, 2, 3, 4].map((i) => cmp(`c${i}`, CT.VERSION, CR.EQUAL, { version: 0n }));
    await kvError(() => checkTxnRequest(TxnRequest.fromPartial({ compare: cmps }), 3), 'TooManyOps');
    // outer uses 2 of 4: the nested txn may use 2
    checkTxnRequest(TxnRequest.fromPartial({ success: [rangeOp('a'), txnOp({ success: ops(2) })] }), 4);
    await kvError(() => checkTxnRequest(TxnRequest.fromPartial({ success: [rangeOp('a'), txnOp({ success: ops(3) })] }), 4), 'TooManyOps');
    await kvError(() => checkTxnRequest(TxnRequest.fromPartial({ compare: [Compare.fromPartial({})] }), 3), 'EmptyKey');
    await kvError(() => checkTxnRequest(TxnRequest.fromPartial({ success: [RequestOp.fromPartial({})] }), 3), 'KeyNotFound');
    await kvError(() => checkTxnRequest(TxnRequest.fromPartial({ success: [putOp('', 'v')] }), 3), 'EmptyKey');
  });

  it('rejects a key put twice or put and deleted in one txn, as etcd does', async () => {
    const dup = (t: Partial<etcdserverpb.TxnRequest>) => kvError(() => checkTxnRequest(TxnRequest.fromPartial(t), 128), 'DuplicateKey');
    const ok = (t: Partial<etcdserverpb.TxnRequest>) => checkTxnRequest(TxnRequest.fromPartial(t), 128);
    await dup({ success: [putOp('a', '1'), putOp('a', '2')] });
    await dup({ failure: [putOp('a', '1'), putOp('a', '2')] });
    await dup({ success: [delOp('a'), putOp('a', '1')] });
    await dup({ success: [putOp('b', '1'), delOp('a', b('c'))] });
    await dup({ success: [putOp('a', '1'), txnOp({ success: [putOp('a', '2')] })] });
    await dup({ success: [delOp('a'), txnOp({ failure: [putOp('a', '2')] })] });
    await dup({ success: [txnOp({ success: [delOp('a', b('z'))] }), putOp('m', '1')] });
    ok({ success: [putOp('a', '1')], failure: [putOp('a', '2')] }); // different branches
    ok({ success: [txnOp({ success: [putOp('a', '1')], failure: [putOp('a', '2')] })] }); // then/else of one nested txn
    ok({ success: [putOp('a', '1'), putOp('b', '1'), delOp('c')] });
    ok({ success: [delOp('a'), delOp('a')] }); // deletes may overlap
    ok({ success: [putOp('c', '1'), delOp('a', b('c'))] }); // end is exclusive
    // etcd 3.4 builds the interval [key, "\0") for a from-key delete, which never collides
    ok({ success: [delOp('a', Buffer.from([0])), putOp('b', '1')] });
  });
});

describe('Range', () => {
  beforeEach(async () => {
    // k1..k5 at revisions 2..6, then k2 and k4 rewritten at 7 and 8
    for (const k of ['k1', 'k2', 'k3', 'k4', 'k5']) await put(k, k === 'k3' ? 'z' : 'v');
    await put('k2', 'w');
    await put('k4', 'w');
  });

  it('single key, range, prefix, from-key', async () => {
    const r = await applyRange(o.store, rangeReq({ key: b('k2') }));
    expect(r.kvs.map((kv) => [str(kv.key), str(kv.value), kv.version])).toEqual([['k2', 'w', 2n]]);
    expect(r.header!.revision).toBe(8n);
    expect(r.count).toBe(1n);
    expect(r.more).toBe(false);
    expect(keys((await applyRange(o.store, rangeReq({ key: b('k2'), rangeEnd: b('k4') }))).kvs)).toEqual(['k2', 'k3']);
    expect(keys((await applyRange(o.store, rangeReq({ key: b('k'), rangeEnd: b('l') }))).kvs)).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
    expect(keys((await applyRange(o.store, rangeReq({ key: b('k3'), rangeEnd: Buffer.from([0]) }))).kvs)).toEqual(['k3', 'k4', 'k5']);
    expect((await applyRange(o.store, rangeReq({ key: b('nope') }))).kvs).toEqual([]);
  });

  it('limit sets more; count is the whole range', async () => {
    const r = await applyRange(o.store, rangeReq({ key: b('k'), rangeEnd: b('l'), limit: 2n }));
    expect([keys(r.kvs), r.more, r.count]).toEqual([['k1', 'k2'], true, 5n]);
    const all = await applyRange(o.store, rangeReq({ key: b('k'), rangeEnd: b('l'), limit: 5n }));
    expect([all.kvs.length, all.more, all.count]).toEqual([5, false, 5n]);
    const neg = await applyRange(o.store, rangeReq({ key: b('k'), rangeEnd: b('l'), limit: -1n }));
    expect([neg.kvs.length, neg.more]).toEqual([5, false]);
  });

  it('reads at a revision; compacted and future revisions fail', async () => {
    const r = await applyRange(o.store, rangeReq({ key: b('k'), rangeEnd: b('l'), revision: 3n }));
    expect([keys(r.kvs), r.count, r.header!.revision]).toEqual([['k1', 'k2'], 2n, 8n]);
    await kvError(applyRange(o.store, rangeReq({ key: b('k1'), revision: 9n })), 'FutureRev');
    const tx = o.backend.newBatch();
    const done = o.store.compact(5n, tx);
    await o.backend.commit(tx, { sync: false });
    await done;
    await expect(applyRange(o.store, rangeReq({ key: b('k1'), revision: 4n }))).rejects.toBeInstanceOf(CompactedError);
    expect((await applyRange(o.store, rangeReq({ key: b('k1'), revision: 5n }))).kvs.length).toBe(1);
  });

  it('sorts: KEY+NONE keeps key order, other targets default to ascending, ties keep key order', async () => {
    const q = (p: Partial<etcdserverpb.RangeRequest>) =>
      applyRange(o.store, rangeReq({ key: b('k'), rangeEnd: b('l'), ...p })).then((r) => keys(r.kvs));
    expect(await q({ sortTarget: SortTarget.KEY })).toEqual(['k1', 'k2', 'k3', 'k4', 'k5']);
    expect(await q({ sortTarget: SortTarget.KEY, sortOrder: SortOrder.DESCEND })).toEqual(['k5', 'k4', 'k3', 'k2', 'k1']);
    // the same orders as etcd 3.4 gives for this data
    expect(await q({ sortTarget: SortTarget.VERSION })).toEqual(['k1', 'k3', 'k5', 'k2', 'k4']);
    expect(await q({ sortTarget: SortTarget.VERSION, sortOrder: SortOrder.ASCEND })).toEqual(['k1', 'k3', 'k5', 'k2', 'k4']);
    expect(await q({ sortTarget: SortTarget.VERSION, sortOrder: SortOrder.DESCEND })).toEqual(['k2', 'k4', 'k1', 'k3', 'k5']);
    expect(await q({ sortTarget: SortTarget.VALUE, sortOrder: SortOrder.DESCEND })).toEqual(['k3', 'k2', 'k4', 'k1', 'k5']);
    expect(await q({ sortTarget: SortTarget.MOD, sortOrder: SortOrder.DESCEND })).toEqual(['k4', 'k2', 'k5', 'k3', 'k1']);
    expect(await q({ sortTarget: SortTarget.CREATE, sortOrder: SortOrder.DESCEND })).toEqual(['k5', 'k4', 'k3', 'k2', 'k1']);
    // sorting happens before the limit is applied
    const r = await applyRange(
      o.store,
      rangeReq({ key: b('k'), rangeEnd: b('l'), sortTarget: SortTarget.MOD, sortOrder: SortOrder.DESCEND, limit: 2n }),
    );
    expect([keys(r.kvs), r.more, r.count]).toEqual([['k4', 'k2'], true, 5n]);
  });

  it('keys_only and count_only', async () => {
    const ko = await applyRange(o.store, rangeReq({ key: b('k'), rangeEnd: b('l'), keysOnly: true }));
    expect(ko.kvs.every((kv) => kv.value.length === 0 && kv.modRevision > 0n)).toBe(true);
    const co = await applyRange(o.store, rangeReq({ key: b('k'), rangeEnd: b('l'), countOnly: true }));
    expect([co.kvs, co.count, co.more]).toEqual([[], 5n, false]);
  });

  it('min/max mod/create revision filters prune after fetching; count is not filtered', async () => {
    const q = (p: Partial<etcdserverpb.RangeRequest>) => applyRange(o.store, rangeReq({ key: b('k'), rangeEnd: b('l'), ...p }));
    const minMod = await q({ minModRevision: 6n });
    expect([keys(minMod.kvs), minMod.count]).toEqual([['k2', 'k4', 'k5'], 5n]);
    expect(keys((await q({ maxModRevision: 4n })).kvs)).toEqual(['k1', 'k3']);
    expect(keys((await q({ minCreateRevision: 3n, maxCreateRevision: 5n })).kvs)).toEqual(['k2', 'k3', 'k4']);
    const lim = await q({ minModRevision: 6n, limit: 2n });
    expect([keys(lim.kvs), lim.more, lim.count]).toEqual([['k2', 'k4'], true, 5n]);
    const lim3 = await q({ minModRevision: 6n, limit: 3n });
    expect([keys(lim3.kvs), lim3.more]).toEqual([['k2', 'k4', 'k5'], false]);
  });
});

describe('Put', () => {
  it('returns the new revision and prev_kv', async () => {
    const first = await put('a', '1', { prevKv: true });
    expect(first.header!.revision).toBe(2n);
    expect(first.prevKv).toBeUndefined();
    const second = await put('a', '2', { prevKv: true });
    expect(second.header!.revision).toBe(3n);
    expect([str(second.prevKv!.key), str(second.prevKv!.value), second.prevKv!.modRevision]).toEqual(['a', '1', 2n]);
  });

  it('checks the lease and attaches it', async () => {
    await kvError(put('a', '1', { lease: 5n }), 'LeaseNotFound');
    expect(o.store.currentRev()).toBe(1n);
    await put('a', '1', { lease: 100n });
    expect(leases.keysOf(100n)).toEqual(['a']);
  });

  it('ignore_value and ignore_lease keep the old value/lease; they need the key', async () => {
    await kvError(put('a', '', { ignoreValue: true }), 'KeyNotFound');
    await kvError(put('a', 'x', { ignoreLease: true }), 'KeyNotFound');
    await put('a', 'orig', { lease: 100n });
    await put('a', '', { ignoreValue: true });
    let kv = (await o.store.range(b('a'), undefined)).kvs[0];
    expect([str(kv.value), kv.lease, kv.version]).toEqual(['orig', 0n, 2n]);
    await put('a', 'new', { lease: 100n });
    await put('a', 'newer', { ignoreLease: true });
    kv = (await o.store.range(b('a'), undefined)).kvs[0];
    expect([str(kv.value), kv.lease]).toEqual(['newer', 100n]);
    expect(leases.keysOf(100n)).toEqual(['a']);
  });
});

describe('DeleteRange', () => {
  it('deletes a key or a range, with prev_kvs; a no-op keeps the revision', async () => {
    for (const k of ['a', 'b', 'c', 'd']) await put(k, `v${k}`);
    const one = await step((w) => applyDeleteRange(w, DeleteRangeRequest.fromPartial({ key: b('a'), prevKv: true })));
    expect([one.deleted, keys(one.prevKvs), one.header!.revision]).toEqual([1n, ['a'], 6n]);
    const many = await step((w) => applyDeleteRange(w, DeleteRangeRequest.fromPartial({ key: b('b'), rangeEnd: Buffer.from([0]) })));
    expect([many.deleted, many.prevKvs, many.header!.revision]).toEqual([3n, [], 7n]);
    const none = await step((w) => applyDeleteRange(w, DeleteRangeRequest.fromPartial({ key: b('a'), prevKv: true })));
    expect([none.deleted, none.prevKvs, none.header!.revision]).toEqual([0n, [], 7n]);
    expect(o.store.currentRev()).toBe(7n);
  });
});

describe('Txn', () => {
  beforeEach(async () => {
    await put('a', '1'); // 2
    await put('b', '2', { lease: 100n }); // 3
    await put('a', '3'); // 4  a: create 2, mod 4, version 2
  });

  const holds = async (c: etcdserverpb.Compare) => (await txn({ compare: [c] })).succeeded;

  it('compares VERSION, CREATE, MOD, VALUE, LEASE with all four results', async () => {
    expect(await holds(cmp('a', CT.VERSION, CR.EQUAL, { version: 2n }))).toBe(true);
    expect(await holds(cmp('a', CT.VERSION, CR.GREATER, { version: 1n }))).toBe(true);
    expect(await holds(cmp('a', CT.VERSION, CR.LESS, { version: 2n }))).toBe(false);
    expect(await holds(cmp('a', CT.VERSION, CR.NOT_EQUAL, { version: 2n }))).toBe(false);
    expect(await holds(cmp('a', CT.CREATE, CR.EQUAL, { createRevision: 2n }))).toBe(true);
    expect(await holds(cmp('a', CT.CREATE, CR.LESS, { createRevision: 3n }))).toBe(true);
    expect(await holds(cmp('a', CT.MOD, CR.EQUAL, { modRevision: 4n }))).toBe(true);
    expect(await holds(cmp('a', CT.MOD, CR.GREATER, { modRevision: 4n }))).toBe(false);
    expect(await holds(cmp('a', CT.VALUE, CR.EQUAL, { value: b('3') }))).toBe(true);
    expect(await holds(cmp('a', CT.VALUE, CR.GREATER, { value: b('2') }))).toBe(true);
    expect(await holds(cmp('a', CT.VALUE, CR.LESS, { value: b('3') }))).toBe(false);
    expect(await holds(cmp('a', CT.VALUE, CR.NOT_EQUAL, { value: b('x') }))).toBe(true);
    expect(await holds(cmp('b', CT.LEASE, CR.EQUAL, { lease: 100n }))).toBe(true);
    expect(await holds(cmp('a', CT.LEASE, CR.EQUAL, { lease: 0n }))).toBe(true);
    expect(await holds(cmp('b', CT.LEASE, CR.NOT_EQUAL, { lease: 100n }))).toBe(false);
  });

  it('a missing key compares as zero values; a VALUE compare on it always fails', async () => {
    expect(await holds(cmp('zz', CT.CREATE, CR.EQUAL, { createRevision: 0n }))).toBe(true);
    expect(await holds(cmp('zz', CT.VERSION, CR.EQUAL, { version: 0n }))).toBe(true);
    expect(await holds(cmp('zz', CT.MOD, CR.LESS, { modRevision: 1n }))).toBe(true);
    expect(await holds(cmp('zz', CT.VALUE, CR.EQUAL, { value: b('') }))).toBe(false);
    expect(await holds(cmp('zz', CT.VALUE, CR.NOT_EQUAL, { value: b('x') }))).toBe(false);
  });

  it('a compare with range_end holds only if every key in the range satisfies it', async () => {
    expect(await holds(cmp('a', CT.CREATE, CR.GREATER, { createRevision: 1n, rangeEnd: b('c') }))).toBe(true);
    expect(await holds(cmp('a', CT.CREATE, CR.GREATER, { createRevision: 2n, rangeEnd: b('c') }))).toBe(false);
    expect(await holds(cmp('a', CT.VALUE, CR.NOT_EQUAL, { value: b('9'), rangeEnd: Buffer.from([0]) }))).toBe(true);
    // an empty range compares like a missing key
    expect(await holds(cmp('x', CT.VERSION, CR.EQUAL, { version: 0n, rangeEnd: b('y') }))).toBe(true);
    expect(await holds(cmp('x', CT.VALUE, CR.EQUAL, { value: b(''), rangeEnd: b('y') }))).toBe(false);
  });

  it('runs the chosen branch and answers each op; a write txn gets one new revision', async () => {
    const r = await txn({
      compare: [cmp('a', CT.VALUE, CR.EQUAL, { value: b('3') })],
      success: [putOp('c', '1'), rangeOp('c'), delOp('b', undefined, { prevKv: true }), putOp('d', '1', { prevKv: true })],
      failure: [putOp('x', 'never')],
    });
    expect(r.succeeded).toBe(true);
    expect(r.header!.revision).toBe(5n);
    expect(r.responses.map((x) => Object.keys(x).filter((k) => (x as Record<string, unknown>)[k] !== undefined))).toEqual([
      ['responsePut'],
      ['responseRange'],
      ['responseDeleteRange'],
      ['responsePut'],
    ]);
    expect(r.responses[0].responsePut!.header!.revision).toBe(5n);
    const rr = r.responses[1].responseRange!;
    expect([keys(rr.kvs), rr.kvs[0].modRevision, rr.header!.revision]).toEqual([['c'], 5n, 5n]);
    expect([r.responses[2].responseDeleteRange!.deleted, keys(r.responses[2].responseDeleteRange!.prevKvs)]).toEqual([1n, ['b']]);
    expect(leases.keysOf(100n)).toEqual([]);
    expect(o.store.currentRev()).toBe(5n);

    const f = await txn({
      compare: [cmp('a', CT.VALUE, CR.EQUAL, { value: b('nope') })],
      success: [putOp('x', '1')],
      failure: [rangeOp('a')],
    });
    expect(f.succeeded).toBe(false);
    expect(f.header!.revision).toBe(5n); // read-only outcome: current revision
    expect(keys(f.responses[0].responseRange!.kvs)).toEqual(['a']);
    expect(o.store.currentRev()).toBe(5n);
  });

  it('a read-only txn can be served from the store; its revision is the current one', async () => {
    const r = await applyTxn(o.store, TxnRequest.fromPartial({ success: [rangeOp('a'), rangeOp('b')] }));
    expect([r.succeeded, r.header!.revision, keys(r.responses[1].responseRange!.kvs)]).toEqual([true, 4n, ['b']]);
    await expect(applyTxn(o.store, TxnRequest.fromPartial({ success: [putOp('z', '1')] }))).rejects.toThrow(/TxnWrite/);
  });

  it('nested txns: compares see the state before the txn; responses nest', async () => {
    const r = await txn({
      success: [
        putOp('a', 'changed'),
        txnOp({
          compare: [cmp('a', CT.VALUE, CR.EQUAL, { value: b('3') })], // true: evaluated before the put
          success: [rangeOp('a'), putOp('n', '1')],
          failure: [putOp('n', '2')],
        }),
        txnOp({ compare: [cmp('b', CT.VERSION, CR.EQUAL, { version: 9n })], failure: [putOp('m', '1')] }),
      ],
    });
    expect(r.succeeded).toBe(true);
    const inner = r.responses[1].responseTxn!;
    expect(inner.succeeded).toBe(true);
    expect(str(inner.responses[0].responseRange!.kvs[0].value)).toBe('changed'); // ops see earlier ops
    expect(inner.header!.revision).toBe(0n); // nested headers carry no revision (as in etcd)
    const second = r.responses[2].responseTxn!;
    expect([second.succeeded, second.responses.length]).toEqual([false, 1]);
    expect(r.header!.revision).toBe(5n);
    expect((await o.store.range(b('n'), undefined)).kvs.map((kv) => str(kv.value))).toEqual(['1']);
    expect((await o.store.range(b('m'), undefined)).kvs.map((kv) => str(kv.value))).toEqual(['1']);
  });

  it('checks ops of the chosen branches before applying anything', async () => {
    await kvError(txn({ success: [putOp('new', '1'), putOp('missing', '', { ignoreValue: true })] }), 'KeyNotFound');
    await kvError(txn({ success: [putOp('new', '1'), putOp('k', 'v', { lease: 77n })] }), 'LeaseNotFound');
    await kvError(txn({ success: [putOp('new', '1'), rangeOp('a', { revision: 5n })] }), 'FutureRev');
    expect(o.store.currentRev()).toBe(4n);
    expect((await o.store.range(b('new'), undefined)).kvs).toEqual([]);
    // the failing op is in the branch not taken: fine
    const r = await txn({ success: [putOp('new', '1')], failure: [putOp('missing', '', { ignoreValue: true })] });
    expect(r.succeeded).toBe(true);
    // the range revision is checked against the revision before the txn, even if the txn writes
    await expect(txn({ success: [putOp('q', '1'), rangeOp('q', { revision: 6n })] })).rejects.toBeInstanceOf(FutureRevError);
    const tx = o.backend.newBatch();
    const done = o.store.compact(3n, tx);
    await o.backend.commit(tx, { sync: false });
    await done;
    await expect(txn({ success: [rangeOp('a', { revision: 2n })] })).rejects.toBeInstanceOf(CompactedError);
    expect((await txn({ success: [rangeOp('a', { revision: 3n })] })).responses[0].responseRange!.kvs.length).toBe(1);
  });

  it('ops inside a txn see the earlier ops; a txn of no-op deletes keeps the revision', async () => {
    const r = await txn({ success: [delOp('zzz'), rangeOp('a')] });
    expect(r.header!.revision).toBe(4n);
    expect(r.responses[0].responseDeleteRange!.header!.revision).toBe(4n);
    const r2 = await txn({ success: [putOp('p', '1'), delOp('p', undefined, { prevKv: true }), rangeOp('p')] });
    expect(r2.header!.revision).toBe(5n);
    expect(keys(r2.responses[1].responseDeleteRange!.prevKvs)).toEqual(['p']);
    expect(r2.responses[2].responseRange!.kvs).toEqual([]);
  });
});

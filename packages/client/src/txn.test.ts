// The txn builder: If/Then/Else as in etcd's client, and a clear error when a builder is awaited
// (it has a `then`, so `await` takes it for a promise).
import { etcdserverpb } from '@kv/api';
import { describe, expect, it } from 'vitest';
import { compare, Op, Txn } from './kv.js';

describe('Txn builder', () => {
  it('collects compares, then-ops and else-ops, nested txns included', () => {
    const inner = new Txn().then(Op.get('x'));
    const req = new Txn()
      .if(compare('k', 'value', '=', 'v'))
      .then(Op.put('k', 'w'), inner)
      .else(Op.get('k'))
      .toRequest();
    expect(req.compare).toHaveLength(1);
    expect(req.success).toHaveLength(2);
    expect(req.success[0]!.requestPut).toBeDefined();
    expect(req.success[1]!.requestTxn?.success[0]?.requestRange).toBeDefined();
    expect(req.failure).toHaveLength(1);
  });

  it('rejects when awaited, naming commit(), and takes nothing for an op', async () => {
    const sent: etcdserverpb.TxnRequest[] = [];
    const t = new Txn(async (req) => {
      sent.push(req);
      return etcdserverpb.TxnResponse.fromPartial({ succeeded: true });
    });
    t.then(Op.put('k', 'v'));
    await expect((async () => await (t as unknown as PromiseLike<unknown>))()).rejects.toThrow(
      new TypeError('a Txn is not a promise: call .commit() to send it'),
    );
    await expect(Promise.resolve(t as unknown)).rejects.toBeInstanceOf(TypeError);
    expect(t.toRequest().success).toHaveLength(1);
    expect((await t.commit()).succeeded).toBe(true);
    expect(sent.map((r) => r.success.length)).toEqual([1]);
  });

  it('throws when given a function directly', () => {
    const t = new Txn();
    expect(() => (t.then as unknown as (f: () => void) => Txn).call(t, () => undefined)).toThrow(/not a promise/);
    expect(t.toRequest().success).toHaveLength(0);
  });
});

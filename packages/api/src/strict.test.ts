// checkWire: a table of byte strings → the error etcd (Go protobuf) gives for the same bytes, or
// none. Texts in the table were taken from real etcd 3.4 answering these bytes.
import { describe, expect, it } from 'vitest';
import { etcdserverpb, raftpb } from './index.js';
import { checkWire, goFieldName, maxDepth, maxNestedTxns, requestTypeOf, WireError } from './strict.js';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
function varint(n: number): Buffer {
  const o: number[] = [];
  while (n > 127) {
    o.push((n & 127) | 128);
    n >>>= 7;
  }
  o.push(n);
  return Buffer.from(o);
}
/** A TxnRequest with `n` txns nested inside it (each in the success branch of the one above). */
function nestedTxn(n: number): Buffer {
  let inner = Buffer.alloc(0);
  for (let i = 0; i < n; i++) {
    const op = Buffer.concat([Buffer.from([0x22]), varint(inner.length), inner]); // RequestOp.request_txn
    inner = Buffer.concat([Buffer.from([0x12]), varint(op.length), op]); // TxnRequest.success
  }
  return inner;
}

const encPut = (p: Partial<etcdserverpb.PutRequest>) =>
  Buffer.from(etcdserverpb.PutRequest.encode(etcdserverpb.PutRequest.fromPartial(p)).finish());

const cases: [string, string, Buffer, string | undefined][] = [
  [
    'a well-formed put',
    'etcdserverpb.PutRequest',
    encPut({ key: Buffer.from('k'), value: Buffer.from('v'), lease: 7n, prevKv: true }),
    undefined,
  ],
  ['an empty message', 'etcdserverpb.RangeRequest', Buffer.alloc(0), undefined],
  [
    'an unknown field of every valid wire type',
    'etcdserverpb.PutRequest',
    hex('0a016b' + 'f80601' + 'f906 0102030405060708' + 'fa0602abcd' + 'fd06 01020304'),
    undefined,
  ],
  [
    'put with lease length-delimited (issue 9)',
    'etcdserverpb.PutRequest',
    hex('0a016b 120176 1a020102'),
    'proto: wrong wireType = 2 for field Lease',
  ],
  ['range with key as varint', 'etcdserverpb.RangeRequest', hex('0805'), 'proto: wrong wireType = 0 for field Key'],
  ['put with key as fixed64', 'etcdserverpb.PutRequest', hex('09 0102030405060708'), 'proto: wrong wireType = 1 for field Key'],
  ['wire type 7 on a known field', 'etcdserverpb.PutRequest', hex('0f'), 'proto: wrong wireType = 7 for field Key'],
  ['wire type 6 on an unknown field', 'etcdserverpb.PutRequest', hex('fe06'), 'proto: PutRequest: illegal wireType 6'],
  ['a length past the end', 'etcdserverpb.PutRequest', hex('0a056b'), 'unexpected EOF'],
  ['a truncated varint', 'etcdserverpb.PutRequest', hex('18ff'), 'unexpected EOF'],
  ['a truncated tag', 'etcdserverpb.PutRequest', hex('0a016b80'), 'unexpected EOF'],
  ['field number 0', 'etcdserverpb.PutRequest', hex('0001'), 'proto: PutRequest: illegal tag 0 (wire type 0)'],
  ['lease grant with TTL length-delimited', 'etcdserverpb.LeaseGrantRequest', hex('0a00'), 'proto: wrong wireType = 2 for field TTL'],
  ['watch create_request as varint', 'etcdserverpb.WatchRequest', hex('0801'), 'proto: wrong wireType = 0 for field CreateRequest'],
  [
    'a wrong wire type inside a nested message',
    'etcdserverpb.WatchRequest',
    hex('0a02 1001'),
    'proto: wrong wireType = 0 for field RangeEnd',
  ],
  ['a wrong wire type inside a txn compare', 'etcdserverpb.TxnRequest', hex('0a02 1801'), 'proto: wrong wireType = 0 for field Key'],
  ['watch filters packed (valid)', 'etcdserverpb.WatchRequest', hex('0a06 0a016b 2a0101'), undefined],
  ['watch filters unpacked (valid)', 'etcdserverpb.WatchRequest', hex('0a07 0a016b 2801 2800'), undefined],
  ['a repeated message field as varint', 'etcdserverpb.TxnRequest', hex('1001'), 'proto: wrong wireType = 0 for field Success'],
  ['a string field as varint', 'etcdserverpb.AuthenticateRequest', hex('0801'), 'proto: wrong wireType = 0 for field Name'],
  [`a txn nesting ${maxNestedTxns} txns`, 'etcdserverpb.TxnRequest', nestedTxn(maxNestedTxns), undefined],
  [
    `a txn nesting ${maxNestedTxns + 1} txns`,
    'etcdserverpb.TxnRequest',
    nestedTxn(maxNestedTxns + 1),
    `proto: TxnRequest nested deeper than the decoder limit of ${maxDepth} messages (a txn can nest at most ${maxNestedTxns} txns)`,
  ],
];

describe('checkWire', () => {
  for (const [name, type, bytes, want] of cases) {
    it(`${want === undefined ? 'accepts' : 'refuses'} ${name}`, () => {
      let got: string | undefined;
      try {
        checkWire(type, bytes);
      } catch (err) {
        expect(err).toBeInstanceOf(WireError);
        got = (err as Error).message;
      }
      expect(got).toBe(want);
    });
  }

  it('agrees with the generated decoder on the nesting limit', () => {
    expect(() => etcdserverpb.TxnRequest.decode(nestedTxn(maxNestedTxns))).not.toThrow();
    expect(() => etcdserverpb.TxnRequest.decode(nestedTxn(maxNestedTxns + 1))).toThrow(/recursion limit/);
    expect(maxNestedTxns).toBe(49);
  });

  it('accepts every message the generated encoders produce, including raft entries', () => {
    const ent = raftpb.Entry.encode({ Term: 1n, Index: 2n, Type: raftpb.EntryType.EntryNormal, Data: Buffer.from('x') }).finish();
    expect(() => checkWire('raftpb.Entry', ent)).not.toThrow();
    const txn = etcdserverpb.TxnRequest.encode(
      etcdserverpb.TxnRequest.fromPartial({
        compare: [
          {
            key: Buffer.from('k'),
            result: etcdserverpb.Compare_CompareResult.EQUAL,
            target: etcdserverpb.Compare_CompareTarget.VERSION,
            version: 3n,
          },
        ],
        success: [
          { requestPut: { key: Buffer.from('k'), value: Buffer.from('v') } },
          { requestTxn: { failure: [{ requestDeleteRange: { key: Buffer.from('a') } }] } },
        ],
      }),
    ).finish();
    expect(() => checkWire('etcdserverpb.TxnRequest', txn)).not.toThrow();
  });

  it('finds request types by method path', () => {
    expect(requestTypeOf('/etcdserverpb.KV/Put')).toBe('etcdserverpb.PutRequest');
    expect(requestTypeOf('/etcdserverpb.Watch/Watch')).toBe('etcdserverpb.WatchRequest');
    expect(requestTypeOf('/etcdserverpb.Nope/Put')).toBeUndefined();
  });

  it("names fields as Go does (etcd's texts)", () => {
    expect(goFieldName('create_request')).toBe('CreateRequest');
    expect(goFieldName('TTL')).toBe('TTL');
    expect(goFieldName('prev_kv')).toBe('PrevKv');
  });
});

// Malformed request bytes (issue 9), sent with a raw grpc-js client to a real etcd 3.4 and to a
// real kvd process: a table of byte strings → the answer. etcd's texts are the oracle; etcd
// answers INTERNAL, kvd the same text with InvalidArgument (the request is at fault). Every case
// must be answered, and none may run: the put with a malformed lease writes nothing.
import { Client as GrpcClient, credentials, status, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverKinds, startServer, type RunningServer } from '@kv/testkit';

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const id = (b: Buffer) => b;
function varint(n: number): Buffer {
  const o: number[] = [];
  while (n > 127) {
    o.push((n & 127) | 128);
    n >>>= 7;
  }
  o.push(n);
  return Buffer.from(o);
}
/** A TxnRequest with `n` txns nested inside it, each in the success branch of the one above. */
function nestedTxn(n: number): Buffer {
  let inner = Buffer.alloc(0);
  for (let i = 0; i < n; i++) {
    const op = Buffer.concat([Buffer.from([0x22]), varint(inner.length), inner]);
    inner = Buffer.concat([Buffer.from([0x12]), varint(op.length), op]);
  }
  return inner;
}

const unary = 'grpc: error unmarshalling request: ';
/** [case, method, request bytes, details (both servers) or per-server details]. */
const cases: [string, string, Buffer, string | { etcd: string | null; kvd: string }][] = [
  [
    'put with lease as length-delimited',
    '/etcdserverpb.KV/Put',
    hex('0a036d616c 120176 1a020102'),
    unary + 'proto: wrong wireType = 2 for field Lease',
  ],
  ['range with key as varint', '/etcdserverpb.KV/Range', hex('0805'), unary + 'proto: wrong wireType = 0 for field Key'],
  ['put with key as fixed64', '/etcdserverpb.KV/Put', hex('09 0102030405060708'), unary + 'proto: wrong wireType = 1 for field Key'],
  ['put with wire type 7', '/etcdserverpb.KV/Put', hex('0f'), unary + 'proto: wrong wireType = 7 for field Key'],
  ['put cut short', '/etcdserverpb.KV/Put', hex('0a056b'), unary + 'unexpected EOF'],
  [
    'lease grant with TTL as length-delimited',
    '/etcdserverpb.Lease/LeaseGrant',
    hex('0a00'),
    unary + 'proto: wrong wireType = 2 for field TTL',
  ],
  ['txn with a compare key as varint', '/etcdserverpb.KV/Txn', hex('0a02 1801'), unary + 'proto: wrong wireType = 0 for field Key'],
  ['status with an unknown length-delimited field (valid)', '/etcdserverpb.Maintenance/Status', hex('fa0602abcd'), { etcd: null, kvd: '' }],
  [
    'txn nesting 50 txns (past our decoder limit; etcd has none)',
    '/etcdserverpb.KV/Txn',
    nestedTxn(50),
    { etcd: null, kvd: unary + 'proto: TxnRequest nested deeper than the decoder limit of 100 messages (a txn can nest at most 49 txns)' },
  ],
];

for (const { kind, skip } of serverKinds()) {
  describe.skipIf(skip !== undefined)(`malformed requests to ${kind}${skip ? ` (skipped: ${skip})` : ''}`, () => {
    let server: RunningServer;
    let raw: GrpcClient;
    const code = kind === 'kvd' ? status.INVALID_ARGUMENT : status.INTERNAL;

    beforeAll(async () => {
      server = await startServer(kind);
      raw = new GrpcClient(server.endpoint, credentials.createInsecure());
    }, 60_000);
    afterAll(async () => {
      raw?.close();
      await server?.stop();
    });

    const send = (method: string, bytes: Buffer) =>
      new Promise<{ err?: ServiceError; res?: Buffer }>((resolve) => {
        raw.makeUnaryRequest(method, id, id, bytes, { deadline: Date.now() + 10_000 }, (err, res) =>
          resolve({ err: err ?? undefined, res }),
        );
      });

    for (const [name, method, bytes, want] of cases) {
      const details = typeof want === 'string' ? want : want[kind];
      it(`${name}: ${details ? 'refused' : 'served'}`, async () => {
        const { err } = await send(method, bytes);
        if (!details) {
          // A valid request (or, for etcd, one it accepts): answered without an error.
          expect(err?.details).toBeUndefined();
          return;
        }
        expect(err, 'an error answer').toBeDefined();
        expect(err!.code).toBe(code);
        expect(err!.details).toBe(details);
      });
    }

    it('the refused put wrote nothing', async () => {
      // RangeRequest{key: "mal"}
      const { err, res } = await send('/etcdserverpb.KV/Range', hex('0a036d616c'));
      expect(err).toBeUndefined();
      // RangeResponse field 2 (kvs) absent: no key "mal".
      expect(res!.includes(Buffer.from('mal'))).toBe(false);
    });

    it('a watch create with the wrong wire type ends the stream with an answer', async () => {
      const got = await new Promise<ServiceError | 'no answer'>((resolve) => {
        const call = raw.makeBidiStreamRequest('/etcdserverpb.Watch/Watch', id, id, { deadline: Date.now() + 10_000 });
        const timer = setTimeout(() => {
          resolve('no answer');
          call.cancel();
        }, 8_000);
        call.on('data', () => undefined);
        call.on('error', (e: ServiceError) => {
          clearTimeout(timer);
          resolve(e);
        });
        call.write(hex('0801')); // WatchRequest{create_request: varint 1}
      });
      expect(got).not.toBe('no answer');
      const e = got as ServiceError;
      expect(e.code).toBe(code);
      expect(e.details).toBe('grpc: failed to unmarshal the received message proto: wrong wireType = 0 for field CreateRequest');
    });
  });
}

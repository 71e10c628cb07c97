import { describe, expect, it } from 'vitest';
import { encodeToBuffer, etcdserverpb, mvccpb, responseSerializerOf, v3lockpb } from './index.js';

describe('encodeToBuffer', () => {
  it('gives the generated encoder bytes, each result its own memory, across sizes and types', () => {
    const kvs = [0, 10, 300, 5_000, 2_000_000, 7].map((n) =>
      mvccpb.KeyValue.fromPartial({ key: Buffer.from(`k${n}`), value: Buffer.alloc(n, n % 251), modRevision: BigInt(n + 1) }),
    );
    const outs = kvs.map((kv) => encodeToBuffer(mvccpb.KeyValue, kv));
    kvs.forEach((kv, i) => {
      expect(Buffer.isBuffer(outs[i])).toBe(true);
      expect(outs[i].equals(Buffer.from(mvccpb.KeyValue.encode(kv).finish()))).toBe(true);
    });
    // later encodes do not overwrite earlier results
    expect(mvccpb.KeyValue.decode(outs[2]).value.equals(Buffer.alloc(300, 300 % 251))).toBe(true);
    const resp = etcdserverpb.RangeResponse.fromPartial({ kvs: kvs.slice(0, 3), count: 3n, more: true });
    expect(etcdserverpb.RangeResponse.decode(encodeToBuffer(etcdserverpb.RangeResponse, resp))).toEqual(resp);
  });

  it('recovers from an encode that throws half way', () => {
    const bad = mvccpb.KeyValue.fromPartial({ key: Buffer.from('a'), version: 1n << 70n });
    expect(() => encodeToBuffer(mvccpb.KeyValue, bad)).toThrow(/too large/);
    const good = mvccpb.KeyValue.fromPartial({ key: Buffer.from('b'), version: 2n });
    expect(encodeToBuffer(mvccpb.KeyValue, good).equals(Buffer.from(mvccpb.KeyValue.encode(good).finish()))).toBe(true);
  });
});

describe('responseSerializerOf', () => {
  it('serializes every service method response as the generated serializer does', () => {
    const services = [
      etcdserverpb.KVService,
      etcdserverpb.WatchService,
      etcdserverpb.LeaseService,
      etcdserverpb.ClusterService,
      etcdserverpb.MaintenanceService,
      etcdserverpb.AuthService,
      v3lockpb.LockService,
    ] as unknown as Record<
      string,
      { path: string; responseSerialize: (v: unknown) => Buffer; responseDeserialize: (b: Buffer) => unknown }
    >[];
    let n = 0;
    for (const svc of services) {
      for (const m of Object.values(svc)) {
        const ser = responseSerializerOf(m.path);
        expect(ser, m.path).toBeDefined();
        const sample = m.responseDeserialize(m.responseSerialize(m.responseDeserialize(Buffer.from([0x0a, 0x02, 0x08, 0x07]))));
        expect(ser!(sample).equals(m.responseSerialize(sample)), m.path).toBe(true);
        n++;
      }
    }
    expect(n).toBeGreaterThan(40);
    expect(responseSerializerOf('/etcdserverpb.KV/Nope')).toBeUndefined();
  });
});

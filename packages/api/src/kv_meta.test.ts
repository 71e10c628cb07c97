import { describe, expect, it } from 'vitest';
import { decodeKeyValueMeta, decodeKeyValueView, mvccpb } from './index.js';

describe('decodeKeyValueMeta', () => {
  it('reads every field but the value, as the generated decoder does', () => {
    const cases: mvccpb.KeyValue[] = [
      mvccpb.KeyValue.fromPartial({}),
      mvccpb.KeyValue.fromPartial({ key: Buffer.from('a'), createRevision: 2n, modRevision: 3n, version: 2n }),
      mvccpb.KeyValue.fromPartial({
        key: Buffer.from([0, 255, 1]),
        createRevision: (1n << 62n) + 5n,
        modRevision: (1n << 62n) + 6n,
        version: 1n,
        value: Buffer.alloc(2_000_000, 1),
        lease: 0x7fffffffffffffffn,
      }),
    ];
    for (const kv of cases) {
      const m = decodeKeyValueMeta(mvccpb.KeyValue.encode(kv).finish());
      expect({ ...m, key: Buffer.from(m.key) }).toEqual({
        key: kv.key,
        createRevision: kv.createRevision,
        modRevision: kv.modRevision,
        version: kv.version,
        lease: kv.lease,
      });
      const bytes = mvccpb.KeyValue.encode(kv).finish();
      const v = decodeKeyValueView(bytes);
      const full = mvccpb.KeyValue.decode(bytes);
      expect(v.key.equals(full.key) && v.value.equals(full.value)).toBe(true);
      expect({ ...v, key: 0, value: 0 }).toEqual({ ...full, key: 0, value: 0 });
      if (kv.value.length > 0) expect(v.value.buffer).toBe(bytes.buffer); // a view, not a copy
    }
  });

  it('skips fields it does not know and refuses truncated input', () => {
    const kv = mvccpb.KeyValue.encode(mvccpb.KeyValue.fromPartial({ key: Buffer.from('k'), version: 4n })).finish();
    const withUnknown = Buffer.concat([Buffer.from([0x3a, 2, 9, 9]), kv]); // field 7, 2 bytes
    expect(decodeKeyValueMeta(withUnknown).version).toBe(4n);
    expect(() => decodeKeyValueMeta(kv.subarray(0, 2))).toThrow();
  });
});

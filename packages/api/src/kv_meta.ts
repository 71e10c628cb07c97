// A KeyValue's fields without its value: what the store's index needs from each record it restores
// and what a keys-only range answers. The generated decoder copies the key and the value (up to
// 1.5 MiB) into fresh Buffers; this reads the same wire fields with the same reader and skips the
// value, and the key it returns is a view of the input (copy it to keep it past the input).
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import type { KeyValue } from './gen/mvccpb/kv.js';

export interface KeyValueMeta {
  /** A view of the input's bytes, not a copy. */
  key: Buffer;
  createRevision: bigint;
  modRevision: bigint;
  version: bigint;
  lease: bigint;
}

/** Decodes an mvccpb.KeyValue's fields 1–4 and 6, skipping field 5 (value). Throws on malformed input. */
export function decodeKeyValueMeta(bytes: Uint8Array): KeyValueMeta {
  return decodeInto(bytes, { key: EMPTY, createRevision: 0n, modRevision: 0n, version: 0n, lease: 0n }, false);
}

/**
 * Decodes a whole mvccpb.KeyValue whose key and value are views of `bytes` (no copies): for a
 * record read from the store to answer a request, where the generated decoder's two copies per
 * record were a fifth of a large range's time. Do not keep the result where `bytes` may change.
 */
export function decodeKeyValueView(bytes: Uint8Array): KeyValue {
  return decodeInto(bytes, { key: EMPTY, createRevision: 0n, modRevision: 0n, version: 0n, value: EMPTY, lease: 0n }, true);
}

function view(b: Uint8Array): Buffer {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
}

function decodeInto<T extends KeyValueMeta & { value?: Buffer }>(bytes: Uint8Array, m: T, withValue: boolean): T {
  const r = new BinaryReader(bytes);
  while (r.pos < r.len) {
    const [field, wt] = r.tag();
    switch (field) {
      case 1:
        if (wt === WireType.LengthDelimited) {
          m.key = view(r.bytes());
          continue;
        }
        break;
      case 5:
        if (withValue && wt === WireType.LengthDelimited) {
          m.value = view(r.bytes());
          continue;
        }
        break;
      case 2:
        if (wt === WireType.Varint) {
          m.createRevision = r.int64() as bigint;
          continue;
        }
        break;
      case 3:
        if (wt === WireType.Varint) {
          m.modRevision = r.int64() as bigint;
          continue;
        }
        break;
      case 4:
        if (wt === WireType.Varint) {
          m.version = r.int64() as bigint;
          continue;
        }
        break;
      case 6:
        if (wt === WireType.Varint) {
          m.lease = r.int64() as bigint;
          continue;
        }
        break;
    }
    r.skip(wt, field);
  }
  return m;
}

const EMPTY = Buffer.alloc(0);

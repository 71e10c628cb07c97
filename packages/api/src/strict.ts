// Strict checking of request bytes before they are decoded.
//
// ts-proto's decoders skip a known field whose wire type is not the declared one, so a put whose
// lease was sent length-delimited would run without its lease. Go's protobuf (etcd) refuses such
// a message: "proto: wrong wireType = 2 for field Lease". checkWire walks the bytes against the
// message descriptors of /proto (src/gen/descriptors.ts, made by `pnpm gen:proto`) and says what
// is wrong, in Go's words where Go has them, before the lenient decoder sees the bytes.
//
// Rules (proto3 as Go applies them):
// - a known field must have its declared wire type; a repeated scalar or enum field may also be
//   length-delimited (packed), and a packed field unpacked;
// - an unknown field number is skipped, whatever its (valid) wire type;
// - a length must not run past the end of its message, and wire types 6 and 7 do not exist;
// - message fields are checked recursively, at most maxDepth messages deep (the limit of the
//   generated decoders, which refuse anything deeper).
import { createFileRegistry, fromBinary, ScalarType, type DescField, type DescMessage, type FileRegistry } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { fileDescriptorSetBase64 } from './gen/descriptors.js';

/**
 * Deepest nesting of messages the generated decoders accept (ts-proto stops at 100: the
 * outermost request counts as 1). A TxnRequest nests two levels per inner txn (RequestOp, then
 * TxnRequest), so a txn can hold at most 49 levels of txns inside it.
 */
export const maxDepth = 100;
/** The most txns that can nest inside one TxnRequest under maxDepth. */
export const maxNestedTxns = Math.floor((maxDepth - 1) / 2);

let registry: FileRegistry | undefined;
/** The descriptors of every message and service in /proto (parsed on first use). */
export function descriptors(): FileRegistry {
  registry ??= createFileRegistry(fromBinary(FileDescriptorSetSchema, Buffer.from(fileDescriptorSetBase64, 'base64')));
  return registry;
}

/** Go's field name (protoc-gen-go's CamelCase of the proto name), as etcd's errors print it. */
export function goFieldName(protoName: string): string {
  return protoName
    .split('_')
    .map((p, i) => (p.length === 0 ? (i === 0 ? '' : '_') : p[0]!.toUpperCase() + p.slice(1)))
    .join('');
}

function scalarWireType(t: ScalarType): WireType {
  switch (t) {
    case ScalarType.DOUBLE:
    case ScalarType.FIXED64:
    case ScalarType.SFIXED64:
      return WireType.Bit64;
    case ScalarType.FLOAT:
    case ScalarType.FIXED32:
    case ScalarType.SFIXED32:
      return WireType.Bit32;
    case ScalarType.STRING:
    case ScalarType.BYTES:
      return WireType.LengthDelimited;
    default:
      return WireType.Varint;
  }
}

/** The wire type a field is declared with, and whether the packed form is also valid. */
function expected(f: DescField): { wire: WireType; packable: boolean; message?: DescMessage } {
  switch (f.fieldKind) {
    case 'scalar':
      return { wire: scalarWireType(f.scalar), packable: false };
    case 'enum':
      return { wire: WireType.Varint, packable: false };
    case 'message':
      return { wire: WireType.LengthDelimited, packable: false, message: f.message };
    case 'map':
      // A map entry is a length-delimited message; its own fields are not checked further.
      return { wire: WireType.LengthDelimited, packable: false };
    case 'list':
      if (f.listKind === 'message') return { wire: WireType.LengthDelimited, packable: false, message: f.message };
      if (f.listKind === 'enum') return { wire: WireType.Varint, packable: true };
      return { wire: scalarWireType(f.scalar), packable: scalarWireType(f.scalar) !== WireType.LengthDelimited };
  }
}

/** A request that failed checkWire; the message is Go's where Go has one. */
export class WireError extends Error {
  override readonly name = 'WireError';
}

const fieldIndex = new WeakMap<DescMessage, Map<number, DescField>>();
function fieldsOf(desc: DescMessage): Map<number, DescField> {
  let m = fieldIndex.get(desc);
  if (!m) {
    m = new Map(desc.fields.map((f) => [f.number, f]));
    fieldIndex.set(desc, m);
  }
  return m;
}

/** Runs a reader step; a read past the end becomes Go's "unexpected EOF", anything else is named. */
function read<T>(desc: DescMessage, r: BinaryReader, fn: () => T): T {
  let v: T;
  try {
    v = fn();
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (err instanceof RangeError || /premature EOF|out of range/i.test(msg)) throw new WireError('unexpected EOF');
    throw new WireError(`proto: ${desc.name}: ${msg}`);
  }
  if (r.pos > r.len) throw new WireError('unexpected EOF');
  return v;
}

function walk(desc: DescMessage, bytes: Uint8Array, depth: number): void {
  if (depth > maxDepth) {
    throw new WireError(
      `proto: ${desc.name} nested deeper than the decoder limit of ${maxDepth} messages (a txn can nest at most ${maxNestedTxns} txns)`,
    );
  }
  const r = new BinaryReader(bytes);
  const fields = fieldsOf(desc);
  while (r.pos < r.len) {
    const tag = read(desc, r, () => r.uint32());
    const no = tag >>> 3;
    const wt = tag & 7;
    const f = fields.get(no);
    if (wt === 6 || wt === 7 || (wt === WireType.EndGroup && !f)) {
      throw new WireError(
        f ? `proto: wrong wireType = ${wt} for field ${goFieldName(f.name)}` : `proto: ${desc.name}: illegal wireType ${wt}`,
      );
    }
    if (no <= 0) throw new WireError(`proto: ${desc.name}: illegal tag ${no} (wire type ${wt})`);
    if (f) {
      const want = expected(f);
      const ok = wt === want.wire || (want.packable && wt === WireType.LengthDelimited);
      if (!ok) throw new WireError(`proto: wrong wireType = ${wt} for field ${goFieldName(f.name)}`);
      if (want.message) {
        const inner = read(desc, r, () => r.bytes());
        walk(want.message, inner, depth + 1);
        continue;
      }
    }
    read(desc, r, () => r.skip(wt, no));
  }
}

/**
 * Checks that `bytes` are a well-formed `typeName` (e.g. "etcdserverpb.PutRequest"); throws a
 * WireError saying what is wrong. Unknown type names are a programming error (plain Error).
 */
export function checkWire(typeName: string, bytes: Uint8Array): void {
  const desc = descriptors().getMessage(typeName);
  if (!desc) throw new Error(`no descriptor for message type ${typeName}`);
  walk(desc, bytes, 1);
}

/** The request message type of a gRPC method path ("/etcdserverpb.KV/Put"), from the descriptors. */
export function requestTypeOf(path: string): string | undefined {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (!m) return undefined;
  const svc = descriptors().getService(m[1]!);
  return svc?.methods.find((x) => x.name === m[2])?.input.typeName;
}

/** The response message type of a gRPC method path, from the descriptors. */
export function responseTypeOf(path: string): string | undefined {
  const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
  if (!m) return undefined;
  const svc = descriptors().getService(m[1]!);
  return svc?.methods.find((x) => x.name === m[2])?.output.typeName;
}

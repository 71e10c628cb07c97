// Encoding a message to a Buffer through one reused writer.
//
// The generated `X.encode(m).finish()` starts a fresh BinaryWriter (128 bytes, doubled as the
// message grows: three allocations and copies for a 300-byte record), and the generated gRPC
// serializers then copy the result once more with Buffer.from. Here one writer is reused, so its
// buffer has already grown; finish() hands back an exact-size copy, which the Buffer wraps without
// copying again. A 10 MiB range response is thus held once less while it is sent.
import { BinaryWriter } from '@bufbuild/protobuf/wire';
import * as etcdserverpb from './etcdserverpb.js';
import * as v3electionpb from './gen/v3electionpb/v3election.js';
import * as v3lockpb from './gen/v3lockpb/v3lock.js';
import { responseTypeOf } from './strict.js';

/** The part of a generated message's functions this needs. */
export interface Encodes<T> {
  encode(message: T, writer?: BinaryWriter): BinaryWriter;
}

/** After an output this large the writer is replaced, so that its grown buffer is not kept. */
const KeepWriterBytes = 1 << 20;

let shared = new BinaryWriter();

/**
 * `Buffer.from(fns.encode(message).finish())`, cheaper. Safe to call from anywhere: encoding is
 * synchronous and runs no other code, so calls never interleave on the shared writer; a writer
 * left mid-message by an encode that threw is replaced.
 */
export function encodeToBuffer<T>(fns: Encodes<T>, message: T): Buffer {
  let out: Uint8Array;
  try {
    out = fns.encode(message, shared).finish();
  } catch (err) {
    shared = new BinaryWriter();
    throw err;
  }
  if (out.byteLength > KeepWriterBytes) shared = new BinaryWriter();
  return Buffer.from(out.buffer, out.byteOffset, out.byteLength);
}

const servicePackages: Record<string, Record<string, unknown>> = { etcdserverpb, v3lockpb, v3electionpb };

/**
 * A gRPC response serializer for the method at `path` ("/etcdserverpb.KV/Range") that encodes
 * through encodeToBuffer, to put in place of the generated one; undefined for an unknown method.
 */
export function responseSerializerOf(path: string): ((value: unknown) => Buffer) | undefined {
  const type = responseTypeOf(path);
  if (type === undefined) return undefined;
  const dot = type.lastIndexOf('.');
  const fns = servicePackages[type.slice(0, dot)]?.[type.slice(dot + 1)] as Encodes<unknown> | undefined;
  if (fns === undefined || typeof fns.encode !== 'function') return undefined;
  return (value) => encodeToBuffer(fns, value);
}

// Strict request decoding for every gRPC method kvd serves.
//
// grpc-js answers a deserializer that throws with INTERNAL "Error deserializing request" and no
// reason, so the deserializer never throws: it checks the bytes (checkWire, driven by the
// message descriptors) and hands a MalformedRequest to the handler wrapper instead of a request,
// and the wrapper answers InvalidArgument with the reason. Unary and server-streaming calls get
// it as their status; on a client stream (Watch, LeaseKeepAlive) the malformed message ends the
// stream with that status, and the service never sees it.
//
// etcd answers these with INTERNAL ("grpc: error unmarshalling request: proto: wrong wireType =
// 2 for field Lease"); we keep its text and answer InvalidArgument, since the request is at fault.
import { status, type ServiceDefinition, type UntypedServiceImplementation } from '@grpc/grpc-js';
import { checkWire, requestTypeOf, responseSerializerOf, WireError } from '@kv/api';

/** What the strict deserializer returns for bytes that are not a well-formed request. */
export class MalformedRequest {
  constructor(readonly details: string) {}
}

/** etcd's prefixes: grpc-go's for a unary request and for a message on a stream. */
const unaryPrefix = 'grpc: error unmarshalling request: ';
const streamPrefix = 'grpc: failed to unmarshal the received message ';

function strictDeserializer(path: string, decode: (b: Buffer) => unknown, streaming: boolean): (b: Buffer) => unknown {
  const type = requestTypeOf(path);
  // Invariant: every method served has a descriptor; a missing one is a build error, found at start.
  if (!type) throw new Error(`no request descriptor for ${path}`);
  return (bytes: Buffer) => {
    try {
      checkWire(type, bytes);
      return decode(bytes);
    } catch (err) {
      const reason = err instanceof WireError ? err.message : `proto: ${err instanceof Error ? err.message : String(err)}`;
      return new MalformedRequest((streaming ? streamPrefix : unaryPrefix) + reason);
    }
  };
}

const invalid = (details: string) => Object.assign(new Error(details), { code: status.INVALID_ARGUMENT, details });

type AnyCall = {
  request?: unknown;
  emit(event: string | symbol, ...args: unknown[]): boolean;
};

/**
 * Returns the definition and implementation to register instead of `def` and `impl`: requests
 * are checked before decoding, and malformed ones answered with InvalidArgument; responses are
 * encoded with encodeToBuffer.
 */
export function strictService<D extends ServiceDefinition, I extends object>(def: D, impl: I): [D, UntypedServiceImplementation] {
  const outDef: Record<string, unknown> = {};
  const outImpl: UntypedServiceImplementation = {};
  for (const [name, m] of Object.entries(def)) {
    outDef[name] = {
      ...m,
      requestDeserialize: strictDeserializer(m.path, m.requestDeserialize, m.requestStream),
      // the same bytes, through one reused writer and without the generated serializer's extra copy
      responseSerialize: responseSerializerOf(m.path) ?? m.responseSerialize,
    };
    const handler = (impl as Record<string, unknown>)[name];
    if (typeof handler !== 'function') continue;
    const h = handler as (...a: unknown[]) => unknown;
    if (!m.requestStream) {
      outImpl[name] = (call: AnyCall, callback?: (e: unknown) => void) => {
        if (call.request instanceof MalformedRequest) {
          const err = invalid(call.request.details);
          if (callback) callback(err);
          else call.emit('error', err); // server streaming: ends the call with this status
          return;
        }
        return h.call(impl, call, callback);
      };
    } else {
      outImpl[name] = (call: AnyCall, callback?: (e: unknown) => void) => {
        // A stream's messages reach the service as 'data' events; a malformed one ends the call
        // instead (grpc-js turns an 'error' on the call into its status).
        const emit = call.emit.bind(call);
        let failed = false;
        call.emit = (event: string | symbol, ...args: unknown[]) => {
          if (event === 'data' && args[0] instanceof MalformedRequest) {
            if (failed) return true;
            failed = true;
            const err = invalid(args[0].details);
            if (callback) callback(err);
            else emit('error', err);
            return true;
          }
          return emit(event, ...args);
        };
        return h.call(impl, call, callback);
      };
    }
  }
  return [outDef as D, outImpl];
}

// Runs one unary gateway call on the member's gRPC service implementation — the same handler
// object (with its interceptor checks) the gRPC server registers, not a copy of its logic.
// The request is decoded by the method's generated deserializer from the JSON's wire bytes,
// as a gRPC request would be; the handler sees a call whose metadata carries the HTTP
// Authorization header as `authorization` (grpc-gateway's mapping; etcd reads it as the token).
import { EventEmitter } from 'node:events';
import { Metadata } from '@grpc/grpc-js';
import type { HttpAnswer } from '../health.js';
import { errorAnswer } from './errors.js';
import { requestBytes, responseJson } from './json.js';
import { gatewayServices, type GatewayServiceName, type Route } from './routes.js';

/** The service implementations the gateway calls, keyed as routes.ts names them. */
export type GatewayImpls = Record<GatewayServiceName, object>;

interface MethodDef {
  path: string;
  requestDeserialize: (b: Buffer) => unknown;
  responseSerialize: (v: unknown) => Buffer;
}

type UnaryHandler = (call: unknown, callback: (err: unknown, res?: unknown) => void) => void;

/** A unary call's face to the handler: request, metadata, and cancellation when the client goes away. */
class GatewayCall extends EventEmitter {
  cancelled = false;
  constructor(
    readonly request: unknown,
    readonly metadata: Metadata,
  ) {
    super();
  }
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    this.emit('cancelled', 'cancelled');
  }
  getPeer(): string {
    return 'gateway';
  }
  getDeadline(): number {
    return Infinity;
  }
}

export function metadataOf(headers: Record<string, string | string[] | undefined>): Metadata {
  const md = new Metadata();
  const auth = headers['authorization'];
  const a = Array.isArray(auth) ? auth[0] : auth;
  if (a !== undefined && a !== '') md.set('authorization', a);
  return md;
}

/**
 * Answers one unary route. `onClose` registers a listener for the HTTP request going away
 * (its call is then cancelled). Never throws: every failure is an etcd-shaped error answer.
 */
export async function answerUnary(
  route: Route,
  body: string,
  headers: Record<string, string | string[] | undefined>,
  impls: GatewayImpls,
  onClose: (f: () => void) => void,
): Promise<HttpAnswer> {
  const def = (gatewayServices[route.service] as unknown as Record<string, MethodDef>)[route.method]!;
  let request: unknown;
  try {
    request = def.requestDeserialize(Buffer.from(requestBytes(def.path, body)));
  } catch (err) {
    return errorAnswer(3, err instanceof Error ? err.message : String(err));
  }
  const handler = (impls[route.service] as Record<string, UnaryHandler | undefined>)[route.method];
  if (typeof handler !== 'function') return errorAnswer(12, `unknown method ${route.method}`);
  const call = new GatewayCall(request, metadataOf(headers));
  onClose(() => call.cancel());
  return new Promise<HttpAnswer>((resolve) => {
    try {
      handler.call(impls[route.service], call, (err, res) => {
        if (err) {
          const e = err as { code?: unknown; details?: unknown; message?: unknown };
          const code = typeof e.code === 'number' ? e.code : 2;
          const msg = typeof e.details === 'string' ? e.details : String(e.message ?? err);
          resolve(errorAnswer(code, msg));
          return;
        }
        try {
          resolve({
            status: 200,
            headers: { 'Content-Type': 'application/json' },
            body: responseJson(def.path, def.responseSerialize(res)),
          });
        } catch (e2) {
          resolve(errorAnswer(13, e2 instanceof Error ? e2.message : String(e2)));
        }
      });
    } catch (e) {
      resolve(errorAnswer(2, e instanceof Error ? e.message : String(e)));
    }
  });
}

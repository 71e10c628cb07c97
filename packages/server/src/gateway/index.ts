// etcd 3.4's JSON gateway (grpc-gateway v1) on the client port: POST /v3/<path> (and
// /v3beta/<path>) with a proto3 JSON body runs the gRPC method of routes.ts on the member's
// service implementations and answers its response as etcd's marshaler writes it.
import type { HttpAnswer } from '../health.js';
import { methodNotAllowed, notFound, errorAnswer } from './errors.js';
import { routeOf } from './routes.js';
import { serveStream, type StreamSink } from './streams.js';
import { answerUnary, metadataOf, type GatewayImpls } from './unary.js';

export { isGatewayPath, routeOf } from './routes.js';
export type { GatewayImpls } from './unary.js';
export type { StreamSink } from './streams.js';

export interface GatewayRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  /** The request body, read whole. */
  body: () => Promise<string>;
  /** Registers a listener for the client going away. */
  onClose: (f: () => void) => void;
  /** The body's chunks as they arrive (streaming routes read it this way, not whole). */
  bodyStream: AsyncIterable<unknown>;
  /** Where a streaming route writes its answer as it goes. */
  sink: StreamSink;
}

/**
 * Answers one gateway request (a path for which isGatewayPath holds). Never throws. A streaming
 * route writes to `req.sink` itself and resolves undefined.
 */
export async function answerGateway(req: GatewayRequest, impls: GatewayImpls): Promise<HttpAnswer | undefined> {
  const route = routeOf(req.path);
  if (!route) return notFound;
  if (req.method !== 'POST') return methodNotAllowed;
  if (route.stream) {
    serveStream(route, { metadata: metadataOf(req.headers), body: req.bodyStream, onClose: req.onClose }, req.sink, impls);
    return undefined;
  }
  let body: string;
  try {
    body = await req.body();
  } catch (err) {
    return errorAnswer(3, err instanceof Error ? err.message : String(err));
  }
  return answerUnary(route, body, req.headers, impls, req.onClose);
}

/** Bodies larger than this are refused (etcd's gRPC side refuses far smaller requests anyway). */
export const maxGatewayBody = 64 * 1024 * 1024;

/** Reads an HTTP request body whole, as UTF-8; rejects past maxGatewayBody. */
export function readBody(req: AsyncIterable<unknown>): Promise<string> {
  return (async () => {
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const c of req) {
      const b = typeof c === 'string' ? Buffer.from(c) : (c as Buffer);
      n += b.length;
      if (n > maxGatewayBody) throw new Error(`request body larger than ${maxGatewayBody} bytes`);
      chunks.push(b);
    }
    return Buffer.concat(chunks).toString('utf8');
  })();
}

// The gateway's streaming routes (/v3/watch, /v3/lease/keepalive, /v3/election/observe,
// /v3/maintenance/snapshot) as grpc-gateway v1 serves them: the request body is a sequence of
// JSON objects, each one request message; every response message is one line
// `{"result":{...}}`, and an error ends the stream with a line `{"error":{...}}`.
// The handler is the member's own (guarded) implementation, given a duplex-call face.
import { EventEmitter } from 'node:events';
import type { Metadata } from '@grpc/grpc-js';
import { httpStatusOf } from './errors.js';
import { requestBytes, responseJson } from './json.js';
import { gatewayServices, type Route } from './routes.js';
import type { GatewayImpls } from './unary.js';

/** Where a stream's answer goes: the HTTP response, written as it comes. */
export interface StreamSink {
  writeHead(status: number, headers: Record<string, string>): void;
  /** False when the response's buffer is full: the producer waits for `onDrain` (HTTP backpressure). */
  write(chunk: string): boolean;
  end(): void;
  /** Calls `f` each time a full buffer has been written out. */
  onDrain(f: () => void): void;
}

interface MethodDef {
  path: string;
  requestStream: boolean;
  requestDeserialize: (b: Buffer) => unknown;
  responseSerialize: (v: unknown) => Buffer;
}

/**
 * Splits concatenated JSON objects (whitespace between them allowed) as they arrive.
 * Invariant: `buf` holds only the text after the last complete object.
 */
export class JsonObjectSplitter {
  private buf = '';
  push(text: string): string[] {
    this.buf += text;
    const out: string[] = [];
    let depth = 0;
    let inString = false;
    let escaped = false;
    let start = -1;
    for (let i = 0; i < this.buf.length; i++) {
      const c = this.buf[i]!;
      if (inString) {
        if (escaped) escaped = false;
        else if (c === '\\') escaped = true;
        else if (c === '"') inString = false;
        continue;
      }
      if (c === '"') inString = true;
      else if (c === '{' || c === '[') {
        if (depth === 0) start = i;
        depth++;
      } else if (c === '}' || c === ']') {
        depth--;
        if (depth === 0) {
          out.push(this.buf.slice(start, i + 1));
          this.buf = this.buf.slice(i + 1);
          i = -1;
          start = -1;
        }
      } else if (depth === 0 && !/\s/.test(c)) {
        // Text outside any object: handed on alone so the codec reports it.
        out.push(this.buf.slice(i));
        this.buf = '';
        break;
      }
    }
    return out;
  }
  /** What is left unparsed (an unfinished object) when the body ends. */
  rest(): string {
    return this.buf.trim();
  }
}

class GatewayStream extends EventEmitter {
  cancelled = false;
  destroyed = false;
  writableEnded = false;
  constructor(
    readonly metadata: Metadata,
    private readonly sink: StreamSink,
    private readonly def: MethodDef,
  ) {
    super();
    this.on('error', (err: unknown) => this.fail(err));
    // As a grpc-js stream: write() says false when the client is not reading, 'drain' says when
    // to go on, so a stalled curl makes the watch a slow watcher instead of filling memory.
    sink.onDrain(() => this.emit('drain'));
  }
  write(msg: unknown): boolean {
    if (this.writableEnded || this.destroyed) return false;
    return this.sink.write(`{"result":${responseJson(this.def.path, this.def.responseSerialize(msg))}}\n`);
  }
  end(): void {
    if (this.writableEnded) return;
    this.writableEnded = true;
    if (!this.destroyed) this.sink.end();
    this.emit('finish');
  }
  destroy(err?: unknown): void {
    if (err) this.fail(err);
    this.destroyed = true;
  }
  /** grpc-gateway's stream error chunk, then the end. */
  fail(err: unknown): void {
    if (this.writableEnded || this.destroyed) return;
    const e = err as { code?: unknown; details?: unknown; message?: unknown };
    const code = typeof e?.code === 'number' ? e.code : 2;
    const message = typeof e?.details === 'string' ? e.details : String(e?.message ?? err);
    const http = httpStatusOf(code);
    this.sink.write(`${JSON.stringify({ error: { grpc_code: code, http_code: http, message, http_status: httpStatusText(http) } })}\n`);
    this.end();
  }
  cancel(): void {
    if (this.cancelled) return;
    this.cancelled = true;
    // Invariant: nothing is written to a response whose client has gone.
    this.destroyed = true;
    this.emit('cancelled', 'cancelled');
    this.emit('close');
  }
  getPeer(): string {
    return 'gateway';
  }
}

const statusText: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  408: 'Request Timeout',
  409: 'Conflict',
  412: 'Precondition Failed',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};
function httpStatusText(s: number): string {
  return statusText[s] ?? '';
}

export interface StreamRequest {
  metadata: Metadata;
  /** The request body's chunks as they arrive; ends when the client closes its side. */
  body: AsyncIterable<unknown>;
  onClose: (f: () => void) => void;
}

/** Serves one streaming route until either side ends it. Never throws. */
export function serveStream(route: Route, req: StreamRequest, sink: StreamSink, impls: GatewayImpls): void {
  const def = (gatewayServices[route.service] as unknown as Record<string, MethodDef>)[route.method]!;
  const handler = (impls[route.service] as Record<string, ((call: unknown) => void) | undefined>)[route.method];
  sink.writeHead(200, { 'Content-Type': 'application/json' });
  const call = new GatewayStream(req.metadata, sink, def);
  req.onClose(() => call.cancel());
  if (typeof handler !== 'function') return call.fail({ code: 12, details: `unknown method ${route.method}` });
  const decode = (text: string) => def.requestDeserialize(Buffer.from(requestBytes(def.path, text)));
  if (!def.requestStream) {
    // Server streaming (observe, snapshot): one request, the whole body.
    void (async () => {
      let text = '';
      try {
        for await (const c of req.body) text += String(c);
        (call as unknown as { request: unknown }).request = decode(text);
      } catch (err) {
        return call.fail({ code: 3, details: err instanceof Error ? err.message : String(err) });
      }
      try {
        handler.call(impls[route.service], call);
      } catch (err) {
        call.fail(err);
      }
    })();
    return;
  }
  try {
    handler.call(impls[route.service], call);
  } catch (err) {
    return call.fail(err);
  }
  void (async () => {
    const split = new JsonObjectSplitter();
    try {
      for await (const c of req.body) {
        for (const obj of split.push(String(c))) {
          if (call.writableEnded) return;
          call.emit('data', decode(obj));
        }
      }
      if (split.rest() !== '') decode(split.rest());
      // The body's end is the client's half-close, as grpc-gateway passes it on: a keep-alive
      // stream then ends once its answers are sent (etcd's loop returns at EOF); a watch goes on
      // sending until the HTTP client goes away (onClose cancels the call), as etcd's does.
      if (route.method === 'leaseKeepAlive' && !call.writableEnded) call.emit('end');
    } catch (err) {
      call.fail({ code: 3, details: err instanceof Error ? err.message : String(err) });
    }
  })();
}

// The HTTP/2 server that grpc-js runs behind the client port's connection injector, and the two
// things about it grpc-js has no option for. Both reach into grpc-js 1.14's internals
// (`commonServerOptions`, `http2Servers`); client_port tests check both on the wire, so a grpc-js
// upgrade that moves them fails there instead of silently.
//
// 1. Header lists. nghttp2 (under Node's HTTP/2) cannot decode a header name or value above
//    64 KiB: it answers GOAWAY COMPRESSION_ERROR, stops reading and leaves the socket open, and a
//    client whose stream the GOAWAY covers (grpc-go, so etcd's Go client) waits on that stream
//    until its deadline. Advertising SETTINGS_MAX_HEADER_LIST_SIZE = 64 KiB (a field counts
//    name + value + 32, so no field under the limit overflows nghttp2) makes such clients refuse
//    the call at once ("header list size to send violates the maximum size (65536 bytes) set by
//    server"), and Node resets a stream whose header list is larger. A client that ignores the
//    setting still gets nghttp2's GOAWAY, and nothing tells JavaScript: Node only stops reading.
//    So a sweep looks for sessions that processed a stream id no 'stream' event announced, pings
//    them, and destroys a session that does not answer (a dead one cannot), so the client sees
//    its connection close instead of waiting.
// 2. Non-gRPC requests. grpc-js answers 415 to any HTTP/2 request whose content-type is not
//    application/grpc; etcd serves those from its HTTP mux (/health, /version, the gateway), over
//    h2c and over TLS (ALPN h2) alike. Such streams go to the HTTP handler instead.
// 3. Client certificates. gRPC streams get the connection's verified client certificate CN as a
//    header no client can set (auth/cert_identity.ts), since grpc-js's getAuthContext sees only
//    a TLSSocket and kvd may hand it a wrapper.
import {
  Http2ServerRequest,
  Http2ServerResponse,
  type Http2Server,
  type Http2Session,
  type IncomingHttpHeaders,
  type ServerHttp2Stream,
} from 'node:http2';
import type { ConnectionInjector, Server as GrpcServer, ServerCredentials } from '@grpc/grpc-js';
import { stampCertName } from './auth/cert_identity.js';

/** SETTINGS_MAX_HEADER_LIST_SIZE of the client port (grpc-go's default is 16 MiB; see above). */
export const maxHeaderListBytes = 64 * 1024;

export type Http2Handler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

interface GrpcInternals {
  commonServerOptions?: { settings?: Record<string, unknown> };
  http2Servers?: Map<Http2Server, unknown>;
}

/** True for gRPC's content types: application/grpc, application/grpc+proto, … */
export function isGrpcContentType(ct: string | undefined): boolean {
  return ct !== undefined && /^application\/grpc(?:[+;]|$)/.test(ct);
}

/**
 * grpc.createConnectionInjector with the header list limit advertised and non-gRPC HTTP/2
 * requests handed to `http`.
 */
export function clientPortInjector(
  grpc: GrpcServer,
  creds: ServerCredentials,
  http: Http2Handler,
  /** Called with each new HTTP/2 session (server.ts: the keepalive enforcement policy). */
  onSession?: (session: Http2Session) => void,
): ConnectionInjector {
  const g = grpc as unknown as GrpcInternals;
  if (typeof g.commonServerOptions !== 'object' || !(g.http2Servers instanceof Map)) {
    throw new Error('grpc-js internals changed (commonServerOptions/http2Servers); see grpc_http2.ts');
  }
  g.commonServerOptions.settings = { ...g.commonServerOptions.settings, maxHeaderListSize: maxHeaderListBytes };
  const before = new Set(g.http2Servers.keys());
  const injector = grpc.createConnectionInjector(creds);
  const created = [...g.http2Servers.keys()].filter((s) => !before.has(s));
  if (created.length !== 1) throw new Error('grpc-js internals changed (no new HTTP/2 server per injector); see grpc_http2.ts');
  const h2 = created[0];
  const grpcHandlers = h2.listeners('stream') as ((...a: unknown[]) => void)[];
  h2.removeAllListeners('stream');
  h2.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, flags: number, rawHeaders: string[]) => {
    if (isGrpcContentType(headers['content-type'])) {
      // The verified client certificate's CN, for --client-cert-auth identities (auth/cert_identity.ts).
      stampCertName(headers as Record<string, unknown>, stream.session?.socket);
      for (const f of grpcHandlers) f.call(h2, stream, headers, flags, rawHeaders);
      return;
    }
    // What Node's own HTTP/2 compatibility layer does for a 'request' listener.
    const req = new Http2ServerRequest(stream, headers, undefined as never, rawHeaders);
    const res = new Http2ServerResponse(stream);
    http(req, res);
  });
  const sweeper = new DeadSessionSweeper();
  h2.on('session', (session: Http2Session) => {
    sweeper.add(session);
    onSession?.(session);
  });
  return {
    injectConnection: (c) => injector.injectConnection(c),
    drain: (ms) => injector.drain(ms),
    destroy: () => {
      sweeper.stop();
      injector.destroy();
    },
  };
}

/** How often sessions are checked, and how long a suspect session has to answer a ping. */
const sweepEveryMs = 1000;
const pingAnswerMs = 3000;

/**
 * Finds sessions that nghttp2 has given up on (see the top of this file) and destroys them.
 * Invariant: a session is destroyed only after it failed to answer a ping within pingAnswerMs.
 */
class DeadSessionSweeper {
  private readonly sessions = new Map<Http2Session, { seen: number; probing: boolean }>();
  private timer?: ReturnType<typeof setInterval>;

  add(session: Http2Session): void {
    const st = { seen: 0, probing: false };
    this.sessions.set(session, st);
    session.on('stream', (stream: ServerHttp2Stream) => {
      const id = stream.id ?? 0;
      if (id > st.seen) st.seen = id;
    });
    session.once('close', () => {
      this.sessions.delete(session);
      if (this.sessions.size === 0) this.pause();
    });
    if (!this.timer) {
      this.timer = setInterval(() => this.sweep(), sweepEveryMs);
      this.timer.unref();
    }
  }

  private sweep(): void {
    for (const [session, st] of this.sessions) {
      if (session.destroyed || st.probing) continue;
      const last = session.state.lastProcStreamID ?? 0;
      if (last <= st.seen) continue;
      // A stream id was processed but never became a stream: refused (healthy) or the session
      // was terminated (dead). Only a live session answers a ping.
      st.probing = true;
      const deadline = setTimeout(() => {
        if (st.probing && !session.destroyed) session.destroy();
      }, pingAnswerMs);
      deadline.unref();
      try {
        session.ping((err) => {
          if (err) return; // destroyed meanwhile, or the ping was cancelled: the deadline decides
          clearTimeout(deadline);
          st.probing = false;
          st.seen = Math.max(st.seen, last);
        });
      } catch {
        // too many pings in flight or the session is closing: the deadline decides
      }
    }
  }

  private pause(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  stop(): void {
    this.pause();
    this.sessions.clear();
  }
}

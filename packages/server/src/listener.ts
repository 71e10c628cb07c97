// The client port: gRPC (HTTP/2) and plain HTTP/1.1 (/health, /version, later /metrics and the
// JSON gateway) share one listener, as in etcd. The first bytes of a connection decide: the
// HTTP/2 connection preface goes to grpc-js through its connection injector, an HTTP/1.x request
// line to the HTTP handler, anything else is closed. TLS, when configured, is terminated here and
// the protocol is chosen by ALPN instead. An HTTP/2 connection passes authority.ts's gate on the
// way, which decides from its first request whether its `:authority` needs fixing.
import { createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createTlsServer, type TlsOptions, type TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import { getPackedSettings } from 'node:http2';
import { gateHttp2 } from './authority.js';
import { maxHeaderListBytes } from './grpc_http2.js';
import { markClientCert } from './auth/cert_identity.js';
import { commonName, type TlsPolicy } from './tls_policy.js';

/** What grpc-js's HTTP/2 server sends as its SETTINGS (see grpc_http2.ts); the gate sends it first. */
const h2Settings = getPackedSettings({ maxHeaderListSize: maxHeaderListBytes });

const h2Preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
const httpMethods = ['GET ', 'POST ', 'PUT ', 'HEAD ', 'DELETE ', 'OPTIONS ', 'PATCH '];

export type Protocol = 'h2' | 'http1' | 'garbage' | 'undecided';

/** Classifies the first bytes of a plain-text connection. */
export function sniff(head: Buffer): Protocol {
  const n = Math.min(head.length, h2Preface.length);
  if (head.subarray(0, n).equals(h2Preface.subarray(0, n))) return n === h2Preface.length ? 'h2' : 'undecided';
  const text = head.toString('latin1');
  for (const m of httpMethods) {
    const k = Math.min(text.length, m.length);
    if (text.slice(0, k) === m.slice(0, k)) return k === m.length ? 'http1' : 'undecided';
  }
  return 'garbage';
}

export interface ClientListenerOptions {
  host: string;
  port: number;
  tls?: TlsOptions;
  /**
   * TLS from files that may change on disk (tls_policy.ts): its options replace `tls`, are
   * re-read before each handshake when a file changed, and its CRL and allowed CN/hostname
   * checks run after the handshake.
   */
  tlsPolicy?: TlsPolicy;
  /** Hands an HTTP/2 connection to grpc-js. */
  grpc: (conn: Duplex) => void;
  http: (req: IncomingMessage, res: ServerResponse) => void;
  logger: Logger;
}

/** Bytes we wait for before deciding; a client that sends fewer and stalls is dropped. */
const sniffTimeoutMs = 10_000;

/** Rejected-handshake log lines allowed per window (the rest are counted, then reported). */
const rejectLogBurst = 20;
const rejectLogWindowMs = 10_000;

/** OpenSSL's reason ("wrong version number") rather than Node's whole error line. */
function tlsReason(err: Error): string {
  const reason = (err as { reason?: unknown }).reason;
  return typeof reason === 'string' && reason !== '' ? reason : err.message;
}

/**
 * A fixed-window budget for log lines. `take(now)` answers undefined when the line must be dropped,
 * else how many were dropped since the last line that got through.
 */
export class LogBudget {
  private windowStart = -Infinity;
  private used = 0;
  private dropped = 0;

  constructor(
    private readonly perWindow: number,
    private readonly windowMs: number,
  ) {}

  take(now: number): number | undefined {
    if (now - this.windowStart >= this.windowMs) {
      this.windowStart = now;
      this.used = 0;
    }
    if (this.used >= this.perWindow) {
      this.dropped++;
      return undefined;
    }
    this.used++;
    const d = this.dropped;
    this.dropped = 0;
    return d;
  }
}

export class ClientListener {
  private server?: NetServer;
  private readonly sockets = new Set<Socket>();
  private readonly httpServer;
  private tls?: TlsOptions;

  constructor(private readonly o: ClientListenerOptions) {
    this.httpServer = createHttpServer(o.http);
    this.httpServer.keepAliveTimeout = 5_000;
  }

  async listen(): Promise<number> {
    // With client certificate authentication, OpenSSL is told to accept any certificate and the
    // check happens in onTls, before a byte reaches gRPC or HTTP: Node would otherwise drop a
    // connection with a bad certificate without telling anyone, and the rejection must be logged.
    const policy = this.o.tlsPolicy;
    const tls = policy ? policy.serverOptions() : this.o.tls;
    this.tls = tls;
    const server = tls
      ? createTlsServer({ ...tls, rejectUnauthorized: false, ALPNProtocols: ['h2', 'http/1.1'] }, (s) => this.onTls(s))
      : createNetServer((s) => this.onPlain(s));
    this.server = server;
    if (policy && 'setSecureContext' in server) {
      // Before Node's own 'connection' listener makes the TLSSocket: new files for this handshake.
      let applied = policy.generation;
      server.prependListener('connection', () => {
        policy.refresh();
        if (policy.generation === applied) return;
        applied = policy.generation;
        // Only the context: client certificates stay requested, and checked in onTls, as at start.
        const { requestCert: _r, rejectUnauthorized: _u, ...context } = policy.serverOptions();
        server.setSecureContext(context);
      });
    }
    server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', (err) => this.o.logger.error({ err }, 'client listener error'));
    if (tls) server.on('tlsClientError', (err: Error, s: TLSSocket) => this.onTlsRejected(err, s));
    return (server.address() as { port: number }).port;
  }

  /** At most `rejectLogBurst` lines per `rejectLogWindowMs`, so a flood of bad handshakes cannot fill the disk. */
  private readonly rejectLog = new LogBudget(rejectLogBurst, rejectLogWindowMs);

  /** A failed TLS handshake (no or bad client certificate, wrong protocol…), logged as etcd does. */
  private onTlsRejected(err: Error, s: TLSSocket): void {
    this.logRejected(s, tlsReason(err));
    s.destroy();
  }

  private logRejected(s: TLSSocket, reason: string): void {
    const suppressed = this.rejectLog.take(Date.now());
    if (suppressed === undefined) return;
    const remote =
      s.remoteAddress === undefined
        ? 'unknown'
        : `${s.remoteAddress.includes(':') ? `[${s.remoteAddress}]` : s.remoteAddress}:${s.remotePort}`;
    const serverName = typeof s.servername === 'string' ? s.servername : '';
    this.o.logger.warn(
      { 'remote-addr': remote, 'server-name': serverName, error: reason, ...(suppressed > 0 ? { 'suppressed-before': suppressed } : {}) },
      `rejected connection from ${JSON.stringify(remote)} (error ${JSON.stringify(reason)}, ServerName ${JSON.stringify(serverName)})`,
    );
  }

  private onTls(s: TLSSocket): void {
    s.on('error', () => s.destroy());
    // Invariant: with --client-cert-auth (requestCert + rejectUnauthorized) only a connection
    // whose certificate chains to the trusted CA gets past this point.
    if (this.tls?.requestCert && this.tls.rejectUnauthorized && !s.authorized) {
      const cert = s.getPeerCertificate();
      const reason =
        !cert || Object.keys(cert).length === 0
          ? "client didn't provide a certificate"
          : `failed to verify client certificate: ${String(s.authorizationError)}`;
      this.logRejected(s, reason);
      s.destroy();
      return;
    }
    // --client-crl-file/--peer-crl-file and the allowed CN/hostname, after the handshake as etcd.
    const refused = this.o.tlsPolicy?.rejectSocket(s);
    if (refused !== undefined) {
      this.logRejected(s, refused);
      s.destroy();
      return;
    }
    // Invariant: only a certificate verified against the trusted CA names the connection's user.
    const cn = this.tls?.requestCert && s.authorized ? commonName(s.getPeerCertificate()) : undefined;
    const handOff = (c: Duplex) => {
      if (cn !== undefined) markClientCert(c, cn); // the socket, or authority.ts's wrapper of it
      this.o.grpc(c);
    };
    if (s.alpnProtocol === 'h2') gateHttp2(s, { initial: Buffer.alloc(0), settings: h2Settings, handOff });
    else this.httpServer.emit('connection', s);
  }

  private onPlain(s: Socket): void {
    let head: Buffer = Buffer.alloc(0);
    const timer = setTimeout(() => s.destroy(), sniffTimeoutMs);
    const onError = () => s.destroy();
    s.on('error', onError);
    const onData = (chunk: Buffer) => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const p = sniff(head);
      if (p === 'undecided') return;
      clearTimeout(timer);
      s.off('data', onData);
      s.pause();
      if (p === 'garbage') {
        this.o.logger.debug({ remote: s.remoteAddress }, 'closing connection that speaks neither HTTP/2 nor HTTP/1');
        s.destroy();
        return;
      }
      s.off('error', onError);
      if (p === 'h2') {
        // The gate gives the bytes back itself (or feeds them to the :authority fixer).
        gateHttp2(s, { initial: head, settings: h2Settings, handOff: (c) => this.o.grpc(c) });
      } else {
        // Give the bytes back; node's HTTP/1 server reads them from the socket.
        s.unshift(head);
        this.httpServer.emit('connection', s);
        // The HTTP/1 server reads through 'data' events; we paused the socket explicitly.
        s.resume();
      }
    };
    s.on('data', onData);
  }

  async close(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      for (const s of this.sockets) s.destroy();
    });
  }
}

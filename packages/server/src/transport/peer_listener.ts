// The peer port: HTTP/2 (raft transport) and HTTP/1 (/version, later /members) on one socket,
// sorted by the client port's sniffing listener; TLS and ALPN when the URL is https.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { ClientListener } from '../listener.js';
import { peerServerTlsOptions, type PeerTls } from './tls.js';
import type { Transport } from './transport.js';

export interface PeerListenerOptions {
  /** One of --listen-peer-urls. */
  url: string;
  transport: Transport;
  /** HTTP/1 requests other than raft paths (/version, /members). */
  http: (req: IncomingMessage, res: ServerResponse) => void;
  tls?: PeerTls;
  logger: Logger;
}

/** Builds (does not start) the listener for one peer URL; call listen() for the bound port. */
export function createPeerListener(o: PeerListenerOptions): ClientListener {
  const u = new URL(o.url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`--listen-peer-urls ${o.url} must be http or https`);
  if (u.protocol === 'https:' && !o.tls)
    throw new Error(`--listen-peer-urls ${o.url} is https but --peer-cert-file/--peer-key-file are not set`);
  return new ClientListener({
    host: u.hostname.replace(/^\[|\]$/g, ''),
    port: Number(u.port || 2380),
    tls: u.protocol === 'https:' && o.tls && !o.tls.policy ? peerServerTlsOptions(o.tls) : undefined,
    tlsPolicy: u.protocol === 'https:' ? o.tls?.policy : undefined,
    grpc: (conn) => o.transport.handleConnection(conn),
    http: (req, res) => {
      if (!o.transport.handleHttp1(req, res)) o.http(req, res);
    },
    logger: o.logger,
  });
}

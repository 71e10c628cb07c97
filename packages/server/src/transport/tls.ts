// Peer TLS: --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth.
// The same certificate serves the peer listener and is presented as the client certificate when
// dialing https peers, as etcd does.
import { readFileSync } from 'node:fs';
import type { SecureClientSessionOptions } from 'node:http2';
import type { TlsOptions } from 'node:tls';
import type { TlsFiles } from '../config.js';

export interface PeerTls {
  cert: Buffer;
  key: Buffer;
  /** Trusted CA bundle for peers (both directions); the system store when absent. */
  ca?: Buffer;
  /** Require and verify a client certificate on the peer listener. */
  clientCertAuth: boolean;
  /** An --peer-auto-tls certificate: peers' certificates are not verified when dialing (etcd's selfCert). */
  selfSigned?: boolean;
}

/** Reads the peer TLS files; undefined when no certificate/key pair is configured. */
export function loadPeerTls(files: TlsFiles): PeerTls | undefined {
  if (!files.certFile || !files.keyFile) return undefined;
  return {
    cert: readFileSync(files.certFile),
    key: readFileSync(files.keyFile),
    ca: files.trustedCaFile ? readFileSync(files.trustedCaFile) : undefined,
    clientCertAuth: files.clientCertAuth,
    selfSigned: files.selfSigned,
  };
}

/** Options for the listener side (our ClientListener adds ALPN h2/http1.1). */
export function peerServerTlsOptions(t: PeerTls): TlsOptions {
  return { cert: t.cert, key: t.key, ca: t.ca, requestCert: t.clientCertAuth, rejectUnauthorized: t.clientCertAuth };
}

/** The TLS part of dialing an https peer (HTTP/2 transport or HTTP/1 request): verify it, present our certificate. */
export function peerDialTls(t: PeerTls): { cert: Buffer; key: Buffer; ca?: Buffer; rejectUnauthorized: boolean } {
  // etcd's TLSInfo.ClientConfig: InsecureSkipVerify for a self-made certificate (auto TLS).
  return { cert: t.cert, key: t.key, ca: t.ca, rejectUnauthorized: !t.selfSigned };
}

/** Options for dialing an https peer over HTTP/2. */
export function peerClientTlsOptions(t: PeerTls): SecureClientSessionOptions {
  return peerDialTls(t);
}

// Peer TLS: --peer-cert-file, --peer-key-file, --peer-trusted-ca-file, --peer-client-cert-auth,
// and the hardening flags (--peer-crl-file, --peer-cert-allowed-cn/-hostname, --cipher-suites,
// --tls-min/max-version) through tls_policy.ts. The same certificate serves the peer listener and
// is presented as the client certificate when dialing https peers, as etcd does; both re-read
// the files when they change on disk.
import type { SecureClientSessionOptions } from 'node:http2';
import type { PeerCertificate, TlsOptions } from 'node:tls';
import type { Logger } from 'pino';
import type { TlsFiles } from '../config.js';
import { TlsPolicy } from '../tls_policy.js';

export interface PeerTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  /** Trusted CA bundle for peers (both directions); the system store when absent. */
  readonly ca?: Buffer;
  /** Require and verify a client certificate on the peer listener. */
  clientCertAuth: boolean;
  /** An --peer-auto-tls certificate: peers' certificates are not verified when dialing (etcd's selfCert). */
  selfSigned?: boolean;
  /** The files behind cert/key/ca (re-read when changed), CRL and allowed CN/hostname; absent for fixed buffers (tests). */
  policy?: TlsPolicy;
}

/** Reads the peer TLS files; undefined when no certificate/key pair is configured. Throws for files that do not load. */
export function loadPeerTls(files: TlsFiles, logger?: Logger): PeerTls | undefined {
  if (!files.certFile || !files.keyFile) return undefined;
  const policy = new TlsPolicy(files, { side: 'peer', logger });
  return {
    // Getters: every read sees the files as they are now (tls_policy.ts stats them first).
    get cert() {
      return policy.cert;
    },
    get key() {
      return policy.key;
    },
    get ca() {
      return policy.ca;
    },
    clientCertAuth: files.clientCertAuth,
    selfSigned: files.selfSigned,
    policy,
  };
}

/** Options for the listener side (our ClientListener adds ALPN h2/http1.1). */
export function peerServerTlsOptions(t: PeerTls): TlsOptions {
  if (t.policy) return t.policy.serverOptions();
  return { cert: t.cert, key: t.key, ca: t.ca, requestCert: t.clientCertAuth, rejectUnauthorized: t.clientCertAuth };
}

export interface PeerDialTls {
  readonly cert: Buffer;
  readonly key: Buffer;
  readonly ca?: Buffer;
  rejectUnauthorized: boolean;
  minVersion?: TlsOptions['minVersion'];
  maxVersion?: TlsOptions['maxVersion'];
  ciphers?: string;
  checkServerIdentity?: (host: string, cert: PeerCertificate) => Error | undefined;
}

/**
 * The TLS part of dialing an https peer (HTTP/2 transport or HTTP/1 request): verify it, present
 * our certificate. cert/key/ca are getters, read when the options are spread into a dial.
 */
export function peerDialTls(t: PeerTls): PeerDialTls {
  const policy = t.policy;
  const allowed = policy && (policy.files.allowedCn || policy.files.allowedHostname);
  return {
    get cert() {
      return t.cert;
    },
    get key() {
      return t.key;
    },
    get ca() {
      return t.ca;
    },
    // etcd's TLSInfo.ClientConfig: InsecureSkipVerify for a self-made certificate (auto TLS).
    rejectUnauthorized: !t.selfSigned,
    ...(policy ? policy.dialProtocolOptions() : {}),
    // etcd checks the allowed CN/hostname on the certificate of the peer it dials too (baseConfig).
    ...(allowed ? { checkServerIdentity: (host: string, cert: PeerCertificate) => policy.checkServerIdentity(host, cert) } : {}),
  };
}

/** Options for dialing an https peer over HTTP/2. */
export function peerClientTlsOptions(t: PeerTls): SecureClientSessionOptions {
  return peerDialTls(t);
}

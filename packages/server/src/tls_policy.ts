// One side's TLS (the client port's --cert-file…, or the peer port's --peer-cert-file…) as etcd
// 3.4's pkg/transport TLSInfo applies it, on Node's TLS:
// - the certificate, key and CA files are re-read when they change on disk, so new connections
//   use new files without a restart (etcd re-reads the pair on every handshake). Here every
//   accepted connection (and every dial) first stats the files — a few microseconds — and re-reads
//   them only when a size, mtime or inode changed; a pair that does not load (a key written before
//   its certificate) keeps the previous one and is tried again on the next connection;
// - --cipher-suites (Go's names, tls_names.ts) and etcd 3.5's --tls-min-version/--tls-max-version;
// - after the handshake, as etcd's tlsListener: --client-crl-file/--peer-crl-file (a certificate
//   of the presented chain whose serial the CRL lists is refused; the CRL is re-read when it
//   changes, and a CRL that cannot be read refuses every certificate), and the allowed CN
//   (--peer-cert-allowed-cn) or hostname (--client-cert-allowed-hostname,
//   --peer-cert-allowed-hostname), checked on the leaf of a verified chain. etcd applies the
//   allowed CN/hostname to the certificate of the other side in both directions (its
//   baseConfig's VerifyPeerCertificate): on the peers it dials too.
import { statSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import {
  checkServerIdentity,
  createSecureContext,
  type PeerCertificate,
  type DetailedPeerCertificate,
  type TLSSocket,
  type TlsOptions,
} from 'node:tls';
import { X509Certificate } from 'node:crypto';
import type { Logger } from 'pino';
import type { TlsFiles } from './config.js';
import { normalizeSerial, revokedSerials } from './crl.js';
import { nodeTlsVersions, opensslCiphers } from './tls_names.js';

/** The common name of a certificate's subject ('' without one; the last one when there are several, as Go). */
export function commonName(cert: PeerCertificate | undefined): string {
  const cn = (cert?.subject as Record<string, string | string[] | undefined> | undefined)?.CN;
  if (Array.isArray(cn)) return cn[cn.length - 1] ?? '';
  return cn ?? '';
}

/** Go's x509.Certificate.VerifyHostname (Go ≥ 1.15: SANs only, never the CN): IP SANs for an IP, DNS SANs otherwise. */
export function certMatchesHost(raw: Buffer, host: string): boolean {
  const x = new X509Certificate(raw);
  const h = host.replace(/^\[|\]$/g, '');
  if (isIP(h) !== 0) return x.checkIP(h) !== undefined;
  return x.checkHost(h.replace(/\.$/, ''), { subject: 'never', wildcards: true, partialWildcards: false }) !== undefined;
}

interface Stamp {
  path: string;
  mark: string;
}

function stampOf(path: string): string {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.ino}:${st.size}:${st.mtimeNs}`;
  } catch (err) {
    return `missing:${(err as NodeJS.ErrnoException).code ?? 'error'}`;
  }
}

export interface TlsPolicyOptions {
  /** 'client' or 'peer': names the flags in log lines. */
  side: 'client' | 'peer';
  logger?: Logger;
}

/**
 * The TLS of one side, from its files. Invariant: `current` is always a set of options that
 * createSecureContext accepted (the first at construction, which throws for bad files, so kvd
 * does not start with them).
 */
export class TlsPolicy {
  private current: { cert: Buffer; key: Buffer; ca?: Buffer };
  private stamps: Stamp[];
  /** The stamps of the last attempt that failed, so a broken pair is not re-read on every connection. */
  private failedMarks = '';
  private crl?: { mark: string; serials?: Set<string>; error?: string };
  /** Bumped on every reload (tests and logs). */
  generation = 0;

  constructor(
    readonly files: TlsFiles,
    private readonly o: TlsPolicyOptions,
  ) {
    this.stamps = this.paths().map((path) => ({ path, mark: stampOf(path) }));
    this.current = this.read();
    createSecureContext(this.secureOptions(this.current)); // bad files fail at start
    if (files.crlFile) {
      this.refreshCrl();
      if (this.crl?.error) throw new Error(`${this.crlFlag()} ${files.crlFile}: ${this.crl.error}`);
    }
  }

  private crlFlag(): string {
    return this.o.side === 'client' ? '--client-crl-file' : '--peer-crl-file';
  }

  private paths(): string[] {
    const f = this.files;
    return [f.certFile, f.keyFile, ...(f.trustedCaFile ? [f.trustedCaFile] : [])];
  }

  private read(): { cert: Buffer; key: Buffer; ca?: Buffer } {
    const f = this.files;
    return {
      cert: readFileSync(f.certFile),
      key: readFileSync(f.keyFile),
      ca: f.trustedCaFile ? readFileSync(f.trustedCaFile) : undefined,
    };
  }

  /** Versions and ciphers, for both directions (etcd's baseConfig). */
  private protocolOptions(): Pick<TlsOptions, 'minVersion' | 'maxVersion' | 'ciphers'> {
    const ciphers = opensslCiphers(this.files.cipherSuites);
    return { ...nodeTlsVersions(this.files.minVersion, this.files.maxVersion), ...(ciphers ? { ciphers } : {}) };
  }

  private secureOptions(c: { cert: Buffer; key: Buffer; ca?: Buffer }): TlsOptions {
    return { cert: c.cert, key: c.key, ca: c.ca, ...this.protocolOptions() };
  }

  /**
   * Re-reads the files when one changed since the last look; true when new contents were taken.
   * A set that does not load is logged once and the previous one kept.
   */
  refresh(): boolean {
    const now = this.stamps.map((s) => ({ path: s.path, mark: stampOf(s.path) }));
    const marks = now.map((s) => s.mark).join('|');
    if (marks === this.stamps.map((s) => s.mark).join('|') || marks === this.failedMarks) return false;
    try {
      const next = this.read();
      createSecureContext(this.secureOptions(next));
      this.current = next;
      this.stamps = now;
      this.failedMarks = '';
      this.generation++;
      this.o.logger?.info({ side: this.o.side, files: now.map((s) => s.path) }, 'reloaded TLS certificate files');
      return true;
    } catch (err) {
      this.failedMarks = marks;
      this.o.logger?.warn({ side: this.o.side, err }, 'TLS certificate files changed but do not load; keeping the previous ones');
      return false;
    }
  }

  /** Options for a TLS server: the current files, versions, ciphers, and client certificates requested per --*client-cert-auth. */
  serverOptions(): TlsOptions {
    return {
      ...this.secureOptions(this.current),
      requestCert: this.files.clientCertAuth,
      rejectUnauthorized: this.files.clientCertAuth,
    };
  }

  /** The current files (peer dialing presents the same certificate as its client certificate). */
  get cert(): Buffer {
    this.refresh();
    return this.current.cert;
  }

  get key(): Buffer {
    this.refresh();
    return this.current.key;
  }

  get ca(): Buffer | undefined {
    this.refresh();
    return this.current.ca;
  }

  /** Versions and ciphers when dialing (etcd's ClientConfig is built from the same baseConfig). */
  dialProtocolOptions(): Pick<TlsOptions, 'minVersion' | 'maxVersion' | 'ciphers'> {
    return this.protocolOptions();
  }

  private refreshCrl(): void {
    const path = this.files.crlFile;
    if (!path) return;
    const mark = stampOf(path);
    if (this.crl?.mark === mark) return;
    try {
      this.crl = { mark, serials: revokedSerials(readFileSync(path)) };
    } catch (err) {
      this.crl = { mark, error: (err as Error).message };
      this.o.logger?.error(
        { side: this.o.side, crlFile: path, err },
        'cannot read the certificate revocation list: every certificate is refused until it can',
      );
    }
  }

  /**
   * Why a connection whose handshake succeeded must still be refused (etcd's tlsListener check
   * and VerifyPeerCertificate), or undefined. `verified`: the presented chain was verified
   * against the trusted CA (the allowed CN/hostname are checked only then, as Go calls
   * VerifyPeerCertificate only for a requested certificate).
   */
  rejectReason(cert: DetailedPeerCertificate | undefined, verified: boolean): string | undefined {
    const presented = cert !== undefined && Object.keys(cert).length > 0;
    if (this.files.crlFile && presented) {
      this.refreshCrl();
      if (this.crl?.error) return `cannot read ${this.crlFlag()}: ${this.crl.error}`;
      for (const c of chainOf(cert)) {
        const serial = normalizeSerial(c.serialNumber ?? '');
        if (this.crl?.serials?.has(serial)) return `transport: certificate serial ${serial} revoked`;
      }
    }
    if (presented && verified && !this.allowed(cert)) return 'client certificate authentication failed';
    return undefined;
  }

  /** The allowed CN / hostname check of a verified leaf (true when neither is configured). */
  allowed(cert: PeerCertificate): boolean {
    const { allowedCn, allowedHostname } = this.files;
    if (allowedCn) return commonName(cert) === allowedCn;
    if (allowedHostname) return cert.raw !== undefined && certMatchesHost(cert.raw, allowedHostname);
    return true;
  }

  /** For dialing: Node's server identity check, then the allowed CN/hostname on the server's certificate (etcd's baseConfig). */
  checkServerIdentity(host: string, cert: PeerCertificate): Error | undefined {
    const err = checkServerIdentity(host, cert);
    if (err) return err;
    if (!this.allowed(cert)) return new Error('client certificate authentication failed');
    return undefined;
  }

  /** The TLS socket's rejection, for the listener: undefined when it may proceed. */
  rejectSocket(s: TLSSocket): string | undefined {
    return this.rejectReason(s.getPeerCertificate(true), s.authorized);
  }
}

/** The certificates of a detailed peer certificate, leaf first (the issuer links end at a self-signed one). */
function chainOf(cert: DetailedPeerCertificate): PeerCertificate[] {
  const out: PeerCertificate[] = [];
  let c: DetailedPeerCertificate | undefined = cert;
  while (c && Object.keys(c).length > 0 && out.length < 16) {
    out.push(c);
    if (c.issuerCertificate === c) break;
    c = c.issuerCertificate;
  }
  return out;
}

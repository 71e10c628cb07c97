// --auto-tls / --peer-auto-tls: a self-signed certificate and key, made as etcd 3.4's
// transport.SelfCert makes them (pkg/transport/listener.go): <dir>/cert.pem and <dir>/key.pem,
// reused when both exist; otherwise an ECDSA key on P-521 (etcd 3.4 uses elliptic.P521; its
// signature is ECDSA with SHA-512, as Go picks for that curve), subject O=etcd, valid one year from
// now, key usage digital signature + key encipherment, extended key usage server auth, basic
// constraints CA:FALSE, and one SAN per listen URL host (an IP address, or a DNS name otherwise).
// The key is written as SEC1 ("EC PRIVATE KEY"), mode 0600.
//
// X.509 is built by @peculiar/x509 over Node's WebCrypto: typed, maintained, ECDSA keys on every
// NIST curve, and it is what `selfsigned` itself is built on nowadays (which adds only an RSA-first
// wrapper and pkijs); node-forge has no ECDSA certificates.
import { webcrypto, KeyObject, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { JsonGeneralName } from '@peculiar/x509';

/**
 * @peculiar/x509 resolves its algorithms through tsyringe, which needs the Reflect metadata
 * polyfill installed first; both are loaded only when a certificate is made, so the global
 * polyfill exists only in processes that use --auto-tls/--peer-auto-tls.
 */
async function x509() {
  await import('reflect-metadata');
  return import('@peculiar/x509');
}

export interface SelfCertFiles {
  certFile: string;
  keyFile: string;
  /** True when this call made them (false: an earlier start's pair was reused). */
  created: boolean;
}

/** The host part of each URL ('127.0.0.1:2379' → '127.0.0.1', '[::1]:2379' → '::1'). */
export function certHosts(urls: string[]): string[] {
  return urls.map((u) => new URL(u).hostname.replace(/^\[|\]$/g, ''));
}

/**
 * Makes (or reuses) `dir`/cert.pem and `dir`/key.pem for `hosts`. `now` is the certificate's
 * NotBefore (injected so tests can check the validity window).
 */
export async function selfCert(dir: string, hosts: string[], now: Date = new Date()): Promise<SelfCertFiles> {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, 'cert.pem');
  const keyFile = join(dir, 'key.pem');
  if (existsSync(certFile) && existsSync(keyFile)) return { certFile, keyFile, created: false };
  const {
    BasicConstraintsExtension,
    ExtendedKeyUsage,
    ExtendedKeyUsageExtension,
    KeyUsageFlags,
    KeyUsagesExtension,
    SubjectAlternativeNameExtension,
    X509CertificateGenerator,
  } = await x509();
  const alg = { name: 'ECDSA', namedCurve: 'P-521' } as const;
  const keys = (await webcrypto.subtle.generateKey(alg, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const names: JsonGeneralName[] = hosts.map((h) => (isIP(h) !== 0 ? { type: 'ip', value: h } : { type: 'dns', value: h }));
  // A positive serial below 2^128, as etcd draws it (top bit cleared so DER needs no sign byte).
  const serial = randomBytes(16);
  serial[0] &= 0x7f;
  const notAfter = new Date(now.getTime() + 365 * 24 * 3600 * 1000);
  const cert = await X509CertificateGenerator.createSelfSigned(
    {
      serialNumber: serial.toString('hex'),
      name: 'O=etcd',
      notBefore: now,
      notAfter,
      keys,
      signingAlgorithm: { name: 'ECDSA', hash: 'SHA-512' },
      extensions: [
        new KeyUsagesExtension(KeyUsageFlags.digitalSignature | KeyUsageFlags.keyEncipherment, true),
        new ExtendedKeyUsageExtension([ExtendedKeyUsage.serverAuth]),
        new BasicConstraintsExtension(false, undefined, true),
        ...(names.length > 0 ? [new SubjectAlternativeNameExtension(names)] : []),
      ],
    },
    webcrypto as unknown as Parameters<typeof X509CertificateGenerator.createSelfSigned>[1],
  );
  writeFileSync(certFile, cert.toString('pem') + '\n', { mode: 0o600 });
  const key = KeyObject.from(keys.privateKey).export({ type: 'sec1', format: 'pem' }) as string;
  writeFileSync(keyFile, key, { mode: 0o600 });
  return { certFile, keyFile, created: true };
}

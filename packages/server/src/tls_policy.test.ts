// TLS hardening on a real listener (listener.ts + tls_policy.ts) with openssl-made certificates:
// each handshake that must fail fails, the allowed one passes, and changed files are picked up.
import { makeTestCerts, makeTestCrl, opensslUnavailable, type TestCerts } from '@kv/testkit';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect, type ConnectionOptions } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TlsFiles } from './config.js';
import { normalizeSerial, revokedSerials } from './crl.js';
import { ClientListener } from './listener.js';
import { pino } from 'pino';
import { TlsPolicy } from './tls_policy.js';
import { peerDialTls, loadPeerTls } from './transport/tls.js';

const skip = opensslUnavailable();
if (skip) console.warn(`skipping TLS policy tests: ${skip}`);

type Attempt = { ok: true; fingerprint: string; cipher: string; protocol: string } | { ok: false; error: string };

/** Connects, asks GET / over HTTP/1.1 and says whether the listener answered (bounded: 10 s). */
function attempt(port: number, opts: ConnectionOptions): Promise<Attempt> {
  return new Promise((resolve) => {
    let data = '';
    let info: { fingerprint: string; cipher: string; protocol: string } | undefined;
    let settled = false;
    const done = (r: Attempt) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      s.destroy();
      resolve(r);
    };
    const s = connect({ host: '127.0.0.1', port, servername: 'localhost', ALPNProtocols: ['http/1.1'], ...opts }, () => {
      info = { fingerprint: s.getPeerX509Certificate()?.fingerprint256 ?? '', cipher: s.getCipher().name, protocol: s.getProtocol() ?? '' };
      s.write('GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n');
    });
    const timer = setTimeout(() => done({ ok: false, error: 'timeout' }), 10_000);
    s.on('data', (c: Buffer) => {
      data += c.toString();
      if (info && data.startsWith('HTTP/1.1 200')) done({ ok: true, ...info });
    });
    s.on('error', (err) => done({ ok: false, error: err.message }));
    s.on('close', () => done({ ok: false, error: data === '' ? 'closed without an answer' : data }));
  });
}

describe.skipIf(skip !== undefined)('TLS policy on a listener', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-tls-policy-'));
  let certs: TestCerts;
  const open: ClientListener[] = [];

  beforeAll(() => {
    certs = makeTestCerts(dir, {
      certs: [{ name: 'member' }, { name: 'member2' }, { name: 'client' }, { name: 'revoked' }, { name: 'app', san: 'DNS:app.example' }],
    });
  });
  afterAll(async () => {
    for (const l of open) await l.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const files = (extra: Partial<TlsFiles> = {}): TlsFiles => ({
    certFile: certs.get('member').certFile,
    keyFile: certs.get('member').keyFile,
    trustedCaFile: certs.get('ca').certFile,
    clientCertAuth: true,
    ...extra,
  });

  /** What the listeners logged (rejections), newest last. */
  const logged: string[] = [];
  const logger = pino({ level: 'warn' }, { write: (line: string) => void logged.push(line) });
  const lastRejection = () => (JSON.parse(logged[logged.length - 1] ?? '{}') as { error?: string }).error ?? '';

  async function serve(policy: TlsPolicy): Promise<number> {
    const l = new ClientListener({
      host: '127.0.0.1',
      port: 0,
      tlsPolicy: policy,
      grpc: (c) => c.destroy(),
      http: (_req, res) => res.end('ok'),
      logger,
    });
    open.push(l);
    return l.listen();
  }

  const as = (name: string): ConnectionOptions => ({ ca: certs.get('ca').cert, cert: certs.get(name).cert, key: certs.get(name).key });

  it('refuses a revoked client certificate (--client-crl-file) and reads a changed CRL', async () => {
    const crl = join(dir, 'serving.crl');
    copyFileSync(makeTestCrl(certs, 'ca', ['revoked'], 'one.crl'), crl);
    const port = await serve(new TlsPolicy(files({ crlFile: crl }), { side: 'client' }));
    expect(await attempt(port, as('client'))).toMatchObject({ ok: true });
    expect(await attempt(port, as('revoked'))).toMatchObject({ ok: false });
    const serial = normalizeSerial(new X509Certificate(certs.get('revoked').cert).serialNumber);
    expect(lastRejection()).toBe(`transport: certificate serial ${serial} revoked`);
    copyFileSync(makeTestCrl(certs, 'ca', ['revoked', 'client'], 'two.crl'), crl);
    expect(await attempt(port, as('client'))).toMatchObject({ ok: false });
    // A CRL that cannot be parsed refuses everyone (etcd reads it per connection and fails closed).
    writeFileSync(crl, 'garbage');
    expect(await attempt(port, as('member'))).toMatchObject({ ok: false });
    expect(lastRejection()).toMatch(/^cannot read --client-crl-file: CRL: /);
  });

  it('parses CRLs as PEM and DER, serials without leading zeros', () => {
    const pem = readFileSync(makeTestCrl(certs, 'ca', ['revoked', 'app'], 'parse.crl'));
    const want = ['revoked', 'app'].map((n) => normalizeSerial(new X509Certificate(certs.get(n).cert).serialNumber));
    expect([...revokedSerials(pem)].sort()).toEqual(want.sort());
    const b64 = /-----BEGIN X509 CRL-----([\s\S]*?)-----END/.exec(pem.toString())![1]!.replace(/\s+/g, '');
    expect([...revokedSerials(Buffer.from(b64, 'base64'))].sort()).toEqual(want.sort());
    expect(revokedSerials(readFileSync(makeTestCrl(certs, 'ca', [], 'empty.crl'))).size).toBe(0);
    expect(() => revokedSerials(Buffer.from('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'))).toThrow(/X509 CRL/);
    expect(() => revokedSerials(Buffer.from([0x30, 0x85, 1, 2, 3, 4, 5]))).toThrow(/CRL/);
    expect(normalizeSerial('00AB')).toBe('ab');
  });

  it('--client-cert-allowed-hostname: only a certificate whose SANs match passes', async () => {
    const port = await serve(new TlsPolicy(files({ allowedHostname: 'app.example' }), { side: 'client' }));
    expect(await attempt(port, as('app'))).toMatchObject({ ok: true });
    expect(await attempt(port, as('client'))).toMatchObject({ ok: false });
    expect(lastRejection()).toBe('client certificate authentication failed');
  });

  it('--peer-cert-allowed-cn: only the allowed common name passes, on the listener and when dialing', async () => {
    const port = await serve(new TlsPolicy(files({ allowedCn: 'member' }), { side: 'peer' }));
    expect(await attempt(port, as('member'))).toMatchObject({ ok: true });
    expect(await attempt(port, as('client'))).toMatchObject({ ok: false });
    expect(lastRejection()).toBe('client certificate authentication failed');
    // Dialing checks the server's certificate too (etcd's baseConfig): the server here is CN=member.
    const dial = (cn: string) => {
      const t = loadPeerTls({ ...files({ allowedCn: cn }), certFile: certs.get('member').certFile, keyFile: certs.get('member').keyFile })!;
      return attempt(port, { ...peerDialTls(t) });
    };
    expect(await dial('member')).toMatchObject({ ok: true });
    const wrong = await dial('someone-else');
    expect(wrong).toMatchObject({ ok: false, error: 'client certificate authentication failed' });
  });

  it('refuses TLS 1.1, and TLS 1.2 under --tls-min-version TLS1.3', async () => {
    const port = await serve(new TlsPolicy(files(), { side: 'client' }));
    expect(await attempt(port, { ...as('client'), maxVersion: 'TLSv1.2' })).toMatchObject({ ok: true, protocol: 'TLSv1.2' });
    // A client that would speak TLS 1.1 (OpenSSL needs security level 0 for it).
    const old = await attempt(port, { ...as('client'), minVersion: 'TLSv1.1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
    expect(old.ok).toBe(false);
    expect(lastRejection()).toMatch(/unsupported protocol/);
    const only13 = await serve(new TlsPolicy(files({ minVersion: 'TLS1.3' }), { side: 'client' }));
    expect(await attempt(only13, { ...as('client'), maxVersion: 'TLSv1.2' })).toMatchObject({ ok: false });
    expect(await attempt(only13, as('client'))).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
    const only12 = await serve(new TlsPolicy(files({ maxVersion: 'TLS1.2' }), { side: 'client' }));
    expect(await attempt(only12, as('client'))).toMatchObject({ ok: true, protocol: 'TLSv1.2' });
  });

  it('--cipher-suites: a TLS 1.2 client offering only other suites is refused; TLS 1.3 is not restricted (as Go)', async () => {
    const port = await serve(new TlsPolicy(files({ cipherSuites: ['TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256'] }), { side: 'client' }));
    const tls12 = (ciphers: string) => attempt(port, { ...as('client'), maxVersion: 'TLSv1.2', ciphers });
    expect(await tls12('ECDHE-ECDSA-AES256-GCM-SHA384')).toMatchObject({ ok: false });
    expect(lastRejection()).toMatch(/no shared cipher/);
    expect(await tls12('ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384')).toMatchObject({
      ok: true,
      cipher: 'ECDHE-ECDSA-AES128-GCM-SHA256',
    });
    expect(await attempt(port, as('client'))).toMatchObject({ ok: true, protocol: 'TLSv1.3' });
  });

  it('serves a new certificate after its files change on disk, and keeps the old one while the new pair does not load', async () => {
    const cert = join(dir, 'serving.crt');
    const key = join(dir, 'serving.key');
    copyFileSync(certs.get('member').certFile, cert);
    copyFileSync(certs.get('member').keyFile, key);
    const policy = new TlsPolicy(files({ certFile: cert, keyFile: key }), { side: 'client' });
    const port = await serve(policy);
    const fp = (name: string) => new X509Certificate(certs.get(name).cert).fingerprint256;
    expect(await attempt(port, as('client'))).toMatchObject({ ok: true, fingerprint: fp('member') });
    // Half a rotation: the new certificate with the old key does not load; the old pair stays.
    copyFileSync(certs.get('member2').certFile, cert);
    expect(await attempt(port, as('client'))).toMatchObject({ ok: true, fingerprint: fp('member') });
    copyFileSync(certs.get('member2').keyFile, key);
    expect(await attempt(port, as('client'))).toMatchObject({ ok: true, fingerprint: fp('member2') });
    expect(policy.generation).toBe(1);
  });
});

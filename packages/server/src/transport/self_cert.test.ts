import { createPrivateKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { certHosts, selfCert } from './self_cert.js';

describe("selfCert (--auto-tls, as etcd's transport.SelfCert)", () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('makes an ECDSA P-521 certificate for the listen hosts, O=etcd, one year, and reuses it', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kv-selfcert-'));
    const fixtures = join(dir, 'fixtures', 'client');
    const now = new Date('2026-01-01T00:00:00Z');
    const hosts = certHosts(['https://127.0.0.1:2379', 'https://[::1]:2379', 'https://node1.example:2379']);
    expect(hosts).toEqual(['127.0.0.1', '::1', 'node1.example']);
    const made = await selfCert(fixtures, hosts, now);
    expect(made).toEqual({ certFile: join(fixtures, 'cert.pem'), keyFile: join(fixtures, 'key.pem'), created: true });
    const cert = new X509Certificate(readFileSync(made.certFile));
    expect(cert.subject).toBe('O=etcd');
    expect(cert.issuer).toBe('O=etcd');
    expect(cert.ca).toBe(false);
    expect(cert.subjectAltName).toBe('IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1, DNS:node1.example');
    expect(new Date(cert.validFrom).getTime()).toBe(now.getTime());
    expect(new Date(cert.validTo).getTime() - now.getTime()).toBe(365 * 24 * 3600 * 1000);
    expect(cert.publicKey.asymmetricKeyDetails?.namedCurve).toBe('secp521r1');
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.1']); // extended key usage: server auth
    const keyPem = readFileSync(made.keyFile, 'utf8');
    expect(keyPem).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
    expect(cert.checkPrivateKey(createPrivateKey(keyPem))).toBe(true);
    expect(cert.verify(cert.publicKey)).toBe(true); // self-signed
    expect(statSync(made.keyFile).mode & 0o777).toBe(0o600);
    // A second start reuses the pair.
    expect(await selfCert(fixtures, hosts)).toEqual({ ...made, created: false });
    expect(readFileSync(made.certFile)).toEqual(readFileSync(made.certFile));
  });
});

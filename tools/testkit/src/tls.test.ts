import { X509Certificate } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { memberArgs } from './flags.js';
import { makeTestCerts, opensslUnavailable } from './tls.js';

describe.skipIf(opensslUnavailable() !== undefined)('makeTestCerts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-testkit-tls-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('makes CAs and leaves signed by the CA named, for 127.0.0.1 and localhost', () => {
    const certs = makeTestCerts(dir, { cas: ['ca', 'other-ca'], certs: [{ name: 'member' }, { name: 'stranger', ca: 'other-ca' }] });
    const ca = new X509Certificate(certs.get('ca').cert);
    const other = new X509Certificate(certs.get('other-ca').cert);
    const member = certs.get('member');
    const m = new X509Certificate(member.cert);
    expect(member.certFile).toBe(join(dir, 'member.crt'));
    expect(member.caFile).toBe(join(dir, 'ca.crt'));
    expect(member.ca.equals(certs.get('ca').cert)).toBe(true);
    expect(m.verify(ca.publicKey)).toBe(true);
    expect(m.verify(other.publicKey)).toBe(false);
    expect(m.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(m.checkHost('localhost')).toBe('localhost');
    expect(new X509Certificate(certs.get('stranger').cert).verify(other.publicKey)).toBe(true);
    expect(() => certs.get('nobody')).toThrow(/no certificate nobody/);
  });

  it('refuses names that collide or a CA not made', () => {
    expect(() => makeTestCerts(dir, { cas: ['x'], certs: [{ name: 'x' }] })).toThrow(/distinct/);
    expect(() => makeTestCerts(dir, { certs: [{ name: 'y', ca: 'nope' }] })).toThrow(/unknown CA nope/);
  });
});

describe('memberArgs', () => {
  it("is etcd's clustering flags, the optional ones only when given", () => {
    const base = { name: 'a', dataDir: '/d', clientUrl: 'http://127.0.0.1:1', peerUrl: 'http://127.0.0.1:2' };
    expect(memberArgs(base)).toContain('a=http://127.0.0.1:2');
    expect(memberArgs(base)).not.toContain('--initial-cluster-state');
    const joined = memberArgs({ ...base, initialCluster: 'b=x,a=y', initialClusterState: 'existing', token: 't' });
    expect(joined.slice(-6)).toEqual([
      '--initial-cluster',
      'b=x,a=y',
      '--initial-cluster-state',
      'existing',
      '--initial-cluster-token',
      't',
    ]);
  });
});

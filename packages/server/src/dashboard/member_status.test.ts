// askStatus over https, against a real member whose client port requires a client certificate:
// with kvd's client TLS files it gets the member's Status; without the certificate, or trusting
// another CA, the member is reported unreachable with the TLS reason (never a made-up status).
import { makeTestCerts, opensslUnavailable, type TestCerts } from '@kv/testkit';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLoopbackPorts, startMember, type EmbeddedMember } from '../embed.js';
import { askStatus, type MemberRef } from './member_status.js';

describe.skipIf(opensslUnavailable() !== undefined)('askStatus over https', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-ui-tls-'));
  let certs: TestCerts;
  let m: EmbeddedMember;
  let ref: MemberRef;

  beforeAll(async () => {
    certs = makeTestCerts(dir, { cas: ['ca', 'other-ca'], certs: [{ name: 'member' }, { name: 'stranger', ca: 'other-ca' }] });
    const member = certs.get('member');
    const [c, p] = await freeLoopbackPorts(2);
    m = await startMember({
      name: 'tls',
      listenClientUrls: [`https://127.0.0.1:${c}`],
      advertiseClientUrls: [`https://127.0.0.1:${c}`],
      listenPeerUrls: [`http://127.0.0.1:${p}`],
      initialAdvertisePeerUrls: [`http://127.0.0.1:${p}`],
      clientTls: { certFile: member.certFile, keyFile: member.keyFile, trustedCaFile: member.caFile, clientCertAuth: true },
    });
    await m.ready;
    ref = { id: m.memberId, name: 'tls', clientUrls: m.clientUrls };
  }, 60_000);
  afterAll(async () => {
    await m?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('asks with the client certificate and the trusted CA', async () => {
    const member = certs.get('member');
    const row = await askStatus(ref, undefined, {
      tls: () => ({ ca: member.ca, cert: member.cert, key: member.key, rejectUnauthorized: true }),
      timeoutMs: 5000,
    });
    expect(row.error).toBeUndefined();
    expect(row.url).toBe(m.clientUrls[0]);
    const st = row.status as { header: { member_id: string }; leader: string };
    expect(st.header.member_id).toBe(m.memberId.toString());
    expect(st.leader).toBe(m.memberId.toString());
  });

  it('reports unreachable, with the reason, without a certificate or trusting another CA', async () => {
    const member = certs.get('member');
    const stranger = certs.get('stranger');
    const noCert = await askStatus(ref, undefined, { tls: () => ({ ca: member.ca, rejectUnauthorized: true }), timeoutMs: 5000 });
    expect(noCert.status).toBeUndefined();
    expect(noCert.error).toMatch(new RegExp(`^unreachable: ${m.clientUrls[0]}: `));
    const otherCa = await askStatus(ref, undefined, {
      tls: () => ({ ca: stranger.ca, cert: member.cert, key: member.key, rejectUnauthorized: true }),
      timeoutMs: 5000,
    });
    expect(otherCa.status).toBeUndefined();
    expect(otherCa.error).toMatch(/^unreachable: .*(self[- ]signed|unable to verify|certificate)/i);
  });

  it('reports a member with no client URL, and a port nobody listens on, as unreachable', async () => {
    const [free] = await freeLoopbackPorts(1);
    const tls = () => ({ rejectUnauthorized: true });
    expect((await askStatus({ id: 1n, name: 'new', clientUrls: [] }, undefined, { tls, timeoutMs: 2000 })).error).toBe(
      'unreachable: the member has no client URL yet',
    );
    const down = await askStatus({ id: 2n, name: 'down', clientUrls: [`http://127.0.0.1:${free}`] }, undefined, { tls, timeoutMs: 2000 });
    expect(down.error).toMatch(/^unreachable: http:\/\/127\.0\.0\.1:\d+: .*ECONNREFUSED/);
  });
});

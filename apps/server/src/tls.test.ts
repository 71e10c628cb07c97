// Client and peer TLS: a three-member kvd cluster with https client and peer URLs and certificate
// authentication on both, used by the real etcdctl with and without a client certificate.
import { freePort, KVD_BIN } from '@kv/testkit';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

function have(cmd: string): boolean {
  try {
    execFileSync(cmd, ['version'], { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } });
    return true;
  } catch {
    return false;
  }
}
const ready = have('openssl') && have('etcdctl');
if (!ready) console.warn('skipping TLS tests: openssl or etcdctl is not installed');

describe.skipIf(!ready)('TLS on the client and peer ports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvd-tls-'));
  const p = (s: string) => join(dir, s);
  const procs: ChildProcess[] = [];
  let endpoints: string[] = [];

  function openssl(args: string[]): void {
    execFileSync('openssl', args, { stdio: 'ignore' });
  }
  function cert(name: string): void {
    openssl([
      'req',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      p(`${name}.key`),
      '-out',
      p(`${name}.csr`),
      '-subj',
      `/CN=${name}`,
    ]);
    writeFileSync(p(`${name}.ext`), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n');
    openssl([
      'x509',
      '-req',
      '-in',
      p(`${name}.csr`),
      '-CA',
      p('ca.crt'),
      '-CAkey',
      p('ca.key'),
      '-CAcreateserial',
      '-out',
      p(`${name}.crt`),
      '-days',
      '1',
      '-extfile',
      p(`${name}.ext`),
    ]);
  }
  const ctl = (args: string[], withCert = true) =>
    execFileSync(
      'etcdctl',
      [
        '--endpoints',
        endpoints.join(','),
        '--cacert',
        p('ca.crt'),
        ...(withCert ? ['--cert', p('client.crt'), '--key', p('client.key')] : []),
        '--dial-timeout',
        '3s',
        '--command-timeout',
        '5s',
        ...args,
      ],
      {
        env: { PATH: process.env.PATH ?? '', ETCDCTL_API: '3' },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ).toString();

  beforeAll(async () => {
    openssl([
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      p('ca.key'),
      '-out',
      p('ca.crt'),
      '-days',
      '1',
      '-subj',
      '/CN=kv-test-ca',
    ]);
    cert('member');
    cert('client');
    const ports = await Promise.all([0, 1, 2, 3, 4, 5].map(() => freePort()));
    const names = ['t1', 't2', 't3'];
    const peer = (i: number) => `https://127.0.0.1:${ports[2 * i + 1]}`;
    const client = (i: number) => `https://127.0.0.1:${ports[2 * i]}`;
    const initialCluster = names.map((n, i) => `${n}=${peer(i)}`).join(',');
    endpoints = names.map((_, i) => `127.0.0.1:${ports[2 * i]}`);
    names.forEach((name, i) => {
      procs.push(
        spawn(
          process.execPath,
          [
            KVD_BIN,
            '--name',
            name,
            '--data-dir',
            p(name),
            '--listen-client-urls',
            client(i),
            '--advertise-client-urls',
            client(i),
            '--listen-peer-urls',
            peer(i),
            '--initial-advertise-peer-urls',
            peer(i),
            '--initial-cluster',
            initialCluster,
            '--cert-file',
            p('member.crt'),
            '--key-file',
            p('member.key'),
            '--trusted-ca-file',
            p('ca.crt'),
            '--client-cert-auth',
            '--peer-cert-file',
            p('member.crt'),
            '--peer-key-file',
            p('member.key'),
            '--peer-trusted-ca-file',
            p('ca.crt'),
            '--peer-client-cert-auth',
          ],
          { stdio: 'ignore' },
        ),
      );
    });
    const deadline = Date.now() + 30_000;
    for (;;) {
      try {
        ctl(['put', 'ready', '1']);
        break;
      } catch (err) {
        if (Date.now() > deadline) throw err;
        await new Promise((r) => setTimeout(r, 250));
      }
    }
  }, 60_000);

  afterAll(() => {
    for (const c of procs) if (c.exitCode === null && c.pid) process.kill(c.pid, 'SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('replicates over TLS peers and serves etcdctl with a client certificate', () => {
    ctl(['put', 'secure', 'yes']);
    for (const e of endpoints) {
      const out = execFileSync(
        'etcdctl',
        [
          '--endpoints',
          e,
          '--cacert',
          p('ca.crt'),
          '--cert',
          p('client.crt'),
          '--key',
          p('client.key'),
          'get',
          'secure',
          '--print-value-only',
        ],
        {
          env: { PATH: process.env.PATH ?? '', ETCDCTL_API: '3' },
        },
      ).toString();
      expect(out).toBe('yes\n');
    }
    const status = ctl(['endpoint', 'status', '-w', 'json']);
    const leaders = new Set((JSON.parse(status) as { Status: { leader: number } }[]).map((s) => s.Status.leader));
    expect(leaders.size).toBe(1);
  }, 30_000);

  it('refuses a client without a certificate', () => {
    expect(() => ctl(['get', 'secure'], false)).toThrow();
  }, 30_000);
});

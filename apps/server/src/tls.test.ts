// Client and peer TLS: a three-member kvd cluster with https client and peer URLs and certificate
// authentication on both, used by the real etcdctl with and without a client certificate.
import {
  KVD_BIN,
  makeTestCerts,
  ManagedProcess,
  memberArgs,
  opensslUnavailable,
  runProcess,
  withFreshPorts,
  type TestCerts,
} from '@kv/testkit';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

function haveEtcdctl(): boolean {
  try {
    execFileSync('etcdctl', ['version'], { stdio: 'ignore', env: { ...process.env, ETCDCTL_API: '3' } });
    return true;
  } catch {
    return false;
  }
}
const ready = opensslUnavailable() === undefined && haveEtcdctl();
if (!ready) console.warn('skipping TLS tests: openssl or etcdctl is not installed');

describe.skipIf(!ready)('TLS on the client and peer ports', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kvd-tls-'));
  let certs: TestCerts;
  let members: ManagedProcess[] = [];
  let endpoints: string[] = [];
  let peerUrls: string[] = [];
  let tlsFlags: string[] = [];
  const ctlEnv = { PATH: process.env.PATH ?? '', ETCDCTL_API: '3' };
  const ctlTls = (withCert: boolean) => [
    '--cacert',
    certs.get('ca').certFile,
    ...(withCert ? ['--cert', certs.get('client').certFile, '--key', certs.get('client').keyFile] : []),
  ];

  const ctl = (args: string[], withCert = true) =>
    execFileSync(
      'etcdctl',
      ['--endpoints', endpoints.join(','), ...ctlTls(withCert), '--dial-timeout', '3s', '--command-timeout', '5s', ...args],
      {
        env: ctlEnv,
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    ).toString();

  beforeAll(async () => {
    certs = makeTestCerts(dir);
    const member = certs.get('member');
    tlsFlags = [
      ...['--cert-file', member.certFile, '--key-file', member.keyFile, '--trusted-ca-file', member.caFile, '--client-cert-auth'],
      ...['--peer-cert-file', member.certFile, '--peer-key-file', member.keyFile, '--peer-trusted-ca-file', member.caFile],
      '--peer-client-cert-auth',
    ];
    const names = ['t1', 't2', 't3'];
    let attempt = 0;
    // Ports held until the members spawn; a start that lost one (EADDRINUSE) runs again on fresh ones.
    members = await withFreshPorts(2 * names.length, async (ports, release) => {
      attempt++;
      const peer = (i: number) => `https://127.0.0.1:${ports[2 * i + 1]}`;
      const client = (i: number) => `https://127.0.0.1:${ports[2 * i]}`;
      const initialCluster = names.map((n, i) => `${n}=${peer(i)}`).join(',');
      const procs = names.map(
        (name, i) =>
          new ManagedProcess({
            name,
            bin: process.execPath,
            args: [
              KVD_BIN,
              ...memberArgs({ name, dataDir: join(dir, `${name}-${attempt}`), clientUrl: client(i), peerUrl: peer(i), initialCluster }),
              ...tlsFlags,
            ],
            stopTimeoutMs: 5_000,
          }),
      );
      await release();
      for (const p of procs) p.start();
      try {
        // Ready: the member itself answers a linearizable read over TLS with a client certificate.
        await Promise.all(
          procs.map((p, i) =>
            p.waitReady(
              async () => {
                const r = await runProcess('etcdctl', ['--endpoints', `127.0.0.1:${ports[2 * i]}`, ...ctlTls(true), 'endpoint', 'health'], {
                  env: ctlEnv,
                  timeoutMs: 10_000,
                });
                return r.code === 0 ? { ready: true } : { ready: false, reason: r.stderr.trim() };
              },
              { timeoutMs: 30_000, intervalMs: 250 },
            ),
          ),
        );
      } catch (e) {
        for (const p of procs) await p.stop();
        throw e;
      }
      endpoints = names.map((_, i) => `127.0.0.1:${ports[2 * i]}`);
      peerUrls = names.map((n, i) => `${n}=${peer(i)}`);
      return procs;
    });
  }, 120_000);

  afterAll(async () => {
    for (const m of members) await m.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('replicates over TLS peers and serves etcdctl with a client certificate', () => {
    ctl(['put', 'secure', 'yes']);
    for (const e of endpoints) {
      const out = execFileSync('etcdctl', ['--endpoints', e, ...ctlTls(true), 'get', 'secure', '--print-value-only'], {
        env: ctlEnv,
      }).toString();
      expect(out).toBe('yes\n');
    }
    const status = ctl(['endpoint', 'status', '-w', 'json']);
    const leaders = new Set((JSON.parse(status) as { Status: { leader: number } }[]).map((s) => s.Status.leader));
    expect(leaders.size).toBe(1);
  }, 30_000);

  it('forwards keep-alives and time-to-live from followers to the leader over https with the client certificate', () => {
    // A follower answers these from the leader's lessor: it dials the leader's https client URL
    // with its own client TLS (--trusted-ca-file, --cert-file/--key-file), which
    // --client-cert-auth requires.
    const id = /lease ([0-9a-f]+) granted/.exec(ctl(['lease', 'grant', '60']))?.[1];
    expect(id).toBeDefined();
    for (const e of endpoints) {
      const once = execFileSync('etcdctl', ['--endpoints', e, ...ctlTls(true), 'lease', 'keep-alive', '--once', id!], {
        env: ctlEnv,
      }).toString();
      expect(once).toMatch(new RegExp(`lease ${id} keepalived with TTL\\(\\d+\\)`));
      const ttl = execFileSync('etcdctl', ['--endpoints', e, ...ctlTls(true), 'lease', 'timetolive', id!], { env: ctlEnv }).toString();
      expect(ttl).toMatch(new RegExp(`lease ${id} granted with TTL\\(60s\\), remaining\\(\\d+s\\)`));
    }
  }, 60_000);

  it('refuses a client without a certificate', () => {
    expect(() => ctl(['get', 'secure'], false)).toThrow();
  }, 30_000);

  it('answers etcdctl --cluster over https (the :authority carries the scheme)', async () => {
    // etcdctl leaves out (on stderr) a member that did not answer within --command-timeout, which
    // a loaded machine can cause once: asked again, bounded; a member that never answers fails.
    const want = endpoints.map((e) => `https://${e}`).sort();
    let got: string[] = [];
    for (let i = 0; i < 5 && got.join() !== want.join(); i++) {
      if (i > 0) await new Promise((r) => setTimeout(r, 1000));
      got = (JSON.parse(ctl(['endpoint', 'status', '--cluster', '-w', 'json'])) as { Endpoint: string }[]).map((s) => s.Endpoint).sort();
    }
    expect(got).toEqual(want);
    const hashes = JSON.parse(ctl(['endpoint', 'hashkv', '--cluster', '-w', 'json'])) as { HashKV: { hash: number } }[];
    expect(new Set(hashes.map((h) => h.HashKV.hash)).size).toBe(1);
  }, 30_000);

  it('lets a new member join over https peers (--initial-cluster-state existing fetches the members with its certificate)', async () => {
    const joined = await withFreshPorts(2, async ([clientPort, peerPort], release) => {
      const peer = `https://127.0.0.1:${peerPort}`;
      const client = `https://127.0.0.1:${clientPort}`;
      // --strict-reconfig-check refuses an add in a member's first 5 s of peer connectivity: retry.
      const deadline = Date.now() + 30_000;
      for (;;) {
        try {
          ctl(['member', 'add', 't4', `--peer-urls=${peer}`]);
          break;
        } catch (err) {
          if (Date.now() > deadline || !/unhealthy cluster/.test(String((err as { stderr?: Buffer }).stderr ?? err))) throw err;
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      const p = new ManagedProcess({
        name: 't4',
        bin: process.execPath,
        args: [
          KVD_BIN,
          ...memberArgs({
            name: 't4',
            dataDir: join(dir, 't4'),
            clientUrl: client,
            peerUrl: peer,
            initialCluster: [...peerUrls, `t4=${peer}`].join(','),
            initialClusterState: 'existing',
          }),
          ...tlsFlags,
        ],
        stopTimeoutMs: 5_000,
      });
      await release();
      p.start();
      members.push(p);
      await p.waitReady(
        async () => {
          const r = await runProcess(
            'etcdctl',
            ['--endpoints', `127.0.0.1:${clientPort}`, ...ctlTls(true), 'get', 'secure', '--print-value-only'],
            {
              env: ctlEnv,
              timeoutMs: 10_000,
            },
          );
          return r.code === 0 && r.stdout === 'yes\n' ? { ready: true } : { ready: false, reason: r.stderr.trim() || r.stdout };
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );
      return p;
    });
    expect(joined.pid).toBeGreaterThan(0);
    const list = ctl(['member', 'list']);
    expect(list).toMatch(/, started, t4, https:\/\/127\.0\.0\.1:\d+, https:\/\/127\.0\.0\.1:\d+, false/);
  }, 120_000);
});

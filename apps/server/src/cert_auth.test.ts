// --client-cert-auth identities against the oracle: the same etcdctl 3.4 script, run with client
// certificates only (CN=root, CN=alice, CN=bob who is no user, a certificate without a CN), on
// kvd and on real etcd 3.4 with https clients; every command's exit status and output line must
// match. Also a token beats the certificate (etcd's AuthInfoFromCtx order).
import {
  makeTestCerts,
  ManagedProcess,
  memberArgs,
  opensslUnavailable,
  runProcess,
  serverBinary,
  serverKinds,
  withFreshPorts,
  type ServerKind,
  type TestCerts,
} from '@kv/testkit';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const kinds = serverKinds();
const missing = opensslUnavailable() ?? kinds.find((k) => k.skip)?.skip;
if (missing) console.warn(`skipping client certificate identity tests: ${missing}`);

/**
 * [certificate, etcdctl arguments, kvd's answer where kv is stricter than etcd 3.4 on purpose
 * (docs/security.md)]: the script, run as written on both servers.
 */
const script: [string, string[], string?][] = [
  ['root', ['user', 'add', 'root', '--new-user-password', 'rootpw']],
  ['root', ['role', 'add', 'root']],
  ['root', ['user', 'grant-role', 'root', 'root']],
  ['root', ['user', 'add', 'alice', '--new-user-password', 'alicepw']],
  ['root', ['role', 'add', 'app']],
  ['root', ['role', 'grant-permission', 'app', 'readwrite', '/app/', '--prefix']],
  ['root', ['user', 'grant-role', 'alice', 'app']],
  ['root', ['put', '/other', 'x']],
  ['root', ['auth', 'enable']],
  // auth on: the certificate's CN is the user, without --user
  ['root', ['put', '/app/a', '1']],
  ['root', ['get', '/other', '--print-value-only']],
  ['root', ['user', 'list']],
  ['alice', ['put', '/app/b', '2']],
  ['alice', ['get', '/app/', '--prefix']],
  ['alice', ['get', '/other']],
  ['alice', ['put', '/other', 'y']],
  ['alice', ['del', '/app/a']],
  ['alice', ['user', 'list']],
  ['alice', ['user', 'get', 'alice']],
  ['alice', ['compaction', '1'], 'exit 1\n\nError: etcdserver: permission denied'], // Compact is root-only in kv
  ['bob', ['get', '/app/a']],
  ['bob', ['user', 'list']],
  ['nocn', ['get', '/app/b']],
  ['nocn', ['user', 'list']],
  // a token wins over the certificate, a bad password fails even with a root certificate
  ['alice', ['--user', 'root:rootpw', 'get', '/other', '--print-value-only']],
  ['root', ['--user', 'alice:alicepw', 'get', '/other']],
  ['root', ['--user', 'root:wrong', 'get', '/other']],
  ['root', ['role', 'revoke-permission', 'app', '/app/', '--prefix']],
  ['alice', ['get', '/app/b']],
  ['root', ['auth', 'disable']],
  ['bob', ['get', '/other', '--print-value-only']],
];

/** What a command printed that must match: stdout, and the Error line of stderr (etcdctl's retry logs carry times and ports). */
function outcome(r: { code: number | null; stdout: string; stderr: string }): string {
  const err = r.stderr
    .split('\n')
    .filter((l) => l.startsWith('Error:'))
    .join('\n');
  return `exit ${r.code}\n${r.stdout.trim()}${err ? `\n${err}` : ''}`;
}

describe.skipIf(missing !== undefined)('client certificate identities (--client-cert-auth), kvd vs etcd', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-cert-auth-'));
  let certs: TestCerts;
  const servers: { kind: ServerKind; proc: ManagedProcess; endpoint: string }[] = [];
  const env = { PATH: process.env.PATH ?? '', ETCDCTL_API: '3' };
  const ctl = (endpoint: string, cert: string, args: string[]) =>
    runProcess(
      'etcdctl',
      [
        '--endpoints',
        endpoint,
        '--cacert',
        certs.get('ca').certFile,
        '--cert',
        certs.get(cert).certFile,
        '--key',
        certs.get(cert).keyFile,
        '--dial-timeout',
        '5s',
        '--command-timeout',
        '10s',
        ...args,
      ],
      { env, timeoutMs: 30_000 },
    );

  beforeAll(async () => {
    certs = makeTestCerts(dir, {
      certs: [{ name: 'member' }, { name: 'root' }, { name: 'alice' }, { name: 'bob' }, { name: 'nocn', subject: '/O=kv' }],
    });
    const m = certs.get('member');
    for (const { kind } of kinds) {
      const proc = await withFreshPorts(2, async (ports, release) => {
        const clientUrl = `https://127.0.0.1:${ports[0]}`;
        const p = new ManagedProcess({
          name: `${kind} cert-auth`,
          bin: serverBinary(kind),
          args: [
            ...memberArgs({ name: 'c', dataDir: join(dir, kind), clientUrl, peerUrl: `http://127.0.0.1:${ports[1]}` }),
            ...['--cert-file', m.certFile, '--key-file', m.keyFile, '--trusted-ca-file', m.caFile, '--client-cert-auth'],
          ],
          stopTimeoutMs: 5_000,
        });
        await release();
        p.start();
        const endpoint = `127.0.0.1:${ports[0]}`;
        await p.waitReady(
          async () => {
            const r = await ctl(endpoint, 'root', ['endpoint', 'health']);
            return r.code === 0 ? { ready: true } : { ready: false, reason: r.stderr.trim() };
          },
          { timeoutMs: 30_000, intervalMs: 250 },
        );
        servers.push({ kind, proc: p, endpoint });
        return p;
      });
      void proc;
    }
  }, 120_000);

  afterAll(async () => {
    for (const s of servers) await s.proc.stop().catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers the script as etcd does', async () => {
    const diffs: string[] = [];
    const kvd = servers.find((s) => s.kind === 'kvd')!;
    const etcd = servers.find((s) => s.kind === 'etcd')!;
    const seen: string[] = [];
    for (const [cert, args, stricter] of script) {
      const [a, b] = [outcome(await ctl(kvd.endpoint, cert, args)), outcome(await ctl(etcd.endpoint, cert, args))];
      const line = `[${cert}] etcdctl ${args.join(' ')}`;
      seen.push(`${line}\n${b}`);
      if (a !== (stricter ?? b)) diffs.push(`${line}\n--- kvd\n${a}\n--- etcd\n${b}${stricter ? `\n--- kvd expected\n${stricter}` : ''}`);
    }
    expect(diffs).toEqual([]);
    // The script means something: certificates named users, and were refused where they should be.
    const text = seen.join('\n');
    expect(text).toContain('[alice] etcdctl get /other\nexit 1\n\nError: etcdserver: permission denied');
    expect(text).toContain('[alice] etcdctl --user root:rootpw get /other --print-value-only\nexit 0\nx');
    expect(text).toContain('[nocn] etcdctl user list\nexit 1\n\nError: etcdserver: user name is empty');
  }, 240_000);

  it('names the caller on connections whose :authority kvd rewrites (etcdctl --cluster)', async () => {
    // etcdctl --cluster dials the members' advertised URLs, so grpc-go sends `:authority: https://…`,
    // which goes through authority.ts's wrapper: the certificate's CN must still name the caller.
    // endpoint health reads a key: healthy for a known caller (even if denied), but an anonymous
    // call with auth on gets "user name is empty", which etcdctl reports as unhealthy.
    const kvd = servers.find((s) => s.kind === 'kvd')!;
    expect((await ctl(kvd.endpoint, 'root', ['auth', 'enable'])).code).toBe(0);
    try {
      for (const who of ['root', 'alice']) {
        const r = await ctl(kvd.endpoint, who, ['endpoint', 'health', '--cluster']);
        expect(r.code, r.stderr).toBe(0);
        // etcdctl prints the verdict on stderr, after its retry warnings (alice's read is denied).
        expect(r.stdout + r.stderr).toMatch(/^https:\/\/127\.0\.0\.1:\d+ is healthy: successfully committed proposal/m);
        expect(r.stdout + r.stderr).not.toContain('user name is empty');
      }
    } finally {
      await ctl(kvd.endpoint, 'root', ['auth', 'disable']);
    }
  }, 120_000);
});

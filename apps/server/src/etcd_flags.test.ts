// Issue 11's "done when": kvd and real etcd 3.4 started with the same long list of etcd flags, and
// with the same --config-file, both serve (etcdctl put/get and endpoint health against each). The
// etcd half is skipped where etcd is not installed. Loopback only, fresh ports, temp dirs, every
// process stopped by PID.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ETCDCTL_BIN, type RunningServer, runProcess, SERVER_KINDS, startServer, unavailableReason, withFreshPorts } from '@kv/testkit';
import { afterEach, describe, expect, it } from 'vitest';

/** Flags every group of `etcd --help` has, at values both accept (none that kvd refuses). */
function longFlagList(logFile: string, walDir: string): string[] {
  return [
    `--wal-dir=${walDir}`,
    '--max-snapshots=3',
    '--max-wals=0',
    '--snapshot-count=5000',
    '--heartbeat-interval=50',
    '--election-timeout=500',
    '--initial-election-tick-advance=false',
    '--quota-backend-bytes=1073741824',
    '--backend-batch-interval=10ms',
    '--backend-batch-limit=100',
    '--max-txn-ops=64',
    '--max-request-bytes=1048576',
    '--max-concurrent-streams=1000',
    '--grpc-keepalive-min-time=3s',
    '--grpc-keepalive-interval=1h',
    '--grpc-keepalive-timeout=10s',
    '--initial-cluster-token=flags-test',
    '--initial-cluster-state=new',
    '--strict-reconfig-check=true',
    '--pre-vote=true',
    '--auto-compaction-retention=1h',
    '--auto-compaction-mode=periodic',
    '--enable-v2=false',
    '--discovery-fallback=exit',
    '--cors=*',
    '--host-whitelist=*',
    '--auto-tls',
    '--peer-auto-tls',
    '--auth-token=simple',
    '--bcrypt-cost=10',
    '--auth-token-ttl=300',
    '--enable-pprof=false',
    '--metrics=basic',
    '--listen-metrics-urls=',
    '--logger=zap',
    `--log-outputs=${logFile}`,
    '--log-level=info',
    '--proxy=off',
    '--proxy-failure-wait=5000',
    '--proxy-refresh-interval=30000',
    '--proxy-dial-timeout=1000',
    '--proxy-write-timeout=5000',
    '--proxy-read-timeout=0',
    '--experimental-initial-corrupt-check=false',
    '--experimental-corrupt-check-time=0s',
    '--experimental-backend-bbolt-freelist-type=map',
    '--experimental-enable-lease-checkpoint=true',
    '--experimental-compaction-batch-limit=500',
    '--experimental-watch-progress-notify-interval=5m',
    '--experimental-warning-apply-duration=200ms',
    '--experimental-peer-skip-client-san-verification=false',
    '--debug=false',
    '--unsafe-no-fsync',
  ];
}

async function etcdctl(endpoint: string, args: string[]): Promise<string> {
  const r = await runProcess(ETCDCTL_BIN, ['--endpoints', endpoint, '--dial-timeout=5s', '--command-timeout=10s', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeoutMs: 30_000,
  });
  if (r.code !== 0) throw new Error(`etcdctl ${args.join(' ')}: exit ${r.code}: ${r.stderr}`);
  return args[0] === 'endpoint' ? r.stdout + r.stderr : r.stdout; // endpoint health reports on stderr
}

/** What each server must do with the flags: serve puts and gets, and answer endpoint health. */
async function checkServes(s: RunningServer): Promise<void> {
  expect(await etcdctl(s.endpoint, ['put', 'flags/k', s.kind])).toBe('OK\n');
  expect(await etcdctl(s.endpoint, ['get', 'flags/k'])).toBe(`flags/k\n${s.kind}\n`);
  expect(await etcdctl(s.endpoint, ['endpoint', 'health'])).toMatch(/is healthy: successfully committed proposal/);
}

const ctlSkip = existsSync(ETCDCTL_BIN) ? undefined : `${ETCDCTL_BIN} not found`;

for (const kind of SERVER_KINDS) {
  const skip = unavailableReason(kind) ?? ctlSkip;
  describe.skipIf(skip !== undefined)(`${kind} with etcd's flags`, () => {
    let server: RunningServer | undefined;
    let dir: string | undefined;
    afterEach(async () => {
      await server?.stop();
      if (dir) await rm(dir, { recursive: true, force: true });
      server = dir = undefined;
    });

    it('starts with the long flag list, serves, logs to --log-outputs and makes the auto-TLS certificates', async () => {
      dir = await mkdtemp(join(tmpdir(), `kv-flags-${kind}-`));
      const logFile = join(dir, 'server.log');
      const walDir = join(dir, 'wal');
      server = await startServer(kind, {
        name: 'f1',
        extraArgs: longFlagList(logFile, walDir),
        readyTimeoutMs: 60_000,
        stopTimeoutMs: 5_000,
      });
      await checkServes(server);
      expect((await readdir(walDir)).some((f) => f.endsWith('.wal'))).toBe(true); // the WAL went to --wal-dir
      expect(existsSync(join(server.dataDir, 'member', 'wal'))).toBe(false);
      expect((await stat(logFile)).size).toBeGreaterThan(0);
      for (const side of ['client', 'peer']) {
        const pem = await readFile(join(server.dataDir, 'fixtures', side, 'cert.pem'), 'utf8');
        expect(pem).toMatch(/^-----BEGIN CERTIFICATE-----/);
        const key = await readFile(join(server.dataDir, 'fixtures', side, 'key.pem'), 'utf8');
        expect(key).toMatch(/^-----BEGIN EC PRIVATE KEY-----/);
      }
    }, 120_000);

    it('starts from the same --config-file (etcd YAML keys), the other flags ignored', async () => {
      dir = await mkdtemp(join(tmpdir(), `kv-flags-${kind}-`));
      const d = dir;
      const config = join(d, 'etcd.yml');
      server = await withFreshPorts(2, async ([clientPort, peerPort], release) => {
        const client = `http://127.0.0.1:${clientPort}`;
        const peer = `http://127.0.0.1:${peerPort}`;
        await writeFile(
          config,
          [
            'name: cf1',
            `data-dir: ${join(d, 'data')}`,
            `listen-client-urls: ${client}`,
            `advertise-client-urls: ${client}`,
            `listen-peer-urls: ${peer}`,
            `initial-advertise-peer-urls: ${peer}`,
            `initial-cluster: cf1=${peer}`,
            "initial-cluster-token: 'cf-token'",
            'initial-cluster-state: new',
            'heartbeat-interval: 50',
            'election-timeout: 500',
            'snapshot-count: 5000',
            `wal-dir: ${join(d, 'wal')}`,
            'max-snapshots: 2',
            'max-wals: 2',
            'force-new-cluster: false',
            'grpc-keepalive-min-time: 3000000000',
            'max-concurrent-streams: 1000',
            'pre-vote: true',
            'enable-v2: false',
            'logger: zap',
            'log-outputs: [stderr]',
            'client-transport-security:',
            '  client-cert-auth: false',
            '  auto-tls: false',
            'peer-transport-security:',
            '  auto-tls: false',
            'experimental-backend-bbolt-freelist-type: map',
            'a-key-neither-knows: 1',
            '',
          ].join('\n'),
        );
        await release();
        // startServer's own member flags come first on the command line: both must ignore them.
        return startServer(kind, {
          name: 'ignored',
          clientPort,
          peerPort,
          extraArgs: ['--config-file', config],
          readyTimeoutMs: 60_000,
          stopTimeoutMs: 5_000,
        });
      });
      await checkServes(server);
      const members = await etcdctl(server.endpoint, ['member', 'list']);
      expect(members).toMatch(/, started, cf1, /); // the name from the file, not --name
      expect(existsSync(join(d, 'data', 'member'))).toBe(true); // the data dir from the file
      expect((await readdir(join(d, 'wal'))).some((f) => f.endsWith('.wal'))).toBe(true); // and the WAL dir
    }, 120_000);
  });
}

import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { allFlags, envName, normalizeArgs, parseFlags, type ParseResult } from './flags.js';

const adv = ['--advertise-client-urls', 'http://localhost:2379'];

function result(args: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) {
  const r = parseFlags(args, env, { readFile: (p) => (p in files ? files[p] : readFileSync(p, 'utf8')) });
  if (r.kind !== 'run') throw new Error('expected a run config');
  return r;
}
const run = (args: string[], env: Record<string, string> = {}, files: Record<string, string> = {}) => result(args, env, files).config;
const warnings = (r: Extract<ParseResult, { kind: 'run' }>) => r.notices.filter((n) => n.level === 'warn').map((n) => n.msg);

/** The flags of `etcd --help`: from the installed etcd, else from its output checked in (etcd 3.4.23). */
function etcdHelpFlags(): { name: string; def: string }[] {
  const help = existsSync('/usr/bin/etcd')
    ? (({ stdout, stderr }) => stderr + stdout)(spawnSync('/usr/bin/etcd', ['--help'], { encoding: 'utf8' }))
    : readFileSync(new URL('../testdata/etcd-3.4-help.txt', import.meta.url), 'utf8');
  const out: { name: string; def: string }[] = [];
  for (const line of help.split('\n')) {
    const m = /^ {2}--([a-z0-9-]+) (?:'(.*)'|(\S+))$/.exec(line);
    if (m) out.push({ name: m[1], def: m[2] ?? m[3] });
  }
  return out;
}

/** A value etcd's --help default stands for, usable on a command line. */
function sample(name: string, def: string): string {
  if (name === 'data-dir') return '/tmp/kvd-flags-test.etcd';
  if (def === 'math.MaxUint32') return '4294967295';
  if (def === '' && allFlags.find((d) => d.name === name)?.kind === 'duration') return '0s'; // Go rejects an empty duration
  return def;
}

describe('kvd flags', () => {
  it("has etcd's defaults", () => {
    const c = run([]);
    expect(c.name).toBe('default');
    expect(c.dataDir).toBe('default.etcd');
    expect(c.listenClientUrls).toEqual(['http://localhost:2379']);
    expect(c.initialCluster).toEqual([{ name: 'default', peerUrls: ['http://localhost:2380'] }]);
    expect(c.initialClusterToken).toBe('etcd-cluster');
    expect(c.snapshotCount).toBe(100000);
    expect(c.maxRequestBytes).toBe(1572864);
    expect(c.maxTxnOps).toBe(128);
    expect(c.heartbeatIntervalMs).toBe(100);
    expect(c.electionTimeoutMs).toBe(1000);
    expect(c.preVote).toBe(false);
    expect(c.initialElectionTickAdvance).toBe(true);
    expect(c.grpcKeepAliveMinTimeMs).toBe(5000);
    expect(c.grpcKeepAliveIntervalMs).toBe(2 * 3600 * 1000);
    expect(c.grpcKeepAliveTimeoutMs).toBe(20_000);
    expect(c.maxConcurrentStreams).toBe(4294967295);
    expect(c.compactionBatchLimit).toBe(1000);
    expect(result([]).logging).toEqual({ logger: 'capnslog', level: 'info', outputs: ['stderr'] });
  });

  it('accepts every flag of `etcd --help`, with its default, on the command line and as ETCD_*', () => {
    const flags = etcdHelpFlags();
    expect(flags.length).toBeGreaterThanOrEqual(80);
    const known = new Set(allFlags.map((d) => d.name));
    for (const { name, def } of flags) {
      expect(known.has(name), `--${name} is in flag_table.ts`).toBe(true);
      const extra = name === 'listen-client-urls' || name === 'advertise-client-urls' ? adv : [];
      const v = sample(name, def);
      const cmd = parseFlags([`--${name}=${v}`, ...(name === 'advertise-client-urls' ? [] : extra)], {});
      expect(cmd.kind, `--${name}=${v}`).toBe('run');
      const env = parseFlags(name === 'advertise-client-urls' ? [] : extra, { [envName(name)]: v });
      expect(env.kind, `${envName(name)}=${v}`).toBe('run');
    }
  });

  it('derives data dir and initial cluster from the name', () => {
    const c = run(['--name', 'n1', '--initial-advertise-peer-urls', 'http://127.0.0.1:12380']);
    expect(c.dataDir).toBe('n1.etcd');
    expect(c.initialCluster).toEqual([{ name: 'n1', peerUrls: ['http://127.0.0.1:12380'] }]);
  });

  it("parses Go's flag syntax: -x and --x, =value or a separate value, booleans only with =", () => {
    expect(normalizeArgs(['-name', 'x', '--data-dir=/d'])).toEqual(['--name', 'x', '--data-dir=/d']);
    const c = run(['-name=x', '--data-dir=/tmp/d', '-max-txn-ops', '7', '-pre-vote', '--strict-reconfig-check=false']);
    expect(c.name).toBe('x');
    expect(c.dataDir).toBe('/tmp/d');
    expect(c.maxTxnOps).toBe(7);
    expect(c.preVote).toBe(true);
    expect(c.strictReconfigCheck).toBe(false);
    expect(() => run(['--pre-vote', 'false'])).toThrow(/'false' is not a valid flag/);
    expect(() => run(['--no-such-flag'])).toThrow(/flag provided but not defined: -no-such-flag/);
    expect(() => run(['--name'])).toThrow(/flag needs an argument: -name/);
    expect(run(['--max-txn-ops=0x10']).maxTxnOps).toBe(16);
  });

  it('reads ETCD_* variables; one that a flag also sets is a conflict, as in etcd', () => {
    const r = result(['--name', 'flag'], { ETCD_SNAPSHOT_COUNT: '42', ETCD_UNSAFE_NO_FSYNC: 'true', ETCD_BOGUS: 'x' });
    expect(r.config.name).toBe('flag');
    expect(r.config.snapshotCount).toBe(42);
    expect(r.config.unsafeNoFsync).toBe(true);
    expect(r.notices).toContainEqual({ level: 'info', msg: 'recognized and used environment variable ETCD_SNAPSHOT_COUNT=42' });
    expect(warnings(r)).toContain('unrecognized environment variable ETCD_BOGUS=x');
    expect(() => run(['--name', 'flag'], { ETCD_NAME: 'env' })).toThrow(
      'conflicting environment variable "ETCD_NAME" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)',
    );
    expect(() => run([], { ETCD_MAX_TXN_OPS: 'lots' })).toThrow('invalid value "lots" for ETCD_MAX_TXN_OPS: parse error');
    expect(run([], { ETCD_NAME: '' }).name).toBe('default'); // empty: not used
  });

  it('--strict-reconfig-check: on by default, off by flag or ETCD_STRICT_RECONFIG_CHECK', () => {
    expect(run([]).strictReconfigCheck).toBe(true);
    expect(run(['--strict-reconfig-check']).strictReconfigCheck).toBe(true);
    expect(run(['--strict-reconfig-check=false']).strictReconfigCheck).toBe(false);
    expect(run(['-strict-reconfig-check=false']).strictReconfigCheck).toBe(false);
    expect(run([], { ETCD_STRICT_RECONFIG_CHECK: 'false' }).strictReconfigCheck).toBe(false);
  });

  it("rejects bad values with etcd's errors", () => {
    expect(() => run(['--max-txn-ops', 'abc'])).toThrow('invalid value "abc" for flag -max-txn-ops: parse error');
    expect(() => run(['--max-concurrent-streams', '4294967296'])).toThrow(
      'invalid value "4294967296" for flag -max-concurrent-streams: value out of range',
    );
    expect(() => run(['--pre-vote=maybe'])).toThrow('invalid boolean value "maybe" for -pre-vote: parse error');
    expect(() => run(['--grpc-keepalive-min-time', '5'])).toThrow('invalid value "5" for flag -grpc-keepalive-min-time: parse error');
    expect(() => run(['--listen-client-urls', 'ftp://x:1', ...adv])).toThrow(/URL scheme must be http/);
    expect(() => run(['--listen-peer-urls', 'http://127.0.0.1'])).toThrow(/does not have the form "host:port"/);
    expect(() => run(['--heartbeat-interval', '500'])).toThrow(/at least as 5 times/);
    expect(() => run(['--initial-cluster-state', 'old'])).toThrow('invalid value "old" for flag -initial-cluster-state: invalid value');
    expect(() => run(['--proxy', 'sometimes'])).toThrow('invalid value "sometimes" for flag -proxy: invalid value');
    expect(() => run(['--auto-compaction-retention', 'soon'])).toThrow(/auto-compaction-retention/);
    expect(() => run(['--name', 'a', '--initial-cluster', 'b=http://127.0.0.1:2380'])).toThrow(/couldn't find local name "a"/);
    expect(() => run(['--listen-client-urls', 'http://127.0.0.1:2379'])).toThrow(
      '--advertise-client-urls is required when --listen-client-urls is set explicitly',
    );
  });

  it('maps the implemented flags into the member configuration', () => {
    const c = run([
      '--pre-vote',
      '--initial-election-tick-advance=false',
      '--grpc-keepalive-min-time=1s',
      '--grpc-keepalive-interval=30m',
      '--grpc-keepalive-timeout=1.5s',
      '--max-concurrent-streams=100',
      '--auto-tls',
      '--peer-auto-tls',
      '--experimental-compaction-batch-limit=10',
      '--experimental-watch-progress-notify-interval=1m30s',
    ]);
    expect(c).toMatchObject({
      preVote: true,
      initialElectionTickAdvance: false,
      grpcKeepAliveMinTimeMs: 1000,
      grpcKeepAliveIntervalMs: 30 * 60 * 1000,
      grpcKeepAliveTimeoutMs: 1500,
      maxConcurrentStreams: 100,
      clientAutoTls: true,
      peerAutoTls: true,
      compactionBatchLimit: 10,
      watchProgressNotifyIntervalMs: 90_000,
    });
  });

  it('accepts flags kvd has no mechanism for, warning once each', () => {
    const r = result([
      '--enable-v2',
      '--experimental-backend-bbolt-freelist-type=map',
      '--backend-batch-limit=5',
      '--cors=http://a.example:80',
    ]);
    const w = warnings(r);
    expect(w).toContain(
      "flag --experimental-backend-bbolt-freelist-type has no effect in kvd: kv's backend is LevelDB, which has no bbolt freelist",
    );
    expect(w.filter((m) => m.startsWith('flag --enable-v2 has no effect in kvd:'))).toHaveLength(1);
    expect(w.some((m) => m.startsWith('flag --backend-batch-limit has no effect'))).toBe(true);
    expect(w.some((m) => m.startsWith('flag --cors has no effect'))).toBe(true);
    expect(warnings(result(['-snapshot', '-v']))).toEqual([
      'flag "-snapshot" is no longer supported - ignoring.',
      'flag "-v" is no longer supported - ignoring.',
    ]);
  });

  it('refuses what it cannot do: discovery, proxy mode, and auth/TLS until their issues', () => {
    expect(() => run(['--discovery', 'https://discovery.example/abc'])).toThrow(
      /--discovery=.* is not supported: kvd cannot bootstrap through a discovery service/,
    );
    expect(() => run(['--discovery-srv', 'example.com'])).toThrow(/--discovery-srv=example.com is not supported/);
    expect(() => run(['--proxy', 'on'])).toThrow(/--proxy=on is not supported: kvd has no v2 proxy mode/);
    // --auth-token jwt is implemented: its key files are read as the flags are parsed (auth/token_options.ts).
    expect(() => run(['--auth-token', 'jwt,pub-key=/nonexistent/a,sign-method=RS256'])).toThrow(
      /--auth-token=jwt,pub-key=\/nonexistent\/a,sign-method=RS256: auth: invalid auth options: cannot read pub-key \/nonexistent\/a: ENOENT/,
    );
    expect(() => run(['--auth-token', 'bogus'])).toThrow(/unknown token type "bogus"/);
    expect(run(['--auth-token', 'simple']).authToken).toEqual({ type: 'simple' });
    expect(run(['--bcrypt-cost', '12']).bcryptCost).toBe(12); // implemented with the auth store
    expect(run(['--auth-token-ttl', '60']).authTokenTtlMs).toBe(60_000);
    // TLS hardening (tls_names.ts, tls_policy.ts), with etcd's messages.
    const c = run(['--cipher-suites', 'TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305']);
    expect(c.clientTls.cipherSuites).toEqual(['TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256', 'TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305']);
    expect(c.peerTls.cipherSuites).toEqual(c.clientTls.cipherSuites);
    expect(() => run(['--cipher-suites', 'TLS_RSA_WITH_AES_128_GCM_SHA256,FOO'])).toThrow('unexpected TLS cipher suite "FOO"');
    expect(() => run(['--cipher-suites', 'TLS_RSA_WITH_RC4_128_SHA'])).toThrow(/not available in kvd/);
    expect(run(['--peer-cert-allowed-cn', 'etcd']).peerTls.allowedCn).toBe('etcd');
    expect(() => run(['--peer-cert-allowed-cn', 'etcd', '--peer-cert-allowed-hostname', 'h'])).toThrow(
      'AllowedCN and AllowedHostname are mutually exclusive (cn="etcd", hostname="h")',
    );
    expect(run(['--client-cert-allowed-hostname', 'app.example']).clientTls.allowedHostname).toBe('app.example');
    expect(run(['--client-crl-file', '/x.crl']).clientTls.crlFile).toBe('/x.crl');
    expect(run(['--peer-crl-file', '/p.crl']).peerTls.crlFile).toBe('/p.crl');
    // etcd 3.5's version flags, kvd-only here.
    expect(run([]).clientTls.minVersion ?? 'TLS1.2').toBe('TLS1.2');
    expect(run(['--tls-min-version', 'TLS1.3']).peerTls.minVersion).toBe('TLS1.3');
    expect(() => run(['--tls-min-version', 'TLS1.1'])).toThrow('unexpected TLS version "TLS1.1" (must be one of: TLS1.2, TLS1.3)');
    expect(() => run(['--tls-min-version', 'TLS1.3', '--tls-max-version', 'TLS1.2'])).toThrow(
      'min version (TLS1.3) is greater than max version (TLS1.2)',
    );
    expect(() => run(['--tls-min-version', 'TLS1.3', '--cipher-suites', 'TLS_RSA_WITH_AES_128_GCM_SHA256'])).toThrow(
      'cipher suites cannot be configured when only TLS1.3 is enabled',
    );
    // implemented with the metrics (issue 13)
    expect(run(['--listen-metrics-urls', 'http://127.0.0.1:2381']).listenMetricsUrls).toEqual(['http://127.0.0.1:2381']);
    expect(run(['--metrics', 'extensive']).metrics).toBe('extensive');
    // kvd only: the /ui dashboard (issue 13), on by default
    expect(run([]).enableUi).toBe(true);
    expect(run(['--enable-ui=false']).enableUi).toBe(false);
    expect(() => run(['--metrics', 'verbose'])).toThrow(/invalid value "verbose" for --metrics: valid values are "basic", "extensive"/);
    expect(() => run(['--listen-metrics-urls', 'unix://x:1'])).toThrow(
      /--listen-metrics-urls unix:\/\/x:1: the scheme must be http or https/,
    );
    // Their defaults are fine.
    expect(() =>
      run(['--auth-token', 'simple', '--bcrypt-cost', '10', '--metrics', 'basic', '--proxy', 'off', '--discovery=']),
    ).not.toThrow();
  });

  it("sets up logging as etcd's --logger/--log-outputs/--log-level/--debug", () => {
    expect(result(['--logger=zap', '--log-outputs=stdout,/tmp/a.log']).logging).toEqual({
      logger: 'zap',
      level: 'info',
      outputs: ['/tmp/a.log', 'stdout'],
    });
    expect(result(['--logger=zap', '--log-outputs=default']).logging.outputs).toEqual(['stderr']);
    expect(() => run(['--logger=zap', '--log-outputs=default,stdout'])).toThrow('multi logoutput for "default" is not supported yet');
    expect(() => run(['--log-outputs=stdout,stderr'])).toThrow(
      `--logger=capnslog supports only 1 value in '--log-outputs', got ["stderr" "stdout"]`,
    );
    expect(() => run(['--log-outputs=/tmp/x.log'])).toThrow(
      'unknown log-output "/tmp/x.log" (only supports "default", "stderr", "stdout")',
    );
    expect(() => run(['--logger=log4j'])).toThrow('unknown logger option "log4j"');
    const debug = result(['--debug']);
    expect(debug.logging.level).toBe('debug');
    expect(debug.config.logLevel).toBe('debug');
    expect(warnings(debug)[0]).toMatch(/Deprecated '--debug' flag is set to true/);
    expect(result(['--logger=zap', '--debug']).logging.level).toBe('info'); // zap: --debug sets no level
    const old = result(['--log-output=stdout']);
    expect(old.logging.outputs).toEqual(['stderr']);
    expect(warnings(old).some((m) => m.includes("Deprecated '--log-output' flag"))).toBe(true);
  });

  it('prints the version and the help', () => {
    expect(parseFlags(['--version'], {})).toEqual({ kind: 'version' });
    const h = parseFlags(['--help'], {});
    expect(h.kind).toBe('help');
    if (h.kind === 'help') {
      for (const d of allFlags) expect(h.text).toContain(`--${d.name} '`);
    }
  });
});

describe('kvd --config-file', () => {
  const yaml = `
name: 'infra1'
data-dir: /var/lib/kv/infra1
snapshot-count: 5000
heartbeat-interval: 50
election-timeout: 500
listen-peer-urls: http://127.0.0.1:12380
listen-client-urls: http://127.0.0.1:12379,http://127.0.0.1:22379
initial-advertise-peer-urls: http://127.0.0.1:12380
advertise-client-urls: http://127.0.0.1:12379
initial-cluster: infra1=http://127.0.0.1:12380
initial-cluster-token: 'etcd-cluster-1'
initial-cluster-state: 'new'
strict-reconfig-check: false
pre-vote: yes
grpc-keepalive-min-time: 3000000000
max-concurrent-streams: 64
client-transport-security:
  cert-file: /c/cert.pem
  key-file: /c/key.pem
  client-cert-auth: true
  trusted-ca-file: /c/ca.pem
peer-transport-security:
  auto-tls: true
logger: zap
log-outputs: [stderr, /tmp/infra1.log]
auto-compaction-mode: revision
auto-compaction-retention: "1000"
Experimental-Compaction-Batch-Limit: 7
some-key-etcd-does-not-know: 1
enable-v2: true
`;
  const files = { '/etc/kv.yml': yaml };

  it("reads etcd's YAML keys, ignoring unknown ones, matching keys case-insensitively", () => {
    const r = result(['--config-file', '/etc/kv.yml'], {}, files);
    expect(r.config).toMatchObject({
      name: 'infra1',
      dataDir: '/var/lib/kv/infra1',
      snapshotCount: 5000,
      heartbeatIntervalMs: 50,
      electionTimeoutMs: 500,
      listenPeerUrls: ['http://127.0.0.1:12380'],
      listenClientUrls: ['http://127.0.0.1:12379', 'http://127.0.0.1:22379'],
      advertiseClientUrls: ['http://127.0.0.1:12379'],
      initialCluster: [{ name: 'infra1', peerUrls: ['http://127.0.0.1:12380'] }],
      initialClusterToken: 'etcd-cluster-1',
      strictReconfigCheck: false,
      preVote: true,
      grpcKeepAliveMinTimeMs: 3000,
      maxConcurrentStreams: 64,
      clientTls: { certFile: '/c/cert.pem', keyFile: '/c/key.pem', clientCertAuth: true, trustedCaFile: '/c/ca.pem' },
      peerAutoTls: true,
      autoCompactionMode: 'revision',
      autoCompactionRetention: '1000',
      compactionBatchLimit: 7,
    });
    expect(r.logging).toEqual({ logger: 'zap', level: 'info', outputs: ['stderr', '/tmp/infra1.log'] });
    expect(warnings(r).some((m) => m.startsWith('flag --enable-v2 has no effect'))).toBe(true);
    expect(r.configFile).toBe('/etc/kv.yml');
  });

  it("ignores the other flags and ETCD_* variables (with etcd's message), but still checks flag syntax", () => {
    const r = result(['--config-file=/etc/kv.yml', '--name', 'other', '--snapshot-count', '9'], { ETCD_DATA_DIR: '/elsewhere' }, files);
    expect(r.config.name).toBe('infra1');
    expect(r.config.snapshotCount).toBe(5000);
    expect(r.config.dataDir).toBe('/var/lib/kv/infra1');
    const note = r.notices.find((n) => n.msg.startsWith('loaded server configuration'));
    expect(note).toMatchObject({
      level: 'warn',
      msg: 'loaded server configuration, other configuration command line flags and environment variables will be ignored if provided',
      fields: { path: '/etc/kv.yml', ignoredFlags: ['name', 'snapshot-count'], ignoredEnv: ['ETCD_DATA_DIR'] },
    });
    expect(() => run(['--config-file=/etc/kv.yml', '--snapshot-count', 'x'], {}, files)).toThrow(
      /invalid value "x" for flag -snapshot-count/,
    );
    // ETCD_CONFIG_FILE too, and then a bad ETCD_* value is never read.
    expect(run([], { ETCD_CONFIG_FILE: '/etc/kv.yml', ETCD_MAX_TXN_OPS: 'bad' }, files).name).toBe('infra1');
  });

  it("fails with etcd's errors on a missing file, bad YAML and wrong types", () => {
    expect(() => run(['--config-file', '/nope.yml'])).toThrow('open /nope.yml: no such file or directory');
    expect(() => run(['--config-file', '/f'], {}, { '/f': 'name: [unclosed' })).toThrow(/^error converting YAML to JSON/);
    expect(() => run(['--config-file', '/f'], {}, { '/f': 'name: 5' })).toThrow(
      'error unmarshaling JSON: json: cannot unmarshal number 5 into Go struct field configYAML.name of type string',
    );
    expect(() => run(['--config-file', '/f'], {}, { '/f': 'grpc-keepalive-min-time: 5s' })).toThrow(
      'json: cannot unmarshal string into Go struct field configYAML.grpc-keepalive-min-time of type time.Duration',
    );
    expect(() => run(['--config-file', '/f'], {}, { '/f': 'max-txn-ops: -1' })).toThrow(/cannot unmarshal number -1 .* of type uint/);
    expect(() => run(['--config-file', '/f'], {}, { '/f': 'listen-client-urls: ftp://x:1' })).toThrow(
      'unexpected error setting up listen-client-urls: URL scheme must be http, https, unix, or unixs: ftp://x:1',
    );
    expect(() => run(['--config-file', '/f'], {}, { '/f': 'discovery-srv: example.com' })).toThrow(
      /--discovery-srv=example.com is not supported/,
    );
    // An empty file is etcd's defaults.
    expect(run(['--config-file', '/f'], {}, { '/f': '' }).name).toBe('default');
  });
});

// Member configuration: etcd's flag names, defaults and validation rules, as one plain object.
// apps/server turns flags and ETCD_* environment variables into a ServerConfig; tests build one
// directly with `resolveConfig({...})`.
import { join as joinPath, resolve as resolvePath, sep } from 'node:path';
import type { AuthTokenConfig } from './auth/token_options.js';
import { tlsCombinationProblem } from './tls_names.js';

/** One member of `--initial-cluster`: `name=peerURL` (a name may appear several times). */
export interface InitialMember {
  name: string;
  peerUrls: string[];
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  trustedCaFile: string;
  clientCertAuth: boolean;
  /**
   * Made by --auto-tls/--peer-auto-tls (etcd's TLSInfo.selfCert): when dialing with it, the other
   * side's certificate is not verified, as etcd's ClientConfig sets InsecureSkipVerify for it.
   */
  selfSigned?: boolean;
  /** --client-crl-file / --peer-crl-file: connections presenting a certificate whose serial it lists are refused. */
  crlFile?: string;
  /** --peer-cert-allowed-cn: the common name a peer's certificate must have (exclusive with allowedHostname). */
  allowedCn?: string;
  /** --client-cert-allowed-hostname / --peer-cert-allowed-hostname: a name the certificate's SANs must match. */
  allowedHostname?: string;
  /** --cipher-suites (Go's names, checked by tls_policy.ts); empty: the TLS library's defaults. */
  cipherSuites?: string[];
  /** --tls-min-version (etcd 3.5): 'TLS1.2' (the default) or 'TLS1.3'. */
  minVersion?: string;
  /** --tls-max-version (etcd 3.5): '' (the highest the TLS library has), 'TLS1.2' or 'TLS1.3'. */
  maxVersion?: string;
}

export interface ServerConfig {
  name: string;
  dataDir: string;
  listenClientUrls: string[];
  advertiseClientUrls: string[];
  listenPeerUrls: string[];
  initialAdvertisePeerUrls: string[];
  initialCluster: InitialMember[];
  initialClusterState: 'new' | 'existing';
  initialClusterToken: string;
  snapshotCount: number;
  /** Entries kept behind a snapshot for slow followers (etcd 3.5's experimental flag, 5000). */
  snapshotCatchUpEntries: number;
  heartbeatIntervalMs: number;
  electionTimeoutMs: number;
  /** Backend size that raises the NOSPACE alarm; etcd's 0 means the 2 GiB default. */
  quotaBackendBytes: number;
  autoCompactionMode: 'periodic' | 'revision';
  /** As given: a duration for periodic ('1h', '30m', or plain hours), a count for revision. */
  autoCompactionRetention: string;
  maxRequestBytes: number;
  maxTxnOps: number;
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'panic' | 'fatal';
  clientTls: TlsFiles;
  peerTls: TlsFiles;
  /** Interval of server-sent watch progress notifications (etcd's experimental flag, 10m). */
  watchProgressNotifyIntervalMs: number;
  /** Skips fsync of the backend; etcd's --unsafe-no-fsync, for tests and benchmarks only. */
  unsafeNoFsync: boolean;
  /** Before serving clients, compare this member's HashKV with its peers' (etcd's experimental flag, off). */
  experimentalInitialCorruptCheck: boolean;
  /** --experimental-corrupt-check-time (ms): the leader's periodic HashKV comparison; 0 = off. */
  corruptCheckTimeMs: number;
  /** Refuse member add/remove/promote that would cost the cluster its quorum (etcd's --strict-reconfig-check, on). */
  strictReconfigCheck: boolean;
  // --- WAL placement, file retention, forced restart (etcd's --wal-dir, --max-snapshots,
  // --max-wals, --force-new-cluster) ---
  /** Dedicated WAL directory; '' keeps the WAL in <data-dir>/member/wal. */
  walDir: string;
  /** Snapshot files (snap/*.snap) kept by the purge loop; 0 = unlimited. */
  maxSnapshots: number;
  /** WAL segment files kept by the purge loop (released ones only are deleted); 0 = unlimited. */
  maxWals: number;
  /** Restart as a one-member cluster keeping the data (only with an existing WAL). */
  forceNewCluster: boolean;
  /** Raft pre-vote (etcd's --pre-vote; off in etcd 3.4). */
  preVote: boolean;
  /** --enable-grpc-gateway: the JSON gateway (gateway/) on the client port (on in etcd 3.4). */
  enableGrpcGateway: boolean;
  /** --enable-ui (kvd only): the web dashboard at /ui on the client port (dashboard/). */
  enableUi: boolean;
  /** --auth-token: simple (default), jwt with its keys read and checked (auth/token_options.ts), or none. */
  authToken: AuthTokenConfig;
  /** --auth-token-ttl in ms (simple tokens live this long after their last use). */
  authTokenTtlMs: number;
  /** --bcrypt-cost (4..31; out of range: etcd's default 10, with a warning). */
  bcryptCost: number;
  /** Fast-forward election ticks at start once peers are connected (etcd's --initial-election-tick-advance, on). */
  initialElectionTickAdvance: boolean;
  /** Clients pinging more often than this (or with no stream open) are sent GOAWAY too_many_pings; 0: no policy. */
  grpcKeepAliveMinTimeMs: number;
  /** Server-to-client keepalive ping interval; 0 (or a 0 timeout) disables it. */
  grpcKeepAliveIntervalMs: number;
  /** How long an unanswered keepalive ping waits before the connection is closed. */
  grpcKeepAliveTimeoutMs: number;
  /** HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS of the client port (etcd: math.MaxUint32). */
  maxConcurrentStreams: number;
  /** --auto-tls: a self-signed client certificate in <data-dir>/fixtures/client when no cert/key is given. */
  clientAutoTls: boolean;
  /** --peer-auto-tls: the same for the peer port, in <data-dir>/fixtures/peer. */
  peerAutoTls: boolean;
  /** Key entries deleted per compaction batch (etcd's --experimental-compaction-batch-limit, 1000). */
  compactionBatchLimit: number;
  /** --metrics: 'extensive' adds the grpc_server_handling_seconds histograms. */
  metrics: 'basic' | 'extensive';
  /** --listen-metrics-urls: extra plain HTTP(S) listeners for /metrics and the health endpoints. */
  listenMetricsUrls: string[];
}

export const DefaultQuotaBytes = 2 * 1024 * 1024 * 1024;
export const MaxQuotaBytes = 8 * 1024 * 1024 * 1024;
/** etcd's limit on election timeouts (maxElectionMs). */
const MaxElectionMs = 50_000;

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const emptyTls = (): TlsFiles => ({ certFile: '', keyFile: '', trustedCaFile: '', clientCertAuth: false });

/** etcd's defaults (embed/config.go), before the name-dependent ones are filled in. */
export function defaultConfig(): ServerConfig {
  return {
    name: 'default',
    dataDir: '',
    listenClientUrls: ['http://localhost:2379'],
    advertiseClientUrls: ['http://localhost:2379'],
    listenPeerUrls: ['http://localhost:2380'],
    initialAdvertisePeerUrls: ['http://localhost:2380'],
    initialCluster: [],
    initialClusterState: 'new',
    initialClusterToken: 'etcd-cluster',
    snapshotCount: 100_000,
    snapshotCatchUpEntries: 5000,
    heartbeatIntervalMs: 100,
    electionTimeoutMs: 1000,
    quotaBackendBytes: 0,
    autoCompactionMode: 'periodic',
    autoCompactionRetention: '0',
    maxRequestBytes: 1.5 * 1024 * 1024,
    maxTxnOps: 128,
    logLevel: 'info',
    clientTls: emptyTls(),
    peerTls: emptyTls(),
    watchProgressNotifyIntervalMs: 10 * 60 * 1000,
    unsafeNoFsync: false,
    experimentalInitialCorruptCheck: false,
    corruptCheckTimeMs: 0,
    strictReconfigCheck: true,
    walDir: '',
    maxSnapshots: 5,
    maxWals: 5,
    forceNewCluster: false,
    preVote: false,
    enableGrpcGateway: true,
    enableUi: true,
    authToken: { type: 'simple' },
    authTokenTtlMs: 300_000,
    bcryptCost: 10,
    initialElectionTickAdvance: true,
    grpcKeepAliveMinTimeMs: 5000,
    grpcKeepAliveIntervalMs: 2 * 3600 * 1000,
    grpcKeepAliveTimeoutMs: 20_000,
    maxConcurrentStreams: 0xffff_ffff,
    clientAutoTls: false,
    peerAutoTls: false,
    compactionBatchLimit: 1000,
    metrics: 'basic',
    listenMetricsUrls: [],
  };
}

/** Parses `a=http://x:2380,b=http://y:2380` (etcd's --initial-cluster syntax). */
export function parseInitialCluster(s: string): InitialMember[] {
  const byName = new Map<string, string[]>();
  for (const part of s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const eq = part.indexOf('=');
    if (eq <= 0) throw new ConfigError(`invalid value "${part}" in --initial-cluster: expected name=url`);
    const name = part.slice(0, eq);
    const url = part.slice(eq + 1);
    parseUrl(url, '--initial-cluster');
    byName.set(name, [...(byName.get(name) ?? []), url]);
  }
  return [...byName].map(([name, peerUrls]) => ({ name, peerUrls }));
}

export function formatInitialCluster(members: InitialMember[]): string {
  return members.flatMap((m) => m.peerUrls.map((u) => `${m.name}=${u}`)).join(',');
}

/** Parses and checks one URL of a URL-list flag: scheme http/https (or unix/unixs), a port. */
export function parseUrl(s: string, flag: string): URL {
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new ConfigError(`invalid URL "${s}" in ${flag}`);
  }
  if (!['http:', 'https:', 'unix:', 'unixs:'].includes(u.protocol)) {
    throw new ConfigError(`URL scheme must be http, https, unix, or unixs: ${s}`);
  }
  if (u.pathname !== '' && u.pathname !== '/') {
    throw new ConfigError(`URL must not contain a path: ${s}`);
  }
  return u;
}

export function parseUrlList(s: string, flag: string): string[] {
  const urls = s
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  if (urls.length === 0) throw new ConfigError(`${flag} must not be empty`);
  for (const u of urls) parseUrl(u, flag);
  return urls;
}

/**
 * Fills in the defaults that depend on other settings and checks the combination, with etcd's
 * rules and messages where etcd has them.
 */
export function resolveConfig(partial: Partial<ServerConfig>): ServerConfig {
  const c: ServerConfig = { ...defaultConfig(), ...partial };
  if (c.dataDir === '') c.dataDir = `${c.name}.etcd`;
  if (c.initialCluster.length === 0) {
    c.initialCluster = [{ name: c.name, peerUrls: [...c.initialAdvertisePeerUrls] }];
  }
  for (const [flag, urls] of [
    ['--listen-client-urls', c.listenClientUrls],
    ['--advertise-client-urls', c.advertiseClientUrls],
    ['--listen-peer-urls', c.listenPeerUrls],
    ['--initial-advertise-peer-urls', c.initialAdvertisePeerUrls],
    ['--listen-metrics-urls', c.listenMetricsUrls],
  ] as const) {
    for (const u of urls) parseUrl(u, flag);
  }
  if (c.heartbeatIntervalMs <= 0) throw new ConfigError('--heartbeat-interval must be > 0');
  if (5 * c.heartbeatIntervalMs > c.electionTimeoutMs) {
    throw new ConfigError(
      `--election-timeout[${c.electionTimeoutMs}ms] should be at least as 5 times as --heartbeat-interval[${c.heartbeatIntervalMs}ms]`,
    );
  }
  if (c.electionTimeoutMs > MaxElectionMs) {
    throw new ConfigError(`--election-timeout[${c.electionTimeoutMs}ms] is too long, and should be set less than ${MaxElectionMs}ms`);
  }
  if (!['new', 'existing'].includes(c.initialClusterState)) {
    throw new ConfigError(`invalid value "${c.initialClusterState}" for flag -initial-cluster-state: valid values are "new", "existing"`);
  }
  if (!['periodic', 'revision'].includes(c.autoCompactionMode)) {
    throw new ConfigError(`unknown auto-compaction-mode ${JSON.stringify(c.autoCompactionMode)}`);
  }
  parseRetention(c.autoCompactionMode, c.autoCompactionRetention);
  if (c.metrics !== 'basic' && c.metrics !== 'extensive') {
    // etcd takes any other value silently as basic; kvd says so instead of guessing.
    throw new ConfigError(`invalid value "${String(c.metrics)}" for --metrics: valid values are "basic", "extensive"`);
  }
  for (const u of c.listenMetricsUrls) {
    if (!/^https?:$/.test(new URL(u).protocol)) throw new ConfigError(`--listen-metrics-urls ${u}: the scheme must be http or https`);
  }
  if (c.maxRequestBytes <= 0) throw new ConfigError('--max-request-bytes must be > 0');
  if (c.maxTxnOps <= 0) throw new ConfigError('--max-txn-ops must be > 0');
  if (c.quotaBackendBytes < 0) throw new ConfigError('--quota-backend-bytes must not be negative');
  checkFileRetention(c);
  checkTlsFiles(c.clientTls);
  checkTlsFiles(c.peerTls);
  if (!c.initialCluster.some((m) => m.name === c.name)) {
    throw new ConfigError(`couldn't find local name "${c.name}" in the initial cluster configuration`);
  }
  const self = c.initialCluster.find((m) => m.name === c.name)!;
  const advertised = [...c.initialAdvertisePeerUrls].sort().join(',');
  if ([...self.peerUrls].sort().join(',') !== advertised) {
    throw new ConfigError(
      `--initial-cluster has ${c.name}=${self.peerUrls.join(',')} but missing from --initial-advertise-peer-urls=${c.initialAdvertisePeerUrls.join(',')}`,
    );
  }
  return c;
}

/** --cipher-suites, --tls-min/max-version, allowed CN/hostname of one side: etcd's checks and messages (tls_names.ts). */
function checkTlsFiles(t: TlsFiles): void {
  const problem = tlsCombinationProblem(t);
  if (problem !== undefined) throw new ConfigError(problem);
}

/** --wal-dir, --max-snapshots, --max-wals: what etcd's uint flags and its data dir allow. */
function checkFileRetention(c: ServerConfig): void {
  for (const [flag, n] of [
    ['--max-snapshots', c.maxSnapshots],
    ['--max-wals', c.maxWals],
  ] as const) {
    if (!Number.isSafeInteger(n) || n < 0) throw new ConfigError(`${flag} must be a non-negative integer, got ${n}`);
  }
  if (c.walDir === '') return;
  // The WAL directory holds WAL segments only (Wal.create refuses a directory with anything
  // else in it); the data dir's own parts cannot hold it.
  const wal = resolvePath(c.walDir);
  const data = resolvePath(c.dataDir);
  const member = joinPath(data, 'member');
  const inside = (dir: string) => wal === dir || wal.startsWith(`${dir}${sep}`);
  if (wal === data || wal === member || inside(joinPath(member, 'db')) || inside(joinPath(member, 'snap'))) {
    throw new ConfigError(`--wal-dir ${c.walDir} must not be the data dir, its member dir, or inside member/db or member/snap`);
  }
}

/** Effective backend quota in bytes (0 → default), as etcd's quota.go. */
export function effectiveQuota(c: ServerConfig): number {
  return c.quotaBackendBytes === 0 ? DefaultQuotaBytes : c.quotaBackendBytes;
}

/**
 * Auto-compaction retention: for 'periodic', a Go duration ('1h30m', '10m') or a plain number of
 * hours; for 'revision', a count of revisions to keep. 0 disables it. Returns ms or revisions.
 */
export function parseRetention(mode: 'periodic' | 'revision', s: string): number {
  if (mode === 'revision') {
    if (!/^\d+$/.test(s)) throw new ConfigError(`invalid auto-compaction-retention ${JSON.stringify(s)} for mode revision`);
    return Number(s);
  }
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 3600_000;
  const ms = parseDuration(s);
  if (ms === undefined) throw new ConfigError(`invalid auto-compaction-retention ${JSON.stringify(s)}`);
  return ms;
}

const unitMs: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3600_000 };

/** Go's time.ParseDuration syntax ('300ms', '1h30m', '2s'); undefined when malformed. */
export function parseDuration(s: string): number | undefined {
  if (s === '0') return 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let pos = 0;
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * unitMs[m[2]];
    pos = re.lastIndex;
  }
  return pos === s.length && s.length > 0 ? total : undefined;
}

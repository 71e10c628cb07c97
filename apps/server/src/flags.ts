// kvd's command line: etcd's flag names and defaults, each also settable by its ETCD_* environment
// variable (flag wins). Go-style single-dash long flags (-name) are accepted as etcd accepts them.
import { Command, Option, InvalidArgumentError } from 'commander';
import {
  ConfigError,
  defaultConfig,
  parseDuration as parseGoDuration,
  parseInitialCluster,
  parseUrlList,
  resolveConfig,
  type ServerConfig,
} from '@kv/server';

const d = defaultConfig();

/** Flags taking a value, with their default, parser, and where they go in ServerConfig. */
interface FlagSpec {
  flag: string;
  help: string;
  def?: string;
  apply: (c: Partial<ServerConfig>, v: string) => void;
}

function int(flag: string, min = 0) {
  return (v: string): number => {
    if (!/^-?\d+$/.test(v.trim())) throw new ConfigError(`invalid value "${v}" for flag -${flag}: parse error`);
    const n = Number(v);
    if (n < min) throw new ConfigError(`invalid value "${v}" for flag -${flag}: must be >= ${min}`);
    return n;
  };
}

function bool(flag: string) {
  return (v: string | boolean): boolean => {
    if (typeof v === 'boolean') return v;
    if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
    if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
    throw new ConfigError(`invalid boolean value "${v}" for -${flag}: parse error`);
  };
}

const valueFlags: FlagSpec[] = [
  { flag: 'name', help: 'Human-readable name for this member.', def: d.name, apply: (c, v) => (c.name = v) },
  { flag: 'data-dir', help: 'Path to the data directory (default "${name}.etcd").', apply: (c, v) => (c.dataDir = v) },
  {
    flag: 'listen-client-urls',
    help: 'List of URLs to listen on for client traffic.',
    def: d.listenClientUrls.join(','),
    apply: (c, v) => (c.listenClientUrls = parseUrlList(v, '--listen-client-urls')),
  },
  {
    flag: 'advertise-client-urls',
    help: "List of this member's client URLs to advertise to the public.",
    def: d.advertiseClientUrls.join(','),
    apply: (c, v) => (c.advertiseClientUrls = parseUrlList(v, '--advertise-client-urls')),
  },
  {
    flag: 'listen-peer-urls',
    help: 'List of URLs to listen on for peer traffic.',
    def: d.listenPeerUrls.join(','),
    apply: (c, v) => (c.listenPeerUrls = parseUrlList(v, '--listen-peer-urls')),
  },
  {
    flag: 'initial-advertise-peer-urls',
    help: "List of this member's peer URLs to advertise to the rest of the cluster.",
    def: d.initialAdvertisePeerUrls.join(','),
    apply: (c, v) => (c.initialAdvertisePeerUrls = parseUrlList(v, '--initial-advertise-peer-urls')),
  },
  {
    flag: 'initial-cluster',
    help: 'Initial cluster configuration for bootstrapping (default "${name}=${initial-advertise-peer-urls}").',
    apply: (c, v) => (c.initialCluster = parseInitialCluster(v)),
  },
  {
    flag: 'initial-cluster-state',
    help: "Initial cluster state ('new' or 'existing').",
    def: d.initialClusterState,
    apply: (c, v) => (c.initialClusterState = v as ServerConfig['initialClusterState']),
  },
  {
    flag: 'initial-cluster-token',
    help: 'Initial cluster token for the etcd cluster during bootstrap.',
    def: d.initialClusterToken,
    apply: (c, v) => (c.initialClusterToken = v),
  },
  {
    flag: 'snapshot-count',
    help: 'Number of committed transactions to trigger a snapshot to disk.',
    def: String(d.snapshotCount),
    apply: (c, v) => (c.snapshotCount = int('snapshot-count', 1)(v)),
  },
  {
    flag: 'experimental-snapshot-catchup-entries',
    help: 'Number of entries for a slow follower to catch up after compacting the raft storage entries.',
    def: String(d.snapshotCatchUpEntries),
    apply: (c, v) => (c.snapshotCatchUpEntries = int('experimental-snapshot-catchup-entries', 1)(v)),
  },
  {
    flag: 'heartbeat-interval',
    help: 'Time (in milliseconds) of a heartbeat interval.',
    def: String(d.heartbeatIntervalMs),
    apply: (c, v) => (c.heartbeatIntervalMs = int('heartbeat-interval', 1)(v)),
  },
  {
    flag: 'election-timeout',
    help: 'Time (in milliseconds) for an election to timeout.',
    def: String(d.electionTimeoutMs),
    apply: (c, v) => (c.electionTimeoutMs = int('election-timeout', 1)(v)),
  },
  {
    flag: 'quota-backend-bytes',
    help: 'Raise alarms when backend size exceeds the given quota. 0 means use the default quota.',
    def: String(d.quotaBackendBytes),
    apply: (c, v) => (c.quotaBackendBytes = int('quota-backend-bytes')(v)),
  },
  {
    flag: 'max-txn-ops',
    help: 'Maximum number of operations permitted in a transaction.',
    def: String(d.maxTxnOps),
    apply: (c, v) => (c.maxTxnOps = int('max-txn-ops', 1)(v)),
  },
  {
    flag: 'max-request-bytes',
    help: 'Maximum client request size in bytes the server will accept.',
    def: String(d.maxRequestBytes),
    apply: (c, v) => (c.maxRequestBytes = int('max-request-bytes', 1)(v)),
  },
  {
    flag: 'auto-compaction-retention',
    help: 'Auto compaction retention for mvcc key value store. 0 means disable auto compaction.',
    def: d.autoCompactionRetention,
    apply: (c, v) => (c.autoCompactionRetention = v),
  },
  {
    flag: 'auto-compaction-mode',
    help: "interpret 'auto-compaction-retention' one of: periodic|revision.",
    def: d.autoCompactionMode,
    apply: (c, v) => (c.autoCompactionMode = v as ServerConfig['autoCompactionMode']),
  },
  {
    flag: 'log-level',
    help: 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.',
    def: d.logLevel,
    apply: (c, v) => {
      if (!['debug', 'info', 'warn', 'error', 'panic', 'fatal'].includes(v)) throw new ConfigError(`unknown log level "${v}"`);
      c.logLevel = v as ServerConfig['logLevel'];
    },
  },
  {
    flag: 'cert-file',
    help: 'Path to the client server TLS cert file.',
    apply: (c, v) => (c.clientTls = { ...(c.clientTls ?? d.clientTls), certFile: v }),
  },
  {
    flag: 'key-file',
    help: 'Path to the client server TLS key file.',
    apply: (c, v) => (c.clientTls = { ...(c.clientTls ?? d.clientTls), keyFile: v }),
  },
  {
    flag: 'trusted-ca-file',
    help: 'Path to the client server TLS trusted CA cert file.',
    apply: (c, v) => (c.clientTls = { ...(c.clientTls ?? d.clientTls), trustedCaFile: v }),
  },
  {
    flag: 'peer-cert-file',
    help: 'Path to the peer server TLS cert file.',
    apply: (c, v) => (c.peerTls = { ...(c.peerTls ?? d.peerTls), certFile: v }),
  },
  {
    flag: 'peer-key-file',
    help: 'Path to the peer server TLS key file.',
    apply: (c, v) => (c.peerTls = { ...(c.peerTls ?? d.peerTls), keyFile: v }),
  },
  {
    flag: 'peer-trusted-ca-file',
    help: 'Path to the peer server TLS trusted CA file.',
    apply: (c, v) => (c.peerTls = { ...(c.peerTls ?? d.peerTls), trustedCaFile: v }),
  },
  {
    flag: 'experimental-watch-progress-notify-interval',
    help: 'Duration of periodic watch progress notifications.',
    def: '10m',
    apply: (c, v) => {
      const ms = parseGoDuration(v);
      if (ms === undefined || ms <= 0)
        throw new ConfigError(`invalid value "${v}" for flag -experimental-watch-progress-notify-interval: parse error`);
      c.watchProgressNotifyIntervalMs = ms;
    },
  },
];

const boolFlags: { flag: string; help: string; apply: (c: Partial<ServerConfig>, v: boolean) => void }[] = [
  {
    flag: 'client-cert-auth',
    help: 'Enable client cert authentication.',
    apply: (c, v) => (c.clientTls = { ...(c.clientTls ?? d.clientTls), clientCertAuth: v }),
  },
  {
    flag: 'peer-client-cert-auth',
    help: 'Enable peer client cert authentication.',
    apply: (c, v) => (c.peerTls = { ...(c.peerTls ?? d.peerTls), clientCertAuth: v }),
  },
  { flag: 'unsafe-no-fsync', help: 'Disables fsync, unsafe, will cause data loss.', apply: (c, v) => (c.unsafeNoFsync = v) },
  {
    flag: 'experimental-initial-corrupt-check',
    help: 'Enable to check data corruption before serving any client/peer traffic.',
    apply: (c, v) => (c.experimentalInitialCorruptCheck = v),
  },
  {
    flag: 'strict-reconfig-check',
    help: 'Reject reconfiguration requests that would cause quorum loss. (default true)',
    apply: (c, v) => (c.strictReconfigCheck = v),
  },
];

// --- WAL placement, file retention, forced restart (one block, kept together) ---
valueFlags.push(
  { flag: 'wal-dir', help: 'Path to the dedicated wal directory.', def: d.walDir, apply: (c, v) => (c.walDir = v) },
  {
    flag: 'max-snapshots',
    help: 'Maximum number of snapshot files to retain (0 is unlimited).',
    def: String(d.maxSnapshots),
    apply: (c, v) => (c.maxSnapshots = int('max-snapshots')(v)),
  },
  {
    flag: 'max-wals',
    help: 'Maximum number of wal files to retain (0 is unlimited).',
    def: String(d.maxWals),
    apply: (c, v) => (c.maxWals = int('max-wals')(v)),
  },
);
boolFlags.push({
  flag: 'force-new-cluster',
  help: 'Force to create a new one member cluster.',
  apply: (c, v) => (c.forceNewCluster = v),
});

export function envName(flag: string): string {
  return `ETCD_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Go's flag package accepts -flag as well as --flag; commander wants the latter. */
export function normalizeArgs(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (a === '--') {
      out.push(a);
      continue;
    }
    out.push(/^-[a-z][a-z0-9-]+(=.*)?$/.test(a) ? `-${a}` : a);
  }
  return out;
}

export type ParseResult = { kind: 'run'; config: ServerConfig } | { kind: 'version' };

/** Parses argv (without node and script) and the environment into a resolved ServerConfig. */
export function parseFlags(args: string[], env: NodeJS.ProcessEnv): ParseResult {
  const program = new Command('kvd')
    .description('kvd: a member of a kv cluster, speaking etcd v3 API')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) })
    .allowExcessArguments(false)
    .helpOption('-h, --help', 'Show this help.');
  program.option('--version', 'Print the version and exit.');
  for (const f of valueFlags) {
    const o = new Option(`--${f.flag} <value>`, f.help).env(envName(f.flag));
    if (f.def !== undefined) o.default(f.def);
    program.addOption(o);
  }
  for (const f of boolFlags) {
    program.addOption(
      new Option(`--${f.flag} [bool]`, f.help).env(envName(f.flag)).argParser((v: string) => {
        try {
          return bool(f.flag)(v);
        } catch (e) {
          throw new InvalidArgumentError((e as Error).message);
        }
      }),
    );
  }
  // Commander reads env vars from process.env; give it the environment we were passed.
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    program.parse(normalizeArgs(args), { from: 'user' });
  } finally {
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
  const opts = program.opts<Record<string, string | boolean | undefined>>();
  if (opts.version) return { kind: 'version' };
  const partial: Partial<ServerConfig> = {};
  const camel = (s: string) => s.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
  for (const f of valueFlags) {
    const v = opts[camel(f.flag)];
    if (typeof v === 'string') f.apply(partial, v);
  }
  for (const f of boolFlags) {
    const v = opts[camel(f.flag)];
    if (v !== undefined) f.apply(partial, v === true || v === 'true' ? true : v === false ? false : bool(f.flag)(String(v)));
  }
  return { kind: 'run', config: resolveConfig(partial) };
}

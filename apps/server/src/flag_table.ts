// Every flag etcd 3.4 registers (etcdmain/config.go), one table per group of `etcd --help`, with
// its Go type, etcd's default, its --config-file key (embed.Config's json tags) and what kvd does
// with it. Adding a flag is one row in its group's table; flags.ts does the rest (parsing, ETCD_*
// variables, the config file, --help, docs/flags.md's check).
import { ConfigError, loadAuthTokenConfig, parseInitialCluster, type ServerConfig } from '@kv/server';
import type { Kind, Value } from './goflag.js';

/** What kvd does with a flag. */
export type Use =
  /** Implemented: puts the value into the member's configuration. */
  | { apply: (c: Partial<ServerConfig>, v: Value) => void }
  /** Implemented by kvd itself, outside ServerConfig (logging): read from the parsed values. */
  | { kvd: true }
  /** Accepted and checked as etcd checks its type; has no effect in kvd (warned once when given). */
  | { noEffect: string }
  /** Accepted at etcd's default; any other value refuses to start until issue `notYet` lands. */
  | { notYet: number }
  /** Accepted at etcd's default; any other value refuses to start, for this reason. */
  | { refuse: string };

export interface FlagDef {
  name: string;
  kind: Kind;
  /** etcd's default, as the flag parses it ('' is the zero value). */
  def: string;
  /** The default as `etcd --help` prints it, when that differs from `def`. */
  helpDef?: string;
  help: string;
  /** The --config-file key (etcd's json tag); null: not settable from the file. Default: the name. */
  yaml?: string | null;
  use: Use;
  /** A flag etcd does not have: what docs/flags.md says kvd does with it instead of "etcd's meaning". */
  kvdOnly?: string;
}

export interface FlagGroup {
  /** The heading of `etcd --help`; groups etcd registers but does not list say so. */
  title: string;
  flags: FlagDef[];
}

const num = (v: Value) => v as number;
const str = (v: Value) => v as string;
const list = (v: Value) => v as string[];
const tls = (c: Partial<ServerConfig>, which: 'clientTls' | 'peerTls') =>
  (c[which] = c[which] ?? { certFile: '', keyFile: '', trustedCaFile: '', clientCertAuth: false });

const member: FlagDef[] = [
  {
    name: 'name',
    kind: 'string',
    def: 'default',
    help: 'Human-readable name for this member.',
    use: { apply: (c, v) => (c.name = str(v)) },
  },
  {
    name: 'data-dir',
    kind: 'string',
    def: '',
    helpDef: '${name}.etcd',
    help: 'Path to the data directory.',
    use: { apply: (c, v) => (c.dataDir = str(v)) },
  },
  {
    name: 'wal-dir',
    kind: 'string',
    def: '',
    help: 'Path to the dedicated wal directory.',
    use: { apply: (c, v) => (c.walDir = str(v)) },
  },
  {
    name: 'snapshot-count',
    kind: 'uint64',
    def: '100000',
    help: 'Number of committed transactions to trigger a snapshot to disk.',
    // etcd: 0 means the default (etcdserver.EtcdServer.start).
    use: { apply: (c, v) => (c.snapshotCount = num(v) === 0 ? 100_000 : num(v)) },
  },
  {
    name: 'heartbeat-interval',
    kind: 'uint',
    def: '100',
    help: 'Time (in milliseconds) of a heartbeat interval.',
    use: { apply: (c, v) => (c.heartbeatIntervalMs = num(v)) },
  },
  {
    name: 'election-timeout',
    kind: 'uint',
    def: '1000',
    help: 'Time (in milliseconds) for an election to timeout. See tuning documentation for details.',
    use: { apply: (c, v) => (c.electionTimeoutMs = num(v)) },
  },
  {
    name: 'initial-election-tick-advance',
    kind: 'bool',
    def: 'true',
    help: 'Whether to fast-forward initial election ticks on boot for faster election.',
    use: { apply: (c, v) => (c.initialElectionTickAdvance = v as boolean) },
  },
  {
    name: 'listen-peer-urls',
    kind: { urls: {} },
    def: 'http://localhost:2380',
    help: 'List of URLs to listen on for peer traffic.',
    use: { apply: (c, v) => (c.listenPeerUrls = list(v)) },
  },
  {
    name: 'listen-client-urls',
    kind: { urls: {} },
    def: 'http://localhost:2379',
    help: 'List of URLs to listen on for client traffic.',
    use: { apply: (c, v) => (c.listenClientUrls = list(v)) },
  },
  {
    name: 'max-snapshots',
    kind: 'uint',
    def: '5',
    help: 'Maximum number of snapshot files to retain (0 is unlimited).',
    use: { apply: (c, v) => (c.maxSnapshots = num(v)) },
  },
  {
    name: 'max-wals',
    kind: 'uint',
    def: '5',
    help: 'Maximum number of wal files to retain (0 is unlimited).',
    use: { apply: (c, v) => (c.maxWals = num(v)) },
  },
  {
    name: 'quota-backend-bytes',
    kind: 'int64',
    def: '0',
    help: 'Raise alarms when backend size exceeds the given quota (0 defaults to low space quota).',
    use: { apply: (c, v) => (c.quotaBackendBytes = num(v)) },
  },
  {
    name: 'backend-batch-interval',
    kind: 'duration',
    def: '0',
    helpDef: '',
    help: 'BackendBatchInterval is the maximum time before commit the backend transaction.',
    use: { noEffect: 'kv commits each applied batch of entries to LevelDB as one write; there is no bbolt batch transaction to time' },
  },
  {
    name: 'backend-batch-limit',
    kind: 'int',
    def: '0',
    help: 'BackendBatchLimit is the maximum operations before commit the backend transaction.',
    use: { noEffect: 'kv commits each applied batch of entries to LevelDB as one write; there is no bbolt batch transaction to size' },
  },
  {
    name: 'max-txn-ops',
    kind: 'uint',
    def: '128',
    help: 'Maximum number of operations permitted in a transaction.',
    use: { apply: (c, v) => (c.maxTxnOps = num(v)) },
  },
  {
    name: 'max-request-bytes',
    kind: 'uint',
    def: '1572864',
    help: 'Maximum client request size in bytes the server will accept.',
    use: { apply: (c, v) => (c.maxRequestBytes = num(v)) },
  },
  {
    name: 'max-concurrent-streams',
    kind: 'uint32',
    def: '4294967295',
    helpDef: 'math.MaxUint32',
    help: 'Maximum concurrent streams that each client can open at a time.',
    use: { apply: (c, v) => (c.maxConcurrentStreams = num(v)) },
  },
  {
    name: 'grpc-keepalive-min-time',
    kind: 'duration',
    def: '5s',
    help: 'Minimum duration interval that a client should wait before pinging server.',
    use: { apply: (c, v) => (c.grpcKeepAliveMinTimeMs = num(v)) },
  },
  {
    name: 'grpc-keepalive-interval',
    kind: 'duration',
    def: '2h',
    help: 'Frequency duration of server-to-client ping to check if a connection is alive (0 to disable).',
    use: { apply: (c, v) => (c.grpcKeepAliveIntervalMs = num(v)) },
  },
  {
    name: 'grpc-keepalive-timeout',
    kind: 'duration',
    def: '20s',
    help: 'Additional duration of wait before closing a non-responsive connection (0 to disable).',
    use: { apply: (c, v) => (c.grpcKeepAliveTimeoutMs = num(v)) },
  },
];

const clustering: FlagDef[] = [
  {
    name: 'initial-advertise-peer-urls',
    kind: { urls: {} },
    def: 'http://localhost:2380',
    help: "List of this member's peer URLs to advertise to the rest of the cluster.",
    use: { apply: (c, v) => (c.initialAdvertisePeerUrls = list(v)) },
  },
  {
    name: 'initial-cluster',
    kind: 'string',
    def: '',
    helpDef: 'default=http://localhost:2380',
    help: 'Initial cluster configuration for bootstrapping.',
    use: { apply: (c, v) => (c.initialCluster = str(v) === '' ? [] : parseInitialCluster(str(v))) },
  },
  {
    name: 'initial-cluster-state',
    kind: { oneOf: ['new', 'existing'] },
    def: 'new',
    help: "Initial cluster state ('new' or 'existing').",
    use: { apply: (c, v) => (c.initialClusterState = v as ServerConfig['initialClusterState']) },
  },
  {
    name: 'initial-cluster-token',
    kind: 'string',
    def: 'etcd-cluster',
    help: 'Initial cluster token for the etcd cluster during bootstrap.',
    use: { apply: (c, v) => (c.initialClusterToken = str(v)) },
  },
  {
    name: 'advertise-client-urls',
    kind: { urls: {} },
    def: 'http://localhost:2379',
    help: "List of this member's client URLs to advertise to the public.",
    use: { apply: (c, v) => (c.advertiseClientUrls = list(v)) },
  },
  {
    name: 'discovery',
    kind: 'string',
    def: '',
    help: 'Discovery URL used to bootstrap the cluster.',
    use: { refuse: 'kvd cannot bootstrap through a discovery service; list the members with --initial-cluster' },
  },
  {
    name: 'discovery-fallback',
    kind: { oneOf: ['proxy', 'exit'] },
    def: 'proxy',
    help: "Expected behavior ('exit' or 'proxy') when discovery services fails.",
    use: { noEffect: 'it only applies to --discovery, which kvd refuses' },
  },
  {
    name: 'discovery-proxy',
    kind: 'string',
    def: '',
    help: 'HTTP proxy to use for traffic to discovery service.',
    use: { noEffect: 'it only applies to --discovery, which kvd refuses' },
  },
  {
    name: 'discovery-srv',
    kind: 'string',
    def: '',
    help: 'DNS srv domain used to bootstrap the cluster.',
    use: { refuse: 'kvd cannot bootstrap from DNS SRV records; list the members with --initial-cluster' },
  },
  {
    name: 'discovery-srv-name',
    kind: 'string',
    def: '',
    help: 'Suffix to the dns srv name queried when bootstrapping.',
    use: { noEffect: 'it only applies to --discovery-srv, which kvd refuses' },
  },
  {
    name: 'strict-reconfig-check',
    kind: 'bool',
    def: 'true',
    help: 'Reject reconfiguration requests that would cause quorum loss.',
    use: { apply: (c, v) => (c.strictReconfigCheck = v as boolean) },
  },
  {
    name: 'pre-vote',
    kind: 'bool',
    def: 'false',
    help: 'Enable to run an additional Raft election phase.',
    use: { apply: (c, v) => (c.preVote = v as boolean) },
  },
  {
    name: 'auto-compaction-retention',
    kind: 'string',
    def: '0',
    help: 'Auto compaction retention length. 0 means disable auto compaction.',
    use: { apply: (c, v) => (c.autoCompactionRetention = str(v)) },
  },
  {
    name: 'auto-compaction-mode',
    kind: 'string',
    def: 'periodic',
    help: "Interpret 'auto-compaction-retention' one of: periodic|revision.",
    use: { apply: (c, v) => (c.autoCompactionMode = v as ServerConfig['autoCompactionMode']) },
  },
  {
    name: 'enable-v2',
    kind: 'bool',
    def: 'false',
    help: 'Accept etcd V2 client requests.',
    use: { noEffect: 'kvd serves only the v3 gRPC API; there is no v2 store' },
  },
];

const security: FlagDef[] = [
  {
    name: 'cert-file',
    kind: 'string',
    def: '',
    help: 'Path to the client server TLS cert file.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'clientTls').certFile = str(v)) },
  },
  {
    name: 'key-file',
    kind: 'string',
    def: '',
    help: 'Path to the client server TLS key file.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'clientTls').keyFile = str(v)) },
  },
  {
    name: 'client-cert-auth',
    kind: 'bool',
    def: 'false',
    help: 'Enable client cert authentication.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'clientTls').clientCertAuth = v as boolean) },
  },
  {
    name: 'client-crl-file',
    kind: 'string',
    def: '',
    help: 'Path to the client certificate revocation list file.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'clientTls').crlFile = str(v)) },
  },
  {
    name: 'client-cert-allowed-hostname',
    kind: 'string',
    def: '',
    help: 'Allowed TLS hostname for client cert authentication.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'clientTls').allowedHostname = str(v)) },
  },
  {
    name: 'trusted-ca-file',
    kind: 'string',
    def: '',
    help: 'Path to the client server TLS trusted CA cert file.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'clientTls').trustedCaFile = str(v)) },
  },
  {
    name: 'auto-tls',
    kind: 'bool',
    def: 'false',
    help: 'Client TLS using generated certificates.',
    yaml: null,
    use: { apply: (c, v) => (c.clientAutoTls = v as boolean) },
  },
  {
    name: 'peer-cert-file',
    kind: 'string',
    def: '',
    help: 'Path to the peer server TLS cert file.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'peerTls').certFile = str(v)) },
  },
  {
    name: 'peer-key-file',
    kind: 'string',
    def: '',
    help: 'Path to the peer server TLS key file.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'peerTls').keyFile = str(v)) },
  },
  {
    name: 'peer-client-cert-auth',
    kind: 'bool',
    def: 'false',
    help: 'Enable peer client cert authentication.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'peerTls').clientCertAuth = v as boolean) },
  },
  {
    name: 'peer-trusted-ca-file',
    kind: 'string',
    def: '',
    help: 'Path to the peer server TLS trusted CA file.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'peerTls').trustedCaFile = str(v)) },
  },
  {
    name: 'peer-cert-allowed-cn',
    kind: 'string',
    def: '',
    help: 'Required CN for client certs connecting to the peer endpoint.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'peerTls').allowedCn = str(v)) },
  },
  {
    name: 'peer-cert-allowed-hostname',
    kind: 'string',
    def: '',
    help: 'Allowed TLS hostname for inter peer authentication.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'peerTls').allowedHostname = str(v)) },
  },
  {
    name: 'peer-auto-tls',
    kind: 'bool',
    def: 'false',
    help: 'Peer TLS using self-generated certificates if --peer-key-file and --peer-cert-file are not provided.',
    yaml: null,
    use: { apply: (c, v) => (c.peerAutoTls = v as boolean) },
  },
  {
    name: 'peer-crl-file',
    kind: 'string',
    def: '',
    help: 'Path to the peer certificate revocation list file.',
    yaml: null,
    use: { apply: (c, v) => (tls(c, 'peerTls').crlFile = str(v)) },
  },
  {
    name: 'cipher-suites',
    kind: 'strings',
    def: '',
    help: 'Comma-separated list of supported TLS cipher suites between client/server and peers (empty will be auto-populated by Go).',
    // Go's names; checked (etcd's "unexpected TLS cipher suite") when the configuration is resolved.
    use: { apply: (c, v) => (tls(c, 'clientTls').cipherSuites = tls(c, 'peerTls').cipherSuites = list(v)) },
  },
  {
    name: 'cors',
    kind: { urls: { except: '*' } },
    def: '*',
    help: 'Comma-separated whitelist of origins for CORS, or cross-origin resource sharing, (empty or * means allow all).',
    use: { noEffect: 'kvd sends no CORS headers (etcd writes them on its HTTP answers, the JSON gateway among them)' },
  },
  {
    name: 'host-whitelist',
    kind: 'uniqueStrings',
    def: '*',
    help: 'Acceptable hostnames from HTTP client requests, if server is not secure (empty or * means allow all).',
    use: {
      noEffect:
        "kvd's client port (gRPC, the JSON gateway, the health endpoints, /metrics, /version and the /ui dashboard) does not check the Host header (as etcd's '*')",
    },
  },
];

const auth: FlagDef[] = [
  {
    name: 'auth-token',
    kind: 'string',
    def: 'simple',
    help: "Specify a v3 authentication token type and its options ('simple' or 'jwt').",
    // Parsed as etcd parses it; jwt key files are read and checked here, so bad ones stop kvd at start.
    use: { apply: (c, v) => (c.authToken = loadAuthTokenConfig(str(v))) },
  },
  {
    name: 'bcrypt-cost',
    kind: 'uint',
    def: '10',
    help: 'Specify the cost / strength of the bcrypt algorithm for hashing auth passwords. Valid values are between 4 and 31.',
    use: { apply: (c, v) => (c.bcryptCost = num(v)) },
  },
  {
    name: 'auth-token-ttl',
    kind: 'uint',
    def: '300',
    help: 'Time (in seconds) of the auth-token-ttl.',
    use: { apply: (c, v) => (c.authTokenTtlMs = num(v) * 1000) },
  },
];

const monitoring: FlagDef[] = [
  {
    name: 'enable-pprof',
    kind: 'bool',
    def: 'false',
    help: 'Enable runtime profiling data via HTTP server. Address is at client URL + "/debug/pprof/"',
    use: { noEffect: "kvd is not a Go program: there is no /debug/pprof; profile it with node's --cpu-prof or --inspect" },
  },
  {
    name: 'metrics',
    kind: 'string',
    def: 'basic',
    help: "Set level of detail for exported metrics, specify 'extensive' to include histogram metrics.",
    use: { apply: (c, v) => (c.metrics = str(v) as 'basic' | 'extensive') },
  },
  {
    name: 'listen-metrics-urls',
    kind: { urls: {} },
    def: '',
    help: 'List of URLs to listen on for the metrics and health endpoints.',
    use: { apply: (c, v) => (c.listenMetricsUrls = list(v)) },
  },
];

const logging: FlagDef[] = [
  {
    name: 'logger',
    kind: 'string',
    def: 'capnslog',
    help: "Specify 'zap' for structured logging or 'capnslog'. [WARN] 'capnslog' will be deprecated in v3.5.",
    use: { kvd: true },
  },
  {
    name: 'log-outputs',
    kind: 'uniqueStrings',
    def: 'default',
    help: "Specify 'stdout' or 'stderr' to skip journald logging even when running under systemd, or list of comma separated output targets.",
    use: { kvd: true },
  },
  {
    name: 'log-level',
    kind: 'string',
    def: 'info',
    help: 'Configures log level. Only supports debug, info, warn, error, panic, or fatal.',
    use: { kvd: true },
  },
];

const proxy: FlagDef[] = [
  {
    name: 'proxy',
    kind: { oneOf: ['off', 'readonly', 'on'] },
    def: 'off',
    help: "Proxy mode setting ('off', 'readonly' or 'on').",
    use: { refuse: 'kvd has no v2 proxy mode; it always runs as a member' },
  },
  {
    name: 'proxy-failure-wait',
    kind: 'uint',
    def: '5000',
    help: 'Time (in milliseconds) an endpoint will be held in a failed state.',
    use: { noEffect: 'it only applies to --proxy, which kvd refuses' },
  },
  {
    name: 'proxy-refresh-interval',
    kind: 'uint',
    def: '30000',
    help: 'Time (in milliseconds) of the endpoints refresh interval.',
    use: { noEffect: 'it only applies to --proxy, which kvd refuses' },
  },
  {
    name: 'proxy-dial-timeout',
    kind: 'uint',
    def: '1000',
    help: 'Time (in milliseconds) for a dial to timeout.',
    use: { noEffect: 'it only applies to --proxy, which kvd refuses' },
  },
  {
    name: 'proxy-write-timeout',
    kind: 'uint',
    def: '5000',
    help: 'Time (in milliseconds) for a write to timeout.',
    use: { noEffect: 'it only applies to --proxy, which kvd refuses' },
  },
  {
    name: 'proxy-read-timeout',
    kind: 'uint',
    def: '0',
    help: 'Time (in milliseconds) for a read to timeout.',
    use: { noEffect: 'it only applies to --proxy, which kvd refuses' },
  },
];

const experimental: FlagDef[] = [
  {
    name: 'experimental-initial-corrupt-check',
    kind: 'bool',
    def: 'false',
    help: 'Enable to check data corruption before serving any client/peer traffic.',
    use: { apply: (c, v) => (c.experimentalInitialCorruptCheck = v as boolean) },
  },
  {
    name: 'experimental-corrupt-check-time',
    kind: 'duration',
    def: '0s',
    help: 'Duration of time between cluster corruption check passes.',
    use: { apply: (c, v) => (c.corruptCheckTimeMs = num(v)) },
  },
  {
    name: 'experimental-enable-v2v3',
    kind: 'string',
    def: '',
    help: 'Serve v2 requests through the v3 backend under a given prefix.',
    use: { noEffect: 'kvd serves no v2 requests' },
  },
  {
    name: 'experimental-backend-bbolt-freelist-type',
    kind: 'string',
    def: 'array',
    help: 'ExperimentalBackendFreelistType specifies the type of freelist that boltdb backend uses(array and map are supported types).',
    use: { noEffect: "kv's backend is LevelDB, which has no bbolt freelist" },
  },
  {
    name: 'experimental-enable-lease-checkpoint',
    kind: 'bool',
    def: 'false',
    help: 'ExperimentalEnableLeaseCheckpoint enables primary lessor to persist lease remainingTTL to prevent indefinite auto-renewal of long lived leases.',
    use: {
      noEffect:
        'kv always checkpoints remaining lease TTLs through the log (every 5 minutes and at a clean stop) and persists them, as etcd does with this flag and --experimental-enable-lease-checkpoint-persist on; it cannot be turned off',
    },
  },
  {
    name: 'experimental-compaction-batch-limit',
    kind: 'int',
    def: '1000',
    help: 'ExperimentalCompactionBatchLimit sets the maximum revisions deleted in each compaction batch.',
    // etcd's mvcc: a limit of 0 or less means the default.
    use: { apply: (c, v) => (c.compactionBatchLimit = num(v) <= 0 ? 1000 : num(v)) },
  },
  {
    name: 'experimental-peer-skip-client-san-verification',
    kind: 'bool',
    def: 'false',
    help: 'Skip verification of SAN field in client certificate for peer connections.',
    yaml: null,
    use: {
      noEffect:
        "kvd's peer port never checks the SANs of a peer's client certificate against its address (only its chain, CRL and --peer-cert-allowed-cn/-hostname): it behaves as if this were true",
    },
  },
  {
    name: 'experimental-watch-progress-notify-interval',
    kind: 'duration',
    def: '10m',
    help: 'Duration of periodical watch progress notification.',
    use: {
      apply: (c, v) => {
        if (num(v) <= 0) throw new ConfigError(`--experimental-watch-progress-notify-interval must be > 0 (got ${num(v)}ms)`);
        c.watchProgressNotifyIntervalMs = num(v);
      },
    },
  },
  {
    name: 'experimental-warning-apply-duration',
    kind: 'duration',
    def: '100ms',
    help: 'Warning is generated if requests take more than this duration.',
    use: { noEffect: 'kvd does not time individual applies' },
  },
];

// Flags etcd registers without listing them in --help.
const unlisted: FlagDef[] = [
  {
    name: 'config-file',
    kind: 'string',
    def: '',
    help: 'Path to the server configuration file. Note that if a configuration file is provided, other command line flags and environment variables will be ignored.',
    yaml: null,
    use: { kvd: true },
  },
  {
    name: 'log-output',
    kind: 'uniqueStrings',
    def: 'default',
    help: "[TO BE DEPRECATED IN v3.5] use '--log-outputs'.",
    use: { kvd: true },
  },
  {
    name: 'enable-grpc-gateway',
    kind: 'bool',
    def: 'true',
    help: 'Enable GRPC gateway.',
    use: { apply: (c, v) => (c.enableGrpcGateway = v as boolean) },
  },
  {
    name: 'experimental-enable-lease-checkpoint-persist',
    kind: 'bool',
    def: 'false',
    help: 'Enable persisting remainingTTL to prevent indefinite auto-renewal of long lived leases. Requires experimental-enable-lease-checkpoint to be enabled.',
    use: { noEffect: 'kv always persists lease checkpoints' },
  },
  {
    name: 'unsafe-no-fsync',
    kind: 'bool',
    def: 'false',
    help: 'Disables fsync, unsafe, will cause data loss.',
    use: { apply: (c, v) => (c.unsafeNoFsync = v as boolean) },
  },
  { name: 'version', kind: 'bool', def: 'false', help: 'Print the version and exit.', yaml: null, use: { kvd: true } },
];

const unsafe: FlagDef[] = [
  {
    name: 'force-new-cluster',
    kind: 'bool',
    def: 'false',
    help: 'Force to create a new one-member cluster.',
    use: { apply: (c, v) => (c.forceNewCluster = v as boolean) },
  },
];

const deprecated: FlagDef[] = [
  {
    name: 'debug',
    kind: 'bool',
    def: 'false',
    help: "Enable debug-level logging for etcd. [WARN] Will be deprecated in v3.5. Use '--log-level=debug' instead.",
    use: { kvd: true },
  },
  {
    name: 'log-package-levels',
    kind: 'string',
    def: '',
    help: "Specify a particular log level for each etcd package (eg: 'etcdmain=CRITICAL,etcdserver=DEBUG').",
    use: { noEffect: 'kvd has one log level for the whole process (--log-level)' },
  },
];

/** etcd 2 flags etcd 3.4 still accepts and ignores, with `flag "-x" is no longer supported - ignoring.` */
export const ignoredLegacy = [
  'cluster-active-size',
  'cluster-remove-delay',
  'cluster-sync-interval',
  'config',
  'force',
  'max-result-buffer',
  'max-retry-attempts',
  'peer-heartbeat-interval',
  'peer-election-timeout',
  'retry-interval',
  'snapshot',
  'v',
  'vv',
];

/** kv's own flags, not in etcd 3.4. */
const kvExtensions: FlagDef[] = [
  {
    name: 'enable-ui',
    kind: 'bool',
    def: 'true',
    help: 'Serve the web dashboard at /ui on the client URLs (kvd only: no etcd release has one; it calls the JSON gateway, so it needs --enable-grpc-gateway).',
    use: { apply: (c, v) => (c.enableUi = v as boolean) },
    kvdOnly:
      'implemented, kvd only (no etcd release has a dashboard): serves the web dashboard at /ui on every client URL; false answers /ui with 404',
  },
  {
    name: 'tls-min-version',
    kind: 'string',
    def: 'TLS1.2',
    help: 'Minimum TLS version supported by etcd. Possible values: TLS1.2, TLS1.3 (etcd 3.5).',
    // Both ports, both directions; checked with --tls-max-version and --cipher-suites (etcd 3.5's rules).
    use: { apply: (c, v) => (tls(c, 'clientTls').minVersion = tls(c, 'peerTls').minVersion = str(v)) },
  },
  {
    name: 'tls-max-version',
    kind: 'string',
    def: '',
    help: 'Maximum TLS version supported by etcd. Possible values: TLS1.2, TLS1.3 (empty defers to the TLS library) (etcd 3.5).',
    use: { apply: (c, v) => (tls(c, 'clientTls').maxVersion = tls(c, 'peerTls').maxVersion = str(v)) },
  },
  {
    name: 'experimental-snapshot-catchup-entries',
    kind: 'uint64',
    def: '5000',
    help: 'Number of entries for a slow follower to catch up after compacting the raft storage entries (etcd 3.5).',
    use: {
      apply: (c, v) => {
        if (num(v) < 1) throw new ConfigError('invalid value "0" for flag -experimental-snapshot-catchup-entries: must be >= 1');
        c.snapshotCatchUpEntries = num(v);
      },
    },
  },
];

export const flagGroups: FlagGroup[] = [
  { title: 'Member', flags: member },
  { title: 'Clustering', flags: clustering },
  { title: 'Security', flags: security },
  { title: 'Auth', flags: auth },
  { title: 'Profiling and Monitoring', flags: monitoring },
  { title: 'Logging', flags: logging },
  { title: 'v2 Proxy (to be deprecated in v4)', flags: proxy },
  { title: 'Experimental feature', flags: experimental },
  { title: 'Unsafe feature', flags: unsafe },
  { title: 'TO BE DEPRECATED', flags: deprecated },
  { title: 'Registered by etcd but not listed in its --help', flags: unlisted },
  { title: 'kv extensions (not in etcd 3.4)', flags: kvExtensions },
];

export const allFlags: FlagDef[] = flagGroups.flatMap((g) => g.flags);

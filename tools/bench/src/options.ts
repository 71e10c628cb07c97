// The benchmark's settings and their command line, in the spirit of etcd's `benchmark` tool
// (--clients, --conns, --key-size, --val-size, --key-space-size, --total, --consistency).
import { parseArgs } from 'node:util';

export const WORKLOADS = ['put', 'range', 'txn', 'txn-put', 'txn-cas', 'lease-keepalive', 'watch'] as const;
export type Workload = (typeof WORKLOADS)[number];
export type Consistency = 'linearizable' | 'serializable';

export interface BenchOptions {
  workload: Workload;
  /** "host:port" or URLs; each connection starts on a different one (round robin). */
  endpoints: string[];
  /** Concurrent requests in flight (workers). */
  clients: number;
  /** gRPC connections (separate channels) the workers share round robin. */
  conns: number;
  keySize: number;
  valSize: number;
  /** Keys are drawn uniformly from this many distinct keys. */
  keySpace: number;
  /** Stop after this many measured requests (puts for `watch`)... */
  total: number;
  /** ...or, when set, after this long (ms) instead. */
  durationMs: number | undefined;
  /** Requests (puts for watch) per second, paced open-loop; 0 = as fast as `clients` allow. */
  rate: number;
  /** Unmeasured requests first, so the client's JIT and connections are warm. */
  warmup: number;
  /** For `range`: linearizable (through consensus) or serializable (local read). */
  consistency: Consistency;
  /** For `watch`: number of watchers on the key prefix. */
  watchers: number;
  /** For `txn-put`: puts per txn (consecutive, so distinct, keys). */
  txnOps: number;
  /** Deadline of each request (ms). */
  requestTimeoutMs: number;
  /** Seed of the key choice, so two runs issue the same key sequence. */
  seed: number;
  /** Authenticate as this user (the server has auth enabled); undefined = no auth. */
  auth?: { username: string; password: string };
}

export const DEFAULTS: Omit<BenchOptions, 'workload' | 'endpoints'> = {
  clients: 16,
  conns: 1,
  keySize: 8,
  valSize: 256,
  keySpace: 10_000,
  total: 10_000,
  durationMs: undefined,
  rate: 0,
  warmup: 200,
  consistency: 'linearizable',
  watchers: 100,
  txnOps: 1,
  requestTimeoutMs: 30_000,
  seed: 1,
};

export class UsageError extends Error {
  override name = 'UsageError';
}

/** `--servers a,b` of the standalone scenarios (scale, defrag): kvd and/or etcd, each once. */
export function serverKinds(v: string | undefined): ('kvd' | 'etcd')[] {
  const servers = (v ?? 'kvd,etcd').split(',').filter((s) => s !== '');
  for (const s of servers) if (s !== 'kvd' && s !== 'etcd') throw new UsageError(`unknown server "${s}" (kvd,etcd)`);
  if (servers.length === 0) throw new UsageError('nothing to run');
  return [...new Set(servers)] as ('kvd' | 'etcd')[];
}

/** A positive integer flag's value, or `def` when absent. */
export function positiveInt(name: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${name} must be a positive integer, got "${v}"`);
  return Number(v);
}

/** "10s", "500ms", "2m", "1.5s" or bare milliseconds → ms. */
export function parseDuration(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!m) throw new UsageError(`invalid duration "${text}" (use e.g. 500ms, 10s, 2m)`);
  const n = Number(m[1]);
  const ms = m[2] === 's' ? n * 1000 : m[2] === 'm' ? n * 60_000 : n;
  if (ms <= 0) throw new UsageError(`duration must be positive, got "${text}"`);
  return Math.round(ms);
}

function int(flag: string, v: string | undefined, def: number, min = 1): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) < min) throw new UsageError(`--${flag} must be an integer >= ${min}, got "${v}"`);
  return Number(v);
}

export function parseConsistency(v: string | undefined): Consistency {
  if (v === undefined || v === 'l' || v === 'linearizable') return 'linearizable';
  if (v === 's' || v === 'serializable') return 'serializable';
  throw new UsageError(`--consistency must be l|linearizable or s|serializable, got "${v}"`);
}

/** Flags shared by the benchmark and the compare script (everything but workload and endpoints). */
export const COMMON_FLAGS = {
  clients: { type: 'string' },
  conns: { type: 'string' },
  'key-size': { type: 'string' },
  'val-size': { type: 'string' },
  'key-space': { type: 'string' },
  total: { type: 'string' },
  duration: { type: 'string' },
  rate: { type: 'string' },
  warmup: { type: 'string' },
  consistency: { type: 'string' },
  watchers: { type: 'string' },
  'txn-ops': { type: 'string' },
  'request-timeout': { type: 'string' },
  seed: { type: 'string' },
} as const;

/** Reads COMMON_FLAGS values into options, checking each and their combinations. */
export function commonOptions(values: Partial<Record<keyof typeof COMMON_FLAGS, string>>): Omit<BenchOptions, 'workload' | 'endpoints'> {
  const o = {
    clients: int('clients', values.clients, DEFAULTS.clients),
    conns: int('conns', values.conns, DEFAULTS.conns),
    keySize: int('key-size', values['key-size'], DEFAULTS.keySize),
    valSize: int('val-size', values['val-size'], DEFAULTS.valSize),
    keySpace: int('key-space', values['key-space'], DEFAULTS.keySpace),
    total: int('total', values.total, DEFAULTS.total),
    durationMs: values.duration === undefined ? undefined : parseDuration(values.duration),
    rate: int('rate', values.rate, DEFAULTS.rate, 0),
    warmup: int('warmup', values.warmup, DEFAULTS.warmup, 0),
    consistency: parseConsistency(values.consistency),
    watchers: int('watchers', values.watchers, DEFAULTS.watchers),
    txnOps: int('txn-ops', values['txn-ops'], DEFAULTS.txnOps),
    requestTimeoutMs: int('request-timeout', values['request-timeout'], DEFAULTS.requestTimeoutMs),
    seed: int('seed', values.seed, DEFAULTS.seed, 0),
  };
  if (o.txnOps > o.keySpace) throw new UsageError(`--txn-ops (${o.txnOps}) cannot exceed --key-space (${o.keySpace})`);
  if (o.conns > o.clients) throw new UsageError(`--conns (${o.conns}) cannot exceed --clients (${o.clients})`);
  // Keys are a one-letter prefix and a zero-padded index, so the size must hold every index.
  const digits = String(o.keySpace - 1).length;
  if (o.keySize < digits + 1)
    throw new UsageError(`--key-size ${o.keySize} is too small for --key-space ${o.keySpace} (needs >= ${digits + 1})`);
  return o;
}

export const USAGE = `usage: kv-bench <${WORKLOADS.join('|')}> --endpoints HOST:PORT[,...] [options]

  --endpoints LIST       comma-separated endpoints (required)
  --clients N            concurrent requests in flight (default ${DEFAULTS.clients})
  --conns N              gRPC connections shared by the clients (default ${DEFAULTS.conns})
  --key-size N           key size in bytes (default ${DEFAULTS.keySize})
  --val-size N           value size in bytes (default ${DEFAULTS.valSize})
  --key-space N          distinct keys, chosen uniformly (default ${DEFAULTS.keySpace})
  --total N              measured requests (puts for watch) (default ${DEFAULTS.total})
  --duration D           run for D (e.g. 10s) instead of --total
  --rate N               requests (watch: puts) per second, 0 = unlimited (default 0)
  --warmup N             unmeasured requests first (default ${DEFAULTS.warmup})
  --consistency l|s      range: linearizable or serializable (default l)
  --watchers N           watch: number of watchers (default ${DEFAULTS.watchers})
  --txn-ops N            txn-put: puts per txn (default ${DEFAULTS.txnOps})
  --request-timeout MS   deadline of each request (default ${DEFAULTS.requestTimeoutMs})
  --seed N               seed of the key sequence (default ${DEFAULTS.seed})
  --json                 print the result as JSON
  -h, --help             this text
`;

export type BenchCommand = { kind: 'help' } | { kind: 'run'; options: BenchOptions; json: boolean };

/** Parse the benchmark's argv (without node and script). */
export function parseBenchArgs(argv: string[]): BenchCommand {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: true,
      options: { ...COMMON_FLAGS, endpoints: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
    });
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (positionals.length !== 1)
    throw new UsageError(
      `expected one workload (${WORKLOADS.join('|')}), got ${positionals.length === 0 ? 'none' : positionals.join(' ')}`,
    );
  const workload = positionals[0] as Workload;
  if (!WORKLOADS.includes(workload)) throw new UsageError(`unknown workload "${workload}" (${WORKLOADS.join('|')})`);
  const endpoints = (values.endpoints ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (endpoints.length === 0) throw new UsageError('--endpoints is required');
  return { kind: 'run', json: values.json ?? false, options: { workload, endpoints, ...commonOptions(values) } };
}

// The workloads of `pnpm bench` (the rows of its table) and the command lines each driver gets.
import { DEFAULTS, type BenchOptions } from './options.js';

export const SUITE_WORKLOADS = ['put', 'range-l', 'range-s', 'txn-put', 'txn-cas', 'watch', 'lease-keepalive'] as const;
export type SuiteWorkload = (typeof SUITE_WORKLOADS)[number];

export const DRIVERS = ['go', 'node'] as const;
export type Driver = (typeof DRIVERS)[number];

/** One row of the table: a workload with its concurrency and size. */
export interface ScenarioRow {
  id: string;
  label: string;
  workload: SuiteWorkload;
  clients: number;
  conns: number;
  /** Measured requests (watch: puts). */
  total: number;
  /** Measured requests in --quick. */
  quickTotal: number;
  keySpace: number;
  /** watch: watchers on the prefix (spread over `conns` streams). */
  watchers?: number;
  /** txn-put: puts per txn. */
  txnOps?: number;
}

/** Key and value sizes of every row (Kubernetes-like small objects, as in the figures). */
export const KEY_SIZE = 8;
export const VAL_SIZE = 256;

/**
 * The default rows mirror issue 10's table; `txn-put` and `lease` run only when chosen with
 * --workloads. Key spaces: 100,000 random keys for puts, 10,000 prefilled keys for reads and
 * updates (100 clients on 10,000 keys rarely collide, so txn-cas conflicts stay rare).
 */
export const SCENARIO: ScenarioRow[] = [
  { id: 'put-1', label: 'put, 1 client', workload: 'put', clients: 1, conns: 1, total: 2000, quickTotal: 100, keySpace: 100_000 },
  {
    id: 'put-100',
    label: 'put, 100 clients / 10 conns',
    workload: 'put',
    clients: 100,
    conns: 10,
    total: 20_000,
    quickTotal: 1000,
    keySpace: 100_000,
  },
  {
    id: 'put-1000',
    label: 'put, 1000 clients / 100 conns',
    workload: 'put',
    clients: 1000,
    conns: 100,
    total: 50_000,
    quickTotal: 3000,
    keySpace: 100_000,
  },
  {
    id: 'get-l',
    label: 'linearizable get, 100 clients',
    workload: 'range-l',
    clients: 100,
    conns: 10,
    total: 20_000,
    quickTotal: 1000,
    keySpace: 10_000,
  },
  {
    id: 'get-s',
    label: 'serializable get, 100 clients',
    workload: 'range-s',
    clients: 100,
    conns: 10,
    total: 50_000,
    quickTotal: 2000,
    keySpace: 10_000,
  },
  {
    id: 'txn-cas',
    label: 'txn-cas (get, compare mod_rev, put), 100 clients',
    workload: 'txn-cas',
    clients: 100,
    conns: 10,
    total: 10_000,
    quickTotal: 1000,
    keySpace: 10_000,
  },
  {
    id: 'watch',
    label: 'watch: 100 watchers, 2000 puts (events)',
    workload: 'watch',
    clients: 10,
    conns: 10,
    total: 2000,
    quickTotal: 200,
    keySpace: 10_000,
    watchers: 100,
  },
  {
    id: 'txn-put',
    label: 'txn-put (4 puts per txn), 100 clients',
    workload: 'txn-put',
    clients: 100,
    conns: 10,
    total: 10_000,
    quickTotal: 1000,
    keySpace: 100_000,
    txnOps: 4,
  },
  {
    id: 'lease',
    label: 'lease keep-alive, 100 clients',
    workload: 'lease-keepalive',
    clients: 100,
    conns: 10,
    total: 20_000,
    quickTotal: 1000,
    keySpace: 1,
  },
];

export const DEFAULT_ROWS = ['put-1', 'put-100', 'put-1000', 'get-l', 'get-s', 'txn-cas', 'watch'];

/** Unmeasured requests before each run: a tenth of the run, at most 200. */
export function warmupFor(total: number): number {
  return Math.min(200, Math.floor(total / 10));
}

/** kvbench's argv for a row (workload first). */
export function goArgs(row: ScenarioRow, endpoints: readonly string[], total: number): string[] {
  const wl = row.workload === 'range-l' || row.workload === 'range-s' ? 'range' : row.workload;
  const args = [
    wl,
    `--endpoints=${endpoints.join(',')}`,
    `--clients=${row.clients}`,
    `--conns=${row.conns}`,
    `--total=${total}`,
    `--warmup=${warmupFor(total)}`,
    `--key-size=${KEY_SIZE}`,
    `--val-size=${VAL_SIZE}`,
    `--key-space-size=${row.keySpace}`,
  ];
  if (row.workload === 'range-l') args.push('--consistency=l');
  if (row.workload === 'range-s') args.push('--consistency=s');
  if (row.workload === 'watch') args.push(`--watchers=${row.watchers ?? 100}`, `--streams=${row.conns}`);
  if (row.workload === 'txn-put') args.push(`--txn-ops=${row.txnOps ?? 1}`);
  return args;
}

/** The @kv/client driver's options for a row (a Client per conn; a watch stream per Client). */
export function nodeOptions(row: ScenarioRow, endpoints: readonly string[], total: number): BenchOptions {
  const workload = row.workload === 'range-l' || row.workload === 'range-s' ? 'range' : row.workload;
  return {
    ...DEFAULTS,
    workload,
    endpoints: [...endpoints],
    clients: row.clients,
    conns: row.conns,
    total,
    warmup: warmupFor(total),
    keySize: KEY_SIZE,
    valSize: VAL_SIZE,
    keySpace: row.keySpace,
    consistency: row.workload === 'range-s' ? 'serializable' : 'linearizable',
    watchers: row.watchers ?? DEFAULTS.watchers,
    txnOps: row.txnOps ?? 1,
  };
}

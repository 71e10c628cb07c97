#!/usr/bin/env node
// `pnpm bench`: kvd and real etcd side by side. For each cluster size and each row of the scenario
// it starts a fresh cluster of each server (one server at a time, fsync on), runs the row with the
// chosen drivers (kvbench on etcd's clientv3, and/or @kv/client), stops it; then runs
// `etcdctl check perf` against fresh clusters; prints the table and writes it with the raw JSON
// to tools/bench/out/<timestamp>/.
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, realpathSync, writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { serverBinary, startCluster, unavailableReason, type Cluster, type ServerKind } from '@kv/cluster-launcher';
import { BENCH_DIR, buildGoDriver, goUnavailableReason, runGoDriver, type GoResult } from './godriver.js';
import { UsageError } from './options.js';
import { runBenchmark, type BenchResult } from './runner.js';
import { DEFAULT_ROWS, DRIVERS, goArgs, nodeOptions, SCENARIO, type Driver, type ScenarioRow } from './scenario.js';

export const CHECK_PERF_LOADS = ['s', 'm', 'l', 'xl'] as const;
export type CheckPerfLoad = (typeof CHECK_PERF_LOADS)[number];

export interface SuiteOptions {
  servers: ServerKind[];
  sizes: number[];
  drivers: Driver[];
  rows: ScenarioRow[];
  checkPerf: CheckPerfLoad[];
  quick: boolean;
  outDir: string | undefined;
  readyTimeoutMs: number;
  /** Flags given to every member of both servers (after `--`); never --unsafe-no-fsync. */
  serverArgs: string[];
  /** Auth enabled on every cluster and the drivers authenticate as a non-root user (BENCH_USER). */
  auth: boolean;
}

export const SUITE_USAGE = `usage: pnpm bench [options] [-- flags for every member of both servers]

  --servers LIST      kvd,etcd (default both; run one at a time, a fresh cluster per row)
  --sizes LIST        cluster sizes (default 1,3)
  --driver D          go (kvbench on etcd's clientv3; default), node (@kv/client) or both
  --workloads LIST    rows (default ${DEFAULT_ROWS.join(',')}; also ${SCENARIO.map((r) => r.id)
    .filter((id) => !DEFAULT_ROWS.includes(id))
    .join(',')})
  --check-perf LIST   etcdctl check perf loads, of s,m,l,xl, or none (default s,m; each takes
                      60 s per server and size; l is slow)
  --quick             short runs (a smoke of every row) and check perf s only unless --check-perf
  --out DIR           where table.txt and results.json go (default tools/bench/out/<timestamp>)
  --ready-timeout MS  longest wait for a cluster to be healthy (default 60000)
  --auth              enable auth on every cluster (root, and a user whose role may read and
                      write the benchmark's key prefixes); the drivers run as that user
`;

export type SuiteCommand = { kind: 'help' } | { kind: 'run'; options: SuiteOptions };

function list(v: string | undefined, def: string): string[] {
  return (v ?? def)
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

export function parseSuiteArgs(argv: string[]): SuiteCommand {
  const dash = argv.indexOf('--');
  let values;
  try {
    ({ values } = parseArgs({
      args: dash < 0 ? argv : argv.slice(0, dash),
      strict: true,
      allowPositionals: false,
      options: {
        servers: { type: 'string' },
        sizes: { type: 'string' },
        driver: { type: 'string' },
        workloads: { type: 'string' },
        'check-perf': { type: 'string' },
        quick: { type: 'boolean' },
        out: { type: 'string' },
        'ready-timeout': { type: 'string' },
        auth: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return { kind: 'help' };
  const servers = list(values.servers, 'kvd,etcd');
  for (const s of servers) if (s !== 'kvd' && s !== 'etcd') throw new UsageError(`unknown server "${s}" (kvd,etcd)`);
  const sizes = list(values.sizes, '1,3').map((s) => {
    if (!/^\d+$/.test(s) || Number(s) < 1) throw new UsageError(`--sizes: "${s}" is not a positive integer`);
    return Number(s);
  });
  const driver = values.driver ?? 'go';
  if (driver !== 'go' && driver !== 'node' && driver !== 'both') throw new UsageError(`--driver must be go, node or both, got "${driver}"`);
  const rows = list(values.workloads, DEFAULT_ROWS.join(',')).map((id) => {
    const row = SCENARIO.find((r) => r.id === id);
    if (!row) throw new UsageError(`unknown workload "${id}" (${SCENARIO.map((r) => r.id).join(',')})`);
    return row;
  });
  const quick = values.quick ?? false;
  const loads = list(values['check-perf'], quick ? 's' : 's,m').filter((l) => l !== 'none');
  for (const l of loads)
    if (!(CHECK_PERF_LOADS as readonly string[]).includes(l)) throw new UsageError(`--check-perf: unknown load "${l}" (s,m,l,xl or none)`);
  const serverArgs = dash < 0 ? [] : argv.slice(dash + 1);
  if (serverArgs.some((a) => a.startsWith('--unsafe-no-fsync')))
    throw new UsageError('--unsafe-no-fsync is not allowed: the benchmark measures durable writes');
  const ready = values['ready-timeout'] ?? '60000';
  if (!/^\d+$/.test(ready) || Number(ready) < 1) throw new UsageError(`--ready-timeout must be a positive integer, got "${ready}"`);
  if (servers.length === 0 || sizes.length === 0 || rows.length + loads.length === 0) throw new UsageError('nothing to run');
  return {
    kind: 'run',
    options: {
      servers: [...new Set(servers)] as ServerKind[],
      sizes: [...new Set(sizes)],
      drivers: driver === 'both' ? [...DRIVERS] : [driver],
      rows,
      checkPerf: loads as CheckPerfLoad[],
      quick,
      outDir: values.out,
      readyTimeoutMs: Number(ready),
      serverArgs,
      auth: values.auth ?? false,
    },
  };
}

/** One driver's run of one row against one server: the figures both drivers report. */
export interface RunRecord {
  size: number;
  server: ServerKind;
  driver: Driver;
  row: string;
  label: string;
  ops: number;
  errors: number;
  firstError?: string;
  aborted?: string;
  seconds: number;
  throughput: number;
  unit: 'req/s' | 'events/s';
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  maxMs: number;
  conflicts?: number;
  events?: number;
  expectedEvents?: number;
  raw: GoResult | BenchResult;
}

export function fromGo(base: Pick<RunRecord, 'size' | 'server' | 'row' | 'label'>, r: GoResult): RunRecord {
  return {
    ...base,
    driver: 'go',
    ops: r.ops,
    errors: r.errors,
    ...(r.firstError ? { firstError: r.firstError } : {}),
    ...(r.aborted ? { aborted: r.aborted } : {}),
    seconds: r.seconds,
    throughput: r.throughput,
    unit: r.unit,
    p50Ms: r.p50Ms,
    p90Ms: r.p90Ms,
    p99Ms: r.p99Ms,
    maxMs: r.maxMs,
    ...(r.conflicts !== undefined ? { conflicts: r.conflicts } : {}),
    ...(r.events !== undefined ? { events: r.events, expectedEvents: r.expectedEvents ?? 0 } : {}),
    raw: r,
  };
}

export function fromNode(base: Pick<RunRecord, 'size' | 'server' | 'row' | 'label'>, r: BenchResult): RunRecord {
  return {
    ...base,
    driver: 'node',
    ops: r.requests,
    errors: r.errors,
    ...(r.firstError !== undefined ? { firstError: r.firstError } : {}),
    ...(r.aborted !== undefined ? { aborted: r.aborted } : {}),
    seconds: r.elapsedMs / 1000,
    throughput: r.throughput,
    unit: r.unit,
    p50Ms: r.latency.p50,
    p90Ms: r.latency.p90,
    p99Ms: r.latency.p99,
    maxMs: r.latency.max,
    ...(r.conflicts !== undefined ? { conflicts: r.conflicts } : {}),
    ...(r.watch ? { events: r.watch.events, expectedEvents: r.watch.expectedEvents } : {}),
    raw: r,
  };
}

export interface CheckPerfRecord {
  size: number;
  server: ServerKind;
  load: CheckPerfLoad;
  /** etcdctl's PASS/FAIL lines, or one ERROR line when it printed none. */
  lines: string[];
  exitCode: number | null;
  seconds: number;
  output: string;
}

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const ratioText = (num: number | undefined, den: number | undefined) =>
  num === undefined || den === undefined || !(den > 0) || !(num > 0) ? 'n/a' : f2(num / den);

/**
 * The table of one cluster size: per row and driver, each server's throughput, p50 and p99, with
 * ratios oriented so that > 1 always means kv is better (kv/etcd for throughput, etcd/kv for
 * latency). A figure from a run with errors or missing events is marked `*`.
 */
export function formatSuiteTable(size: number, records: RunRecord[], checks: CheckPerfRecord[]): string {
  const header = [
    'workload',
    'drv',
    'kv ops/s',
    'etcd ops/s',
    'kv/etcd',
    'kv p50',
    'etcd p50',
    'etcd/kv',
    'kv p99',
    'etcd p99',
    'etcd/kv',
    'notes',
  ];
  const mine = records.filter((r) => r.size === size);
  const keys: { row: string; label: string; driver: Driver }[] = [];
  for (const r of mine) if (!keys.some((k) => k.row === r.row && k.driver === r.driver)) keys.push(r);
  const bad = (r: RunRecord | undefined) => (r !== undefined && (r.errors > 0 || r.aborted !== undefined) ? '*' : '');
  const cell = (r: RunRecord | undefined, v: (r: RunRecord) => string) => (r === undefined ? '-' : v(r) + bad(r));
  const body = keys.map((k) => {
    const kv = mine.find((r) => r.row === k.row && r.driver === k.driver && r.server === 'kvd');
    const etcd = mine.find((r) => r.row === k.row && r.driver === k.driver && r.server === 'etcd');
    const notes: string[] = [];
    for (const [name, r] of [
      ['kv', kv],
      ['etcd', etcd],
    ] as const) {
      if (r === undefined) continue;
      if (r.errors > 0) notes.push(`${name} ${r.errors} err`);
      if (r.conflicts !== undefined) notes.push(`${name} ${r.conflicts} conflicts`);
      if (r.events !== undefined && r.events < (r.expectedEvents ?? 0)) notes.push(`${name} ${r.events}/${r.expectedEvents} events`);
    }
    return [
      k.label,
      k.driver,
      cell(kv, (r) => f1(r.throughput)),
      cell(etcd, (r) => f1(r.throughput)),
      ratioText(kv?.throughput, etcd?.throughput),
      cell(kv, (r) => f2(r.p50Ms)),
      cell(etcd, (r) => f2(r.p50Ms)),
      ratioText(etcd?.p50Ms, kv?.p50Ms),
      cell(kv, (r) => f2(r.p99Ms)),
      cell(etcd, (r) => f2(r.p99Ms)),
      ratioText(etcd?.p99Ms, kv?.p99Ms),
      notes.join(', '),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) =>
    cells
      .map((c, i) => (i <= 1 || i === cells.length - 1 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!)))
      .join('  ')
      .trimEnd();
  const out = [
    `cluster size ${size}: ops/s is requests/s (watch: events delivered/s); latency in ms (watch: put sent -> event received).`,
    `Ratios: > 1 means kv is better — throughput kv/etcd, latency etcd/kv.  * = the run had errors or missing events.`,
    fmt(header),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...body.map(fmt),
  ];
  const sizeChecks = checks.filter((c) => c.size === size);
  if (sizeChecks.length > 0) {
    out.push('', `etcdctl check perf (cluster size ${size}, all endpoints):`);
    for (const c of sizeChecks) {
      out.push(`  --load=${c.load} ${c.server === 'kvd' ? 'kv  ' : 'etcd'}  ${c.lines.join(' | ')}`);
    }
  }
  return out.join('\n') + '\n';
}

/**
 * etcdctl check perf's verdict lines (check.go prints `PASS: …`/`FAIL: …`, two failures without a
 * prefix — "Slowest request took too long", "Stddev too high" — which get `FAIL: ` here, the closing
 * `PASS`/`FAIL`, and `Error: …` when it aborts). Its progress bar redraws with `\r` and may run
 * into the first verdict without a line break.
 */
export function checkPerfLines(output: string): string[] {
  const verdict = /(PASS|FAIL|Slowest request took too long|Stddev too high|Error:)/;
  const out: string[] = [];
  for (const raw of output.split('\n')) {
    const line = raw.slice(raw.lastIndexOf('\r') + 1);
    const m = verdict.exec(line);
    if (!m) continue;
    const text = line.slice(m.index).trim();
    out.push(/^(Slowest|Stddev)/.test(text) ? `FAIL: ${text}` : text);
  }
  return out;
}

const log = (s: string) => process.stderr.write(s + '\n');

/** Processes this run started and has not seen exit: killed by PID on an interrupt. */
const children = new Set<ChildProcess>();
let currentCluster: Cluster | undefined;

function etcdctlBinary(): string {
  return process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';
}

/**
 * With --auth, the user the drivers and check perf run as: not root (root skips the permission
 * check in both servers), but a user whose one role may read and write the prefixes the workloads
 * use — kvbench's "k" and "w", @kv/client's driver's the same, check perf's /etcdctl-check-perf/.
 */
export const BENCH_USER = { username: 'bench', password: 'bench-pw' } as const;
const BENCH_PREFIXES = ['k', 'w', '/etcdctl-check-perf/'];

/** Turns auth on in a fresh cluster: root, BENCH_USER with its role, then auth enable (etcdctl). */
function enableAuth(endpoints: readonly string[]): void {
  const ctl = (...args: string[]) =>
    execFileSync(etcdctlBinary(), [`--endpoints=${endpoints.join(',')}`, ...args], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
    });
  ctl('user', 'add', 'root:bench-root-pw');
  ctl('user', 'add', `${BENCH_USER.username}:${BENCH_USER.password}`);
  ctl('role', 'add', 'bench');
  for (const p of BENCH_PREFIXES) ctl('role', 'grant-permission', '--prefix', 'bench', 'readwrite', p);
  ctl('user', 'grant-role', BENCH_USER.username, 'bench');
  ctl('auth', 'enable');
}

const userFlag = (o: Pick<SuiteOptions, 'auth'>): string[] => (o.auth ? [`--user=${BENCH_USER.username}:${BENCH_USER.password}`] : []);

function runCheckPerf(
  endpoints: readonly string[],
  load: CheckPerfLoad,
  extra: readonly string[],
): Promise<Omit<CheckPerfRecord, 'size' | 'server' | 'load'>> {
  // Each load runs 60 s, then deletes what it wrote; generous bound, then SIGKILL by PID.
  const timeoutMs = 600_000;
  const started = Date.now();
  return new Promise((resolve) => {
    const child = spawn(etcdctlBinary(), [`--endpoints=${endpoints.join(',')}`, ...extra, 'check', 'perf', `--load=${load}`], {
      env: { ...process.env, ETCDCTL_API: '3' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.add(child);
    let output = '';
    const take = (d: string) => (output = (output + d).slice(-200_000));
    child.stdout.setEncoding('utf8').on('data', take);
    child.stderr.setEncoding('utf8').on('data', take);
    const timer = setTimeout(() => child.pid !== undefined && process.kill(child.pid, 'SIGKILL'), timeoutMs);
    const done = (code: number | null, why?: string) => {
      clearTimeout(timer);
      children.delete(child);
      const lines = checkPerfLines(output);
      if (lines.length === 0) {
        const last = output
          .trim()
          .split(/\r?\n|\r/)
          .at(-1)
          ?.trim();
        lines.push(`ERROR: ${why ?? `etcdctl exited with ${code}`}${last ? `: ${last}` : ''}`);
      }
      resolve({ lines, exitCode: code, seconds: (Date.now() - started) / 1000, output });
    };
    child.on('error', (e) => done(null, `etcdctl could not start: ${e.message}`));
    child.on('close', (code, signal) => done(code, signal ? `etcdctl killed by ${signal}` : undefined));
  });
}

async function withCluster<T>(server: ServerKind, size: number, o: SuiteOptions, body: (c: Cluster) => Promise<T>): Promise<T> {
  const cluster = await startCluster({ server, size, extraArgs: o.serverArgs, readyTimeoutMs: o.readyTimeoutMs });
  currentCluster = cluster;
  try {
    if (o.auth) enableAuth(cluster.endpoints);
    return await body(cluster);
  } finally {
    currentCluster = undefined;
    await cluster.stop();
  }
}

function version(bin: string): string {
  try {
    return execFileSync(bin, ['--version'], { encoding: 'utf8', timeout: 30_000 }).split('\n')[0]!.trim();
  } catch {
    return `${bin}: version unknown`;
  }
}

export interface SuiteResult {
  startedAt: string;
  machine: { cpus: number; model: string; loadavg: number[]; node: string; etcd: string };
  options: Omit<SuiteOptions, 'rows'> & { rows: string[] };
  notes: string[];
  records: RunRecord[];
  checks: CheckPerfRecord[];
}

export async function runSuite(o: SuiteOptions): Promise<SuiteResult> {
  const notes: string[] = [];
  const note = (s: string) => {
    notes.push(s);
    log(`NOTE: ${s}`);
  };
  if (o.auth && !existsSync(etcdctlBinary())) throw new UsageError(`--auth needs etcdctl (${etcdctlBinary()}) to set auth up`);
  let drivers = o.drivers;
  let goBin: string | undefined;
  if (drivers.includes('go')) {
    const why = await goUnavailableReason();
    if (why !== undefined) {
      drivers = drivers.filter((d) => d !== 'go');
      if (drivers.length === 0) drivers = ['node'];
      note(`the Go driver is unavailable (${why}); running the @kv/client driver only`);
    } else {
      goBin = await buildGoDriver(log);
    }
  }
  const servers = o.servers.filter((s) => {
    const why = unavailableReason(s);
    if (why !== undefined) note(`skipping ${s}: ${why}`);
    return why === undefined;
  });
  const checkPerf = existsSync(etcdctlBinary()) ? o.checkPerf : [];
  if (checkPerf.length < o.checkPerf.length) note(`skipping check perf: ${etcdctlBinary()} not found`);
  const records: RunRecord[] = [];
  const checks: CheckPerfRecord[] = [];
  for (const size of o.sizes) {
    for (const row of o.rows) {
      const total = o.quick ? row.quickTotal : row.total;
      for (const server of servers) {
        log(`== size ${size}, ${server}: ${row.label} (${total} ${row.workload === 'watch' ? 'puts' : 'requests'}; ${drivers.join(', ')})`);
        const base = { size, server, row: row.id, label: row.label };
        try {
          await withCluster(server, size, o, async (c) => {
            for (const driver of drivers) {
              const rec =
                driver === 'go'
                  ? fromGo(
                      base,
                      await runGoDriver(goBin!, [...goArgs(row, c.endpoints, total), ...userFlag(o)], 900_000, (ch) => {
                        children.add(ch);
                        ch.on('close', () => children.delete(ch));
                      }),
                    )
                  : fromNode(
                      base,
                      await runBenchmark({ ...nodeOptions(row, c.endpoints, total), ...(o.auth ? { auth: { ...BENCH_USER } } : {}) }),
                    );
              records.push(rec);
              log(
                `   ${driver}: ${f1(rec.throughput)} ${rec.unit}, p50 ${f2(rec.p50Ms)} ms, p99 ${f2(rec.p99Ms)} ms, ${rec.ops} ok, ${rec.errors} errors` +
                  `${rec.conflicts !== undefined ? `, ${rec.conflicts} conflicts` : ''}${rec.firstError ? ` (first: ${rec.firstError})` : ''}`,
              );
            }
          });
        } catch (e) {
          note(`size ${size}, ${server}, ${row.id}: ${(e as Error).message.split('\n')[0]}`);
        }
      }
    }
    for (const load of checkPerf) {
      for (const server of servers) {
        log(`== size ${size}, ${server}: etcdctl check perf --load=${load}`);
        try {
          const r = await withCluster(server, size, o, (c) => runCheckPerf(c.endpoints, load, userFlag(o)));
          checks.push({ size, server, load, ...r });
          log(`   ${r.lines.join(' | ')}`);
        } catch (e) {
          note(`size ${size}, ${server}, check perf ${load}: ${(e as Error).message.split('\n')[0]}`);
        }
      }
    }
  }
  return {
    startedAt: '',
    machine: {
      cpus: cpus().length,
      model: cpus()[0]?.model ?? '?',
      loadavg: loadavg(),
      node: process.version,
      etcd: version(serverBinary('etcd')),
    },
    options: { ...o, drivers, rows: o.rows.map((r) => r.id) },
    notes,
    records,
    checks,
  };
}

export function formatSuite(r: SuiteResult): string {
  const head =
    `pnpm bench ${r.startedAt}: kvd vs ${r.machine.etcd} on ${r.machine.cpus} CPU(s) (${r.machine.model}), node ${r.machine.node}, ` +
    `load average at the end ${r.machine.loadavg.map((l) => l.toFixed(1)).join(' ')}\n` +
    `drivers: ${r.options.drivers.join(', ')}${r.options.quick ? ' (--quick: short runs, figures are a smoke only)' : ''}; fsync on` +
    `${r.options.auth ? `; auth on (driver user "${BENCH_USER.username}", one role with readwrite on its key prefixes)` : ''}` +
    `${r.options.serverArgs.length ? `; member flags: ${r.options.serverArgs.join(' ')}` : ''}\n`;
  const tables = r.options.sizes.map((s) => formatSuiteTable(s, r.records, r.checks));
  const notes = r.notes.length ? `\nnotes:\n${r.notes.map((n) => `  ${n}`).join('\n')}\n` : '';
  return head + '\n' + tables.join('\n') + notes;
}

async function main(argv: string[]): Promise<number> {
  let cmd: SuiteCommand;
  try {
    cmd = parseSuiteArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`bench: ${e.message}\n${SUITE_USAGE}`);
      return 2;
    }
    throw e;
  }
  if (cmd.kind === 'help') {
    process.stdout.write(SUITE_USAGE);
    return 0;
  }
  const o = cmd.options;
  const onSignal = () => {
    log('bench: interrupted; stopping what is running');
    for (const c of children) if (c.pid !== undefined && c.exitCode === null) process.kill(c.pid, 'SIGKILL');
    void (currentCluster?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const startedAt = new Date().toISOString();
  const outDir = o.outDir ?? join(BENCH_DIR, 'out', startedAt.replace(/[:.]/g, '-'));
  mkdirSync(outDir, { recursive: true });
  log(`bench: writing to ${outDir}`);
  const result = { ...(await runSuite(o)), startedAt };
  const text = formatSuite(result);
  writeFileSync(join(outDir, 'table.txt'), text);
  writeFileSync(join(outDir, 'results.json'), JSON.stringify(result, null, 2) + '\n');
  process.stdout.write('\n' + text + `\nwritten: ${join(outDir, 'table.txt')}, ${join(outDir, 'results.json')}\n`);
  const failed = result.records.some((r) => r.errors > 0 || r.aborted !== undefined) || result.notes.some((n) => n.startsWith('size '));
  return failed ? 1 : 0;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`bench: ${(err as Error)?.stack ?? err}\n`);
      process.exit(1);
    },
  );
}

#!/usr/bin/env node
// compare: the same workloads, with the same settings, against a kvd cluster and a real etcd
// cluster of the same size (each started fresh per workload by @kv/cluster-launcher, with the
// same flags; both fsync), then a table of kv/etcd ratios for throughput and p99 latency.
import { execFileSync } from 'node:child_process';
import { realpathSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { ClusterStartError, serverBinary, startCluster, type Cluster, type ServerKind } from '@kv/cluster-launcher';
import { COMMON_FLAGS, commonOptions, UsageError, type BenchOptions, type Consistency, type Workload } from './options.js';
import { figures, formatComparison, formatResult, type ComparisonRow } from './report.js';
import { runBenchmark, type BenchResult } from './runner.js';

export const COMPARE_WORKLOADS = ['put', 'range-l', 'range-s', 'txn', 'watch'] as const;
export type CompareWorkload = (typeof COMPARE_WORKLOADS)[number];

export interface CompareOptions {
  size: number;
  workloads: CompareWorkload[];
  /** Settings for every workload (endpoints come from the clusters). */
  bench: Omit<BenchOptions, 'workload' | 'endpoints' | 'consistency'>;
  /** --total for the watch workload (each put is delivered to every watcher). */
  watchTotal: number;
  /** --rate for the watch workload (puts/s), so delivery latency is measured below saturation. */
  watchRate: number;
  /** Flags given to every member of both servers. */
  serverArgs: string[];
  readyTimeoutMs: number;
  /** Runs per server and workload, alternating which server goes first; the table shows medians. */
  repeat: number;
  jsonFile: string | undefined;
}

export const COMPARE_USAGE = `usage: pnpm --filter @kv/bench compare [options] [-- flags for every member of both servers]

  --size N               members per cluster (default 3; falls back to 1 if kvd cannot form it)
  --workloads LIST       of ${COMPARE_WORKLOADS.join(',')} (default all)
  --total N              measured requests per workload (default 5000)
  --watch-total N        measured puts for watch (default 1000)
  --watch-rate N         puts per second for watch, 0 = unlimited (default 100)
  --ready-timeout MS     longest wait for a cluster to be healthy (default 30000)
  --repeat N             runs per server and workload, alternating order; medians shown (default 1)
  --json FILE            also write the results as JSON
  plus the benchmark's --clients --conns --key-size --val-size --key-space --duration --warmup
  --watchers --request-timeout --seed (see kv-bench --help)
`;

export type CompareCommand = { kind: 'help' } | { kind: 'run'; options: CompareOptions };

function positive(flag: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`--${flag} must be a positive integer, got "${v}"`);
  return Number(v);
}

export function parseCompareArgs(argv: string[]): CompareCommand {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  let values;
  try {
    ({ values } = parseArgs({
      args: own,
      strict: true,
      allowPositionals: false,
      options: {
        ...COMMON_FLAGS,
        size: { type: 'string' },
        workloads: { type: 'string' },
        'watch-total': { type: 'string' },
        'watch-rate': { type: 'string' },
        'ready-timeout': { type: 'string' },
        repeat: { type: 'string' },
        json: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return { kind: 'help' };
  if (values.consistency !== undefined)
    throw new UsageError('--consistency is chosen per workload here: use range-l / range-s in --workloads');
  const workloads = (values.workloads ?? COMPARE_WORKLOADS.join(','))
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '');
  for (const w of workloads) {
    if (!(COMPARE_WORKLOADS as readonly string[]).includes(w))
      throw new UsageError(`unknown workload "${w}" (${COMPARE_WORKLOADS.join(',')})`);
  }
  if (workloads.length === 0) throw new UsageError('--workloads is empty');
  const { consistency: _unused, ...bench } = commonOptions({ total: '5000', ...values });
  return {
    kind: 'run',
    options: {
      size: positive('size', values.size, 3),
      workloads: workloads as CompareWorkload[],
      bench,
      watchTotal: positive('watch-total', values['watch-total'], 1000),
      watchRate: values['watch-rate'] === undefined ? 100 : commonOptions({ rate: values['watch-rate'] }).rate,
      serverArgs: dash < 0 ? [] : argv.slice(dash + 1),
      readyTimeoutMs: positive('ready-timeout', values['ready-timeout'], 30_000),
      repeat: positive('repeat', values.repeat, 1),
      jsonFile: values.json,
    },
  };
}

/** The benchmark settings of one compare workload. */
export function benchFor(w: CompareWorkload, o: CompareOptions, endpoints: string[]): BenchOptions {
  const workload: Workload = w === 'range-l' || w === 'range-s' ? 'range' : w;
  const consistency: Consistency = w === 'range-s' ? 'serializable' : 'linearizable';
  return { ...o.bench, workload, consistency, endpoints, ...(w === 'watch' ? { total: o.watchTotal, rate: o.watchRate } : {}) };
}

const log = (s: string) => process.stderr.write(s + '\n');

function etcdVersion(): string {
  try {
    return execFileSync(serverBinary('etcd'), ['--version'], { encoding: 'utf8' }).split('\n')[0]!.trim();
  } catch {
    return 'etcd version unknown';
  }
}

let current: Cluster | undefined;

async function withCluster<T>(server: ServerKind, size: number, o: CompareOptions, body: (c: Cluster) => Promise<T>): Promise<T> {
  const cluster = await startCluster({ server, size, extraArgs: o.serverArgs, readyTimeoutMs: o.readyTimeoutMs });
  current = cluster;
  try {
    return await body(cluster);
  } finally {
    current = undefined;
    await cluster.stop();
  }
}

export async function runCompare(
  o: CompareOptions,
): Promise<{ size: number; rows: ComparisonRow[]; runs: Record<string, Record<ServerKind, BenchResult[]>> }> {
  let size = o.size;
  // Decide the size once: a kvd that cannot form a cluster of `size` yet is compared at size 1,
  // and so is etcd, so both get the same treatment.
  if (size > 1) {
    try {
      await withCluster('kvd', size, o, async () => undefined);
    } catch (e) {
      if (!(e instanceof ClusterStartError)) throw e;
      const why = e.message.split('\n')[0];
      // Each member's last line of its own (the launcher's notes start with "--- ").
      const last = e.members
        .map(
          (m) =>
            `${m.name}: ${
              m.logTail
                .split('\n')
                .filter((l) => !l.startsWith('--- '))
                .at(-1) ?? '(no output)'
            }`,
        )
        .join('\n  ');
      log(
        `NOTE: a kvd cluster of ${size} could not form (${why});\n  ${last}\n  comparing single-member clusters instead (kvd and etcd both at size 1).`,
      );
      size = 1;
    }
  }
  const rows: ComparisonRow[] = [];
  const runs: Record<string, Record<ServerKind, BenchResult[]>> = {};
  for (const w of o.workloads) {
    const results: Record<ServerKind, BenchResult[]> = { kvd: [], etcd: [] };
    for (let round = 0; round < o.repeat; round++) {
      // Alternate who goes first so neither always runs on a warmer (or busier) machine.
      const order: ServerKind[] = round % 2 === 0 ? ['kvd', 'etcd'] : ['etcd', 'kvd'];
      for (const server of order) {
        log(`== ${w} on ${server} (size ${size}${o.repeat > 1 ? `, run ${round + 1}/${o.repeat}` : ''})`);
        const r = await withCluster(server, size, o, (c) => runBenchmark(benchFor(w, o, [...c.endpoints])));
        results[server].push(r);
        process.stdout.write(`[${server}] ` + formatResult(r).replace(/\n(?=.)/g, `\n[${server}] `));
      }
    }
    runs[w] = results;
    rows.push({
      label: results.kvd[0]!.label,
      unit: results.kvd[0]!.unit,
      runs: o.repeat,
      kv: figures(results.kvd),
      etcd: figures(results.etcd),
    });
  }
  return { size, rows, runs };
}

async function main(argv: string[]): Promise<number> {
  let cmd: CompareCommand;
  try {
    cmd = parseCompareArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`compare: ${e.message}\n${COMPARE_USAGE}`);
      return 2;
    }
    throw e;
  }
  if (cmd.kind === 'help') {
    process.stdout.write(COMPARE_USAGE);
    return 0;
  }
  const o = cmd.options;
  const onSignal = () => {
    log('compare: interrupted; stopping the running cluster');
    void (current?.stop() ?? Promise.resolve()).finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const b = o.bench;
  process.stdout.write(
    `kvd vs ${etcdVersion()} on ${cpus().length} CPU(s) (${cpus()[0]?.model ?? '?'}), node ${process.version}\n` +
      `settings: clients=${b.clients} conns=${b.conns} key-size=${b.keySize} val-size=${b.valSize} key-space=${b.keySpace} ` +
      `${b.durationMs !== undefined ? `duration=${b.durationMs}ms` : `total=${b.total}`} watch-total=${o.watchTotal} watch-rate=${o.watchRate}/s watchers=${b.watchers} warmup=${b.warmup}` +
      `${o.serverArgs.length ? ` server flags: ${o.serverArgs.join(' ')}` : ''}\n`,
  );
  const { size, rows, runs } = await runCompare(o);
  process.stdout.write(`\ncluster size ${size}; ratio = kv / etcd (throughput: > 1 is kv faster; p99: > 1 is kv slower)\n`);
  process.stdout.write(formatComparison(rows));
  if (o.jsonFile) writeFileSync(o.jsonFile, JSON.stringify({ size, rows, runs }, null, 2) + '\n');
  return rows.every((r) => !r.kv.incomplete && !r.etcd.incomplete) ? 0 : 1;
}

// Run only as a script (the module is also imported by tests for its parser).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(realpathSync(process.argv[1])).href) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err) => {
      process.stderr.write(`compare: ${(err as Error)?.stack ?? err}\n`);
      process.exit(1);
    },
  );
}

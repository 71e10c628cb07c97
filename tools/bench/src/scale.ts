#!/usr/bin/env node
// `pnpm bench:scale`: scale, memory and restart of one member, kvd and real etcd side by side
// (issue 10 §3). For each server, on a fresh one-member cluster (fsync on):
//   1. writes N unique keys (default 300,000 × 256 B values) at C clients (kvbench put);
//   2. reads the member's RSS (and its high-water mark) and the data dir's size;
//   3. times a keys-only range of every key (kvbench range --range-all, 3 requests, the median);
//   4. kill -9, restarts it and times until a linearizable read is answered;
//   5. times `etcdctl del --prefix` of every key.
// Prints a table with kv/etcd ratios (> 1 = kv better for every column) and writes results.json.
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startCluster, unavailableReason, type Member, type ServerKind } from '@kv/cluster-launcher';
import { ETCDCTL_BIN } from '@kv/testkit';
import { BENCH_DIR, buildGoDriver, goUnavailableReason, runGoDriver } from './godriver.js';
import { positiveInt, serverKinds, UsageError } from './options.js';

export interface ScaleOptions {
  servers: ServerKind[];
  keys: number;
  clients: number;
  conns: number;
  valSize: number;
  outDir: string | undefined;
}

export const SCALE_USAGE = `usage: pnpm bench:scale [options]

  --servers LIST   kvd,etcd (default both, one at a time)
  --keys N         unique keys written (default 300000)
  --clients N      concurrent writers (default 200, over --conns clients)
  --conns N        clientv3 clients (default 20)
  --val-size N     value bytes (default 256)
  --out DIR        where table.txt and results.json go (default tools/bench/out/scale-<timestamp>)
`;

export function parseScaleArgs(argv: string[]): { kind: 'help' } | { kind: 'run'; options: ScaleOptions } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        servers: { type: 'string' },
        keys: { type: 'string' },
        clients: { type: 'string' },
        conns: { type: 'string' },
        'val-size': { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return { kind: 'help' };
  return {
    kind: 'run',
    options: {
      servers: serverKinds(values.servers),
      keys: positiveInt('keys', values.keys, 300_000),
      clients: positiveInt('clients', values.clients, 200),
      conns: positiveInt('conns', values.conns, 20),
      valSize: positiveInt('val-size', values['val-size'], 256),
      outDir: values.out,
    },
  };
}

export interface ScaleRecord {
  server: ServerKind;
  putsPerSec: number;
  putP99Ms: number;
  putErrors: number;
  rssMiB: number;
  rssPeakMiB: number;
  dataDirMiB: number;
  keysOnlyRangeSec: number;
  rssAfterRangeMiB: number;
  restartSec: number;
  deletePrefixSec: number;
  rssPeakAfterDeleteMiB: number;
  error?: string;
}

/** VmRSS and VmHWM of a process, in MiB (Linux /proc). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? Number.NaN);
  return { rss: kb('VmRSS') / 1024, peak: kb('VmHWM') / 1024 };
}

/** Bytes under a directory (files only, links not followed). */
export function dirBytes(dir: string): number {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) n += dirBytes(p);
    else if (e.isFile()) n += statSync(p).size;
  }
  return n;
}

function etcdctl(args: string[], timeoutMs: number): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve) => {
    const child = spawn(ETCDCTL_BIN, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCDCTL_API: '3' } });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (out += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

/** Seconds from now until `ok()` resolves true, polling every 50 ms, at most `limitMs`. */
async function timeUntil(ok: () => Promise<boolean>, limitMs: number): Promise<number> {
  const t0 = performance.now();
  while (performance.now() - t0 < limitMs) {
    if (await ok()) return (performance.now() - t0) / 1000;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`not serving ${limitMs} ms after restart`);
}

const MiB = 1024 * 1024;

async function runOne(server: ServerKind, o: ScaleOptions, kvbench: string): Promise<ScaleRecord> {
  const cluster = await startCluster({ server, size: 1, readyTimeoutMs: 60_000 });
  const m: Member = cluster.members[0];
  const ep = cluster.endpoints[0];
  const rec: ScaleRecord = {
    server,
    putsPerSec: Number.NaN,
    putP99Ms: Number.NaN,
    putErrors: 0,
    rssMiB: Number.NaN,
    rssPeakMiB: Number.NaN,
    dataDirMiB: Number.NaN,
    keysOnlyRangeSec: Number.NaN,
    rssAfterRangeMiB: Number.NaN,
    restartSec: Number.NaN,
    deletePrefixSec: Number.NaN,
    rssPeakAfterDeleteMiB: Number.NaN,
  };
  try {
    const keyArgs = ['--key-space-size', String(o.keys), '--key-size', '16'];
    process.stdout.write(`== ${server}: ${o.keys} keys × ${o.valSize} B at ${o.clients} clients\n`);
    const put = await runGoDriver(
      kvbench,
      [
        'put',
        '--endpoints',
        ep,
        '--clients',
        String(o.clients),
        '--conns',
        String(o.conns),
        '--total',
        String(o.keys),
        '--sequential-keys',
        '--val-size',
        String(o.valSize),
        ...keyArgs,
      ],
      30 * 60_000,
    );
    if (put.aborted !== undefined || put.ops === 0) throw new Error(`put: ${put.aborted ?? put.firstError ?? 'no result'}`);
    rec.putsPerSec = put.throughput;
    rec.putP99Ms = put.p99Ms;
    rec.putErrors = put.errors;
    const mem = memoryOf(m.pid);
    rec.rssMiB = mem.rss;
    rec.rssPeakMiB = mem.peak;
    rec.dataDirMiB = dirBytes(m.dataDir) / MiB;
    process.stdout.write(
      `   put ${put.throughput.toFixed(0)}/s p99 ${put.p99Ms.toFixed(1)} ms; RSS ${mem.rss.toFixed(0)} MiB; data dir ${rec.dataDirMiB.toFixed(0)} MiB\n`,
    );

    const range = await runGoDriver(
      kvbench,
      ['range', '--endpoints', ep, '--range-all', '--keys-only', '--no-prefill', '--total', '3', '--request-timeout', '120s', ...keyArgs],
      10 * 60_000,
    );
    if (range.aborted !== undefined || range.errors > 0 || range.ops === 0) {
      throw new Error(`keys-only range: ${range.aborted ?? range.firstError ?? `${range.errors} errors`}`);
    }
    rec.keysOnlyRangeSec = range.p50Ms / 1000;
    rec.rssAfterRangeMiB = memoryOf(m.pid).rss;
    process.stdout.write(
      `   keys-only range of ${o.keys} keys: ${rec.keysOnlyRangeSec.toFixed(2)} s; RSS ${rec.rssAfterRangeMiB.toFixed(0)} MiB\n`,
    );

    m.kill('SIGKILL');
    await m.exited();
    const restarted = m.restart();
    rec.restartSec = await timeUntil(async () => {
      const r = await etcdctl(['--endpoints', ep, '--dial-timeout=200ms', '--command-timeout=1s', 'get', 'k', '--consistency=l'], 5_000);
      return r.code === 0;
    }, 120_000);
    await restarted;
    process.stdout.write(`   kill -9 → serving: ${rec.restartSec.toFixed(2)} s\n`);

    const t0 = performance.now();
    const del = await etcdctl(['--endpoints', ep, '--command-timeout=120s', 'del', 'k', '--prefix'], 180_000);
    rec.deletePrefixSec = (performance.now() - t0) / 1000;
    if (del.code !== 0 || del.out.trim() !== String(o.keys)) throw new Error(`del --prefix: ${del.out.trim().slice(-300)}`);
    rec.rssPeakAfterDeleteMiB = memoryOf(m.pid).peak;
    process.stdout.write(
      `   del --prefix of ${o.keys} keys: ${rec.deletePrefixSec.toFixed(2)} s; peak RSS ${rec.rssPeakAfterDeleteMiB.toFixed(0)} MiB\n`,
    );
  } catch (e) {
    rec.error = (e as Error).message;
    process.stdout.write(`   error: ${rec.error}\n`);
  } finally {
    await cluster.stop();
  }
  return rec;
}

/** Columns: label, field, whether more is better, format. */
const COLUMNS: [string, keyof ScaleRecord, boolean, (v: number) => string][] = [
  ['puts/s', 'putsPerSec', true, (v) => v.toFixed(0)],
  ['put p99 ms', 'putP99Ms', false, (v) => v.toFixed(1)],
  ['RSS MiB', 'rssMiB', false, (v) => v.toFixed(0)],
  ['data dir MiB', 'dataDirMiB', false, (v) => v.toFixed(0)],
  ['keys-only range s', 'keysOnlyRangeSec', false, (v) => v.toFixed(2)],
  ['RSS after range MiB', 'rssAfterRangeMiB', false, (v) => v.toFixed(0)],
  ['kill -9 → serving s', 'restartSec', false, (v) => v.toFixed(2)],
  ['del --prefix s', 'deletePrefixSec', false, (v) => v.toFixed(2)],
  ['peak RSS MiB', 'rssPeakAfterDeleteMiB', false, (v) => v.toFixed(0)],
];

/** The table: one row per measure, kvd and etcd columns and the ratio (> 1 = kv better). */
export function formatScaleTable(records: ScaleRecord[]): string {
  const kv = records.find((r) => r.server === 'kvd');
  const et = records.find((r) => r.server === 'etcd');
  const rows = [['measure', 'kvd', 'etcd', 'kv better ×']];
  for (const [label, field, more, fmt] of COLUMNS) {
    const a = kv?.[field] as number | undefined;
    const b = et?.[field] as number | undefined;
    const show = (v: number | undefined) => (v === undefined || Number.isNaN(v) ? '-' : fmt(v));
    const ratio =
      a === undefined || b === undefined || Number.isNaN(a) || Number.isNaN(b) || a === 0 || b === 0
        ? '-'
        : (more ? a / b : b / a).toFixed(2);
    rows.push([label, show(a), show(b), ratio]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ')).join('\n') + '\n';
}

export async function runScale(o: ScaleOptions): Promise<ScaleRecord[]> {
  const goWhy = await goUnavailableReason();
  if (goWhy !== undefined) throw new Error(`bench:scale needs the Go driver: ${goWhy}`);
  const kvbench = await buildGoDriver(() => {});
  try {
    execFileSync(ETCDCTL_BIN, ['version'], { stdio: 'ignore' });
  } catch {
    throw new Error('bench:scale needs etcdctl (apt-get install etcd-client)');
  }
  const records: ScaleRecord[] = [];
  for (const server of o.servers) {
    const why = unavailableReason(server);
    if (why !== undefined) {
      process.stdout.write(`== ${server}: skipped (${why})\n`);
      continue;
    }
    records.push(await runOne(server, o, kvbench));
  }
  const outDir = o.outDir ?? join(BENCH_DIR, 'out', `scale-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(outDir, { recursive: true });
  const table = formatScaleTable(records);
  writeFileSync(join(outDir, 'table.txt'), table);
  writeFileSync(join(outDir, 'results.json'), JSON.stringify({ options: o, records }, null, 2));
  process.stdout.write(`\n${table}\nbench:scale: wrote ${outDir}\n`);
  return records;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const cmd = parseScaleArgs(process.argv.slice(2));
    if (cmd.kind === 'help') process.stdout.write(SCALE_USAGE);
    else {
      const records = await runScale(cmd.options);
      process.exitCode = records.some((r) => r.error !== undefined) ? 1 : 0;
    }
  } catch (e) {
    process.stderr.write(`bench:scale: ${(e as Error).message}\n${e instanceof UsageError ? SCALE_USAGE : ''}`);
    process.exitCode = 2;
  }
}

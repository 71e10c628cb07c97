#!/usr/bin/env node
// `pnpm bench:defrag`: how long a Defragment stalls reads, kvd beside real etcd (issue 13). For
// each server in turn, on a fresh one-member cluster (fsync on), kvbench's defrag workload
// (go/src/kvbench/defrag.go) fills the backend, deletes most of it, compacts, then reads steadily
// while it calls Defragment; this file cuts the reads into windows and compares the servers.
import { createHash } from 'node:crypto';
import { loadavg } from 'node:os';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { type Cluster, startCluster, unavailableReason, type ServerKind } from '@kv/cluster-launcher';
import { BENCH_DIR, buildGoDriver, goUnavailableReason, runGoDriver } from './godriver.js';
import { LatencyRecorder, type LatencySummary } from './latency.js';
import { positiveInt, serverKinds, UsageError } from './options.js';

export interface DefragOptions {
  servers: ServerKind[];
  /** Keys written first (each --val-size bytes). */
  keys: number;
  valSize: number;
  /** Every n-th key is kept (overwritten once); the others are deleted before the compaction. */
  keepEvery: number;
  /** Reads in flight (half serializable, half linearizable) over `conns` clientv3 clients. */
  clients: number;
  conns: number;
  /** Milliseconds of reads before the Defragment and after it returns. */
  beforeMs: number;
  afterMs: number;
  outDir: string | undefined;
}

export const DEFRAG_USAGE = `usage: pnpm bench:defrag [options]

  --servers LIST   kvd,etcd (default both, one at a time)
  --keys N         keys written first (default 40000: ~40 MiB of values)
  --val-size N     value bytes (default 1024)
  --keep-every N   every N-th key is kept, the others deleted before the compaction (default 10)
  --clients N      reads in flight, half serializable, half linearizable (default 8)
  --conns N        clientv3 clients they share (default 2)
  --before MS      reads before the Defragment (default 3000)
  --after MS       reads after it returns (default 3000)
  --out DIR        where table.txt and results.json go (default tools/bench/out/defrag-<timestamp>)
`;

export function parseDefragArgs(argv: string[]): { kind: 'help' } | { kind: 'run'; options: DefragOptions } {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      allowPositionals: false,
      options: {
        servers: { type: 'string' },
        keys: { type: 'string' },
        'val-size': { type: 'string' },
        'keep-every': { type: 'string' },
        clients: { type: 'string' },
        conns: { type: 'string' },
        before: { type: 'string' },
        after: { type: 'string' },
        out: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return { kind: 'help' };
  const o: DefragOptions = {
    servers: serverKinds(values.servers),
    keys: positiveInt('keys', values.keys, 40_000),
    valSize: positiveInt('val-size', values['val-size'], 1024),
    keepEvery: positiveInt('keep-every', values['keep-every'], 10),
    clients: positiveInt('clients', values.clients, 8),
    conns: positiveInt('conns', values.conns, 2),
    beforeMs: positiveInt('before', values.before, 3000),
    afterMs: positiveInt('after', values.after, 3000),
    outDir: values.out,
  };
  if (o.conns > o.clients) throw new UsageError(`--conns (${o.conns}) cannot exceed --clients (${o.clients})`);
  if (o.keepEvery > o.keys) throw new UsageError('--keep-every cannot exceed --keys (nothing would be read)');
  return { kind: 'run', options: o };
}

/** The key of index i (kvbench's makeKey with --key-size 16: "k" and 15 digits). */
export function defragKey(i: number): string {
  return `k${String(i).padStart(15, '0')}`;
}

/**
 * kvbench's value of key i in generation gen (1: the fill, 2: the overwrite of a kept key), as
 * defragValue in defrag.go builds it: "g<gen>-<i>-" then the hex SHA-256 of "g<gen>-<i>-<n>" for
 * n = 0, 1, … cut to size bytes — incompressible for LevelDB's Snappy, so the backends hold alike.
 */
export function defragValue(gen: number, i: number, size: number): string {
  const head = `g${gen}-${i}-`;
  let v = head;
  for (let n = 0; v.length < size; n++) v += createHash('sha256').update(`${head}${n}`).digest('hex');
  return v.length > size && head.length <= size ? v.slice(0, size) : v;
}

/** One read as kvbench reports it: start and latency in ms since the readers began, linearizable
 *  (0|1), answered with the kept value (0|1). */
export type RawRead = [startMs: number, latencyMs: number, linearizable: number, ok: number];

/** kvbench defrag's JSON (defragResult in defrag.go). */
export interface DefragRaw {
  ops: number;
  errors: number;
  firstError?: string;
  aborted?: string;
  keys: number;
  kept: number;
  valSize: number;
  fillSeconds: number;
  churnSeconds: number;
  compactRev: number;
  dbSizeBefore: number;
  dbSizeInUseBefore: number;
  dbSizeAfter: number;
  dbSizeInUseAfter: number;
  defragStartMs: number;
  defragEndMs: number;
  defragError?: string;
  readsEndMs: number;
  readErrors: number;
  wrongValues: number;
  reads: RawRead[] | null;
  verify: { keys: number; expected: number; mismatches: number; firstMismatch?: string };
}

/** What one server's run measured (all times in ms). */
export interface DefragRecord {
  server: ServerKind;
  defragMs: number;
  reads: number;
  readErrors: number;
  wrongValues: number;
  /** Reads answered between the Defragment's start and its return. */
  completedDuringDefrag: number;
  /** Reads answered before the Defragment started. */
  before: LatencySummary;
  /** Reads in flight at any moment of the Defragment (started before it returned, answered after it began). */
  during: LatencySummary;
  duringSerializable: LatencySummary;
  duringLinearizable: LatencySummary;
  /** Reads started after the Defragment returned. */
  after: LatencySummary;
  /** Longest time between two consecutive read answers, over the pairs that span any part of the defrag: the stall. */
  stallMs: number;
  /** The same before the Defragment (both answers before it started): the steady state's gap. */
  gapBeforeMs: number;
  dbSizeBefore: number;
  dbSizeAfter: number;
  dbSizeInUseBefore: number;
  dbSizeInUseAfter: number;
  /** Keys found by the range after the defrag, keys expected, and how many differed. */
  verify: DefragRaw['verify'];
  defragError?: string;
  error?: string;
}

function summarize(reads: RawRead[]): LatencySummary {
  const h = new LatencyRecorder();
  for (const r of reads) h.recordMs(r[1]);
  const s = h.summary();
  h.destroy();
  return s;
}

/** Cuts kvbench's reads into the windows above. Pure: the test checks it on made-up reads. */
export function analyzeDefrag(server: ServerKind, raw: DefragRaw): DefragRecord {
  const reads = raw.reads ?? [];
  const d0 = raw.defragStartMs;
  const d1 = raw.defragEndMs;
  const end = (r: RawRead) => r[0] + r[1];
  const during = reads.filter((r) => r[0] < d1 && end(r) > d0);
  const ends = reads.map(end).sort((a, b) => a - b);
  let stall = 0;
  let gapBefore = 0;
  for (let i = 1; i < ends.length; i++) {
    const gap = ends[i] - ends[i - 1];
    if (ends[i] >= d0 && ends[i - 1] <= d1) stall = Math.max(stall, gap);
    else if (ends[i] < d0) gapBefore = Math.max(gapBefore, gap);
  }
  return {
    server,
    defragMs: d1 - d0,
    reads: reads.length,
    readErrors: raw.readErrors,
    wrongValues: raw.wrongValues,
    completedDuringDefrag: ends.filter((e) => e >= d0 && e <= d1).length,
    before: summarize(reads.filter((r) => end(r) < d0)),
    during: summarize(during),
    duringSerializable: summarize(during.filter((r) => r[2] === 0)),
    duringLinearizable: summarize(during.filter((r) => r[2] === 1)),
    after: summarize(reads.filter((r) => r[0] >= d1)),
    stallMs: stall,
    gapBeforeMs: gapBefore,
    dbSizeBefore: raw.dbSizeBefore,
    dbSizeAfter: raw.dbSizeAfter,
    dbSizeInUseBefore: raw.dbSizeInUseBefore,
    dbSizeInUseAfter: raw.dbSizeInUseAfter,
    verify: raw.verify,
    ...(raw.defragError !== undefined ? { defragError: raw.defragError } : {}),
  };
}

export interface DefragRun {
  record: DefragRecord;
  raw: DefragRaw | undefined;
  loadBefore: number[];
}

/** One server: a fresh member, the workload, then `inspect` (tests look at the member) and stop. */
export async function runDefragOne(
  server: ServerKind,
  o: DefragOptions,
  kvbench: string,
  inspect?: (cluster: Cluster) => Promise<void>,
): Promise<DefragRun> {
  const loadBefore = loadavg();
  const cluster = await startCluster({ server, size: 1, readyTimeoutMs: 60_000 });
  const failed = (error: string): DefragRecord => ({
    ...analyzeDefrag(server, emptyRaw()),
    error,
  });
  try {
    process.stdout.write(`== ${server}: ${o.keys} keys × ${o.valSize} B, keep every ${o.keepEvery}th, ${o.clients} readers\n`);
    const args = [
      'defrag',
      '--endpoints',
      cluster.endpoints[0],
      '--clients',
      String(o.clients),
      '--conns',
      String(o.conns),
      '--key-space-size',
      String(o.keys),
      '--key-size',
      '16',
      '--val-size',
      String(o.valSize),
      '--keep-every',
      String(o.keepEvery),
      '--before',
      `${o.beforeMs}ms`,
      '--after',
      `${o.afterMs}ms`,
    ];
    const out = await runGoDriver(kvbench, args, 30 * 60_000);
    const raw = out as unknown as DefragRaw;
    if (out.aborted !== undefined || raw.reads === undefined) {
      return { record: failed(out.aborted ?? out.firstError ?? 'no result'), raw: undefined, loadBefore };
    }
    const record = analyzeDefrag(server, raw);
    if (raw.errors > 0) record.error = raw.firstError ?? `${raw.errors} errors`;
    process.stdout.write(
      `   fill ${raw.fillSeconds.toFixed(1)} s, churn+compact ${raw.churnSeconds.toFixed(1)} s; db ${mb(raw.dbSizeBefore)} → ${mb(raw.dbSizeAfter)} MB; defrag ${record.defragMs.toFixed(0)} ms, stall ${record.stallMs.toFixed(0)} ms\n`,
    );
    if (inspect) await inspect(cluster);
    return { record, raw, loadBefore };
  } finally {
    await cluster.stop();
  }
}

function emptyRaw(): DefragRaw {
  return {
    ops: 0,
    errors: 0,
    keys: 0,
    kept: 0,
    valSize: 0,
    fillSeconds: 0,
    churnSeconds: 0,
    compactRev: 0,
    dbSizeBefore: Number.NaN,
    dbSizeInUseBefore: Number.NaN,
    dbSizeAfter: Number.NaN,
    dbSizeInUseAfter: Number.NaN,
    defragStartMs: Number.NaN,
    defragEndMs: Number.NaN,
    readsEndMs: 0,
    readErrors: 0,
    wrongValues: 0,
    reads: [],
    verify: { keys: 0, expected: 0, mismatches: 0 },
  };
}

const mb = (bytes: number) => (bytes / 1e6).toFixed(1);

/** Rows: label, value, whether more is better, format. */
const ROWS: [string, (r: DefragRecord) => number, boolean, (v: number) => string][] = [
  ['defrag ms', (r) => r.defragMs, false, (v) => v.toFixed(0)],
  ['reads answered during defrag', (r) => r.completedDuringDefrag, true, (v) => v.toFixed(0)],
  ['stall ms (longest gap in defrag)', (r) => r.stallMs, false, (v) => v.toFixed(1)],
  ['longest gap before ms', (r) => r.gapBeforeMs, false, (v) => v.toFixed(1)],
  ['read p50 before ms', (r) => r.before.p50, false, (v) => v.toFixed(2)],
  ['read p50 during ms', (r) => r.during.p50, false, (v) => v.toFixed(2)],
  ['read p99 before ms', (r) => r.before.p99, false, (v) => v.toFixed(2)],
  ['read p99 during ms', (r) => r.during.p99, false, (v) => v.toFixed(2)],
  ['read max before ms', (r) => r.before.max, false, (v) => v.toFixed(1)],
  ['read max during ms', (r) => r.during.max, false, (v) => v.toFixed(1)],
  ['  serializable max during ms', (r) => r.duringSerializable.max, false, (v) => v.toFixed(1)],
  ['  linearizable max during ms', (r) => r.duringLinearizable.max, false, (v) => v.toFixed(1)],
  ['db size before MB', (r) => r.dbSizeBefore, false, (v) => mb(v)],
  ['db size after MB', (r) => r.dbSizeAfter, false, (v) => mb(v)],
  ['db in use after MB', (r) => r.dbSizeInUseAfter, false, (v) => mb(v)],
];

/** The table: one row per measure, kvd and etcd columns and the ratio oriented so > 1 = kv better. */
export function formatDefragTable(records: DefragRecord[]): string {
  const kv = records.find((r) => r.server === 'kvd');
  const et = records.find((r) => r.server === 'etcd');
  const rows = [['measure', 'kvd', 'etcd', 'kv better ×']];
  for (const [label, get, more, fmt] of ROWS) {
    const a = kv ? get(kv) : undefined;
    const b = et ? get(et) : undefined;
    const ok = (v: number | undefined): v is number => v !== undefined && !Number.isNaN(v);
    const ratio = ok(a) && ok(b) && a !== 0 && b !== 0 ? (more ? a / b : b / a).toFixed(2) : '-';
    rows.push([label, ok(a) ? fmt(a) : '-', ok(b) ? fmt(b) : '-', ratio]);
  }
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const lines = rows.map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  '));
  for (const r of records) {
    const facts = `${r.server}: ${r.reads} reads, ${r.readErrors} failed or wrong; after the defrag ${r.verify.keys} of ${r.verify.expected} kept keys, ${r.verify.mismatches} mismatches`;
    lines.push(r.error === undefined ? facts : `${facts}; error: ${r.error}`);
  }
  return `${lines.join('\n')}\n`;
}

export async function runDefragBench(o: DefragOptions): Promise<DefragRun[]> {
  const goWhy = await goUnavailableReason();
  if (goWhy !== undefined) throw new Error(`bench:defrag needs the Go driver: ${goWhy}`);
  const kvbench = await buildGoDriver(() => {});
  const runs: DefragRun[] = [];
  for (const server of o.servers) {
    const why = unavailableReason(server);
    if (why !== undefined) {
      process.stdout.write(`== ${server}: skipped (${why})\n`);
      continue;
    }
    runs.push(await runDefragOne(server, o, kvbench));
  }
  const outDir = o.outDir ?? join(BENCH_DIR, 'out', `defrag-${new Date().toISOString().replace(/[:.]/g, '-')}`);
  mkdirSync(outDir, { recursive: true });
  const table = formatDefragTable(runs.map((r) => r.record));
  writeFileSync(join(outDir, 'table.txt'), table);
  writeFileSync(join(outDir, 'results.json'), JSON.stringify({ options: o, loadAfter: loadavg(), runs }, null, 2));
  process.stdout.write(`\n${table}\nbench:defrag: wrote ${outDir}\n`);
  return runs;
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  try {
    const cmd = parseDefragArgs(process.argv.slice(2));
    if (cmd.kind === 'help') process.stdout.write(DEFRAG_USAGE);
    else {
      const runs = await runDefragBench(cmd.options);
      process.exitCode = runs.some((r) => r.record.error !== undefined) ? 1 : 0;
    }
  } catch (e) {
    process.stderr.write(`bench:defrag: ${(e as Error).message}\n${e instanceof UsageError ? DEFRAG_USAGE : ''}`);
    process.exitCode = 2;
  }
}

// Text output: one run's result, and the kvd-vs-etcd comparison table.
import type { BenchResult } from './runner.js';

const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);

export function formatResult(r: BenchResult): string {
  const o = r.options;
  const l = r.latency;
  const lines = [
    `workload     ${r.label}`,
    `settings     endpoints=${o.endpoints.join(',')} clients=${o.clients} conns=${o.conns} key-size=${o.keySize} val-size=${o.valSize} key-space=${o.keySpace} ${o.durationMs !== undefined ? `duration=${o.durationMs}ms` : `total=${o.total}`}${o.rate > 0 ? ` rate=${o.rate}/s` : ''} warmup=${o.warmup}${o.workload === 'watch' ? ` watchers=${o.watchers}` : ''}`,
    `requests     ${r.requests} ok, ${r.errors} errors in ${f2(r.elapsedMs / 1000)} s`,
    `throughput   ${f1(r.throughput)} ${r.unit}`,
    `latency ms   p50 ${f2(l.p50)}  p90 ${f2(l.p90)}  p99 ${f2(l.p99)}  p99.9 ${f2(l.p999)}  max ${f2(l.max)}  mean ${f2(l.mean)}  (${l.count} samples)`,
  ];
  if (r.watch) {
    const p = r.watch.putLatency;
    lines.push(
      `events       ${r.watch.events} of ${r.watch.expectedEvents} delivered`,
      `puts         ${f1(r.watch.putsPerSec)} req/s; put latency ms p50 ${f2(p.p50)}  p99 ${f2(p.p99)}  max ${f2(p.max)}`,
    );
  }
  if (r.firstError !== undefined) lines.push(`first error  ${r.firstError}`);
  if (r.aborted !== undefined) lines.push(`INCOMPLETE   ${r.aborted}`);
  return lines.join('\n') + '\n';
}

/** One server's figures for one workload: medians over its repeated runs. */
export interface Figures {
  throughput: number;
  p99: number;
  /** Some run had errors or was cut short. */
  incomplete: boolean;
}

export interface ComparisonRow {
  label: string;
  unit: BenchResult['unit'];
  /** Runs per server behind the medians. */
  runs: number;
  kv: Figures;
  etcd: Figures;
}

/** The median (mean of the middle two for an even count). */
export function median(xs: number[]): number {
  if (xs.length === 0) return 0;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Median throughput and median p99 of a server's runs of one workload. */
export function figures(runs: BenchResult[]): Figures {
  return {
    throughput: median(runs.map((r) => r.throughput)),
    p99: median(runs.map((r) => r.latency.p99)),
    incomplete: runs.some((r) => r.aborted !== undefined || r.errors > 0),
  };
}

/** kv ÷ etcd; undefined when etcd's figure is 0 (nothing to compare against). */
export function ratio(kv: number, etcd: number): number | undefined {
  return etcd > 0 ? kv / etcd : undefined;
}

/**
 * The comparison table: throughput and p99 of each server and the kv/etcd ratio of each.
 * Throughput ratio > 1 means kv is faster; p99 ratio > 1 means kv's tail is slower.
 */
export function formatComparison(rows: ComparisonRow[]): string {
  const header = ['workload', 'kv thr', 'etcd thr', 'kv/etcd', 'kv p99 ms', 'etcd p99 ms', 'kv/etcd'];
  const flag = (x: Figures) => (x.incomplete ? '*' : '');
  const body = rows.map((r) => {
    const tr = ratio(r.kv.throughput, r.etcd.throughput);
    const lr = ratio(r.kv.p99, r.etcd.p99);
    return [
      `${r.label} (${r.unit})`,
      f1(r.kv.throughput) + flag(r.kv),
      f1(r.etcd.throughput) + flag(r.etcd),
      tr === undefined ? 'n/a' : f2(tr),
      f2(r.kv.p99),
      f2(r.etcd.p99),
      lr === undefined ? 'n/a' : f2(lr),
    ];
  });
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const fmt = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  const out = [fmt(header), widths.map((w) => '-'.repeat(w)).join('  '), ...body.map(fmt)];
  if (rows.some((r) => r.runs > 1)) out.push(`figures are medians of ${rows[0]!.runs} runs per server`);
  if (rows.some((r) => r.kv.incomplete || r.etcd.incomplete)) out.push('* a run had errors or was incomplete; see its details above');
  return out.join('\n') + '\n';
}

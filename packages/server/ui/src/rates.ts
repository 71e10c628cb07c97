// What the charts plot, from two scrapes of /metrics a poll apart: a counter's rate per second
// and a histogram's mean and p99 over the interval (from the deltas of its cumulative buckets, as
// Prometheus' rate() and histogram_quantile() compute them). Pure.
import { type Scrape, total } from './prom.js';

export interface Point {
  /** Seconds since the epoch. */
  t: number;
  scrape: Scrape;
}

/** A counter's increase per second between two scrapes; null across a reset (restart) or without both samples. */
export function ratePerSecond(prev: Point, cur: Point, name: string): number | null {
  const a = total(prev.scrape, name);
  const b = total(cur.scrape, name);
  const dt = cur.t - prev.t;
  if (a === undefined || b === undefined || dt <= 0 || b < a) return null;
  return (b - a) / dt;
}

export interface Histogram {
  /** Cumulative counts by upper bound, ascending, +Inf last. */
  buckets: [number, number][];
  sum: number;
  count: number;
}

/** A histogram's buckets summed over label sets, or undefined when the scrape has none. */
export function histogramOf(s: Scrape, name: string): Histogram | undefined {
  const bucketSamples = s.get(`${name}_bucket`);
  const sum = total(s, `${name}_sum`);
  const count = total(s, `${name}_count`);
  if (!bucketSamples || sum === undefined || count === undefined) return undefined;
  const byLe = new Map<number, number>();
  for (const b of bucketSamples) {
    const le = b.labels.le === '+Inf' ? Number.POSITIVE_INFINITY : Number(b.labels.le);
    byLe.set(le, (byLe.get(le) ?? 0) + b.value);
  }
  return { buckets: [...byLe.entries()].sort((x, y) => x[0] - y[0]), sum, count };
}

/**
 * The q-quantile of cumulative buckets, interpolated linearly inside the bucket it falls in, as
 * histogram_quantile: the lower bound of the first bucket is 0; a quantile in the +Inf bucket is
 * the highest finite bound. NaN without observations.
 */
export function quantile(q: number, buckets: [number, number][]): number {
  const n = buckets.length === 0 ? 0 : buckets[buckets.length - 1]![1];
  if (n <= 0) return Number.NaN;
  const rank = q * n;
  let lowerBound = 0;
  let lowerCount = 0;
  for (const [le, c] of buckets) {
    if (c >= rank) {
      if (le === Number.POSITIVE_INFINITY) return lowerBound;
      if (c === lowerCount) return le;
      return lowerBound + ((le - lowerBound) * (rank - lowerCount)) / (c - lowerCount);
    }
    lowerBound = le;
    lowerCount = c;
  }
  return lowerBound;
}

export interface IntervalStats {
  /** Observations in the interval. */
  count: number;
  /** Their mean (NaN when none). */
  mean: number;
  /** Their p99 (NaN when none). */
  p99: number;
}

/** A histogram's observations between two scrapes; null across a reset or without both. */
export function histogramInterval(prev: Point, cur: Point, name: string): IntervalStats | null {
  const a = histogramOf(prev.scrape, name);
  const b = histogramOf(cur.scrape, name);
  if (!a || !b || b.count < a.count) return null;
  const before = new Map(a.buckets);
  const delta: [number, number][] = b.buckets.map(([le, c]) => [le, c - (before.get(le) ?? 0)]);
  if (delta.some(([, c]) => c < 0)) return null;
  const count = b.count - a.count;
  return {
    count,
    mean: count > 0 ? (b.sum - a.sum) / count : Number.NaN,
    p99: quantile(0.99, delta),
  };
}

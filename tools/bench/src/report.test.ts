import { describe, expect, it } from 'vitest';
import { makeKey, makeValue, prng, readStamp, stampValue } from './keys.js';
import { LatencyRecorder } from './latency.js';
import { DEFAULTS } from './options.js';
import { figures, formatComparison, formatResult, median, ratio } from './report.js';
import type { BenchResult } from './runner.js';

describe('keys', () => {
  it('are fixed-size, distinct, and drawn the same way for the same seed', () => {
    expect(makeKey('k', 42, 8).toString()).toBe('k0000042');
    expect(() => makeKey('k', 1000, 3)).toThrow(RangeError);
    const a = prng(3);
    const b = prng(3);
    const xs = Array.from({ length: 5 }, () => a());
    expect(Array.from({ length: 5 }, () => b())).toEqual(xs);
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(makeValue(30)).toHaveLength(30);
    expect(readStamp(stampValue(makeValue(4), 123n))).toBe(123n);
  });
});

describe('LatencyRecorder', () => {
  it('summarises in milliseconds', () => {
    const r = new LatencyRecorder();
    for (let i = 1; i <= 1000; i++) r.recordMs(i / 10); // 0.1 .. 100 ms
    const s = r.summary();
    expect(s.count).toBe(1000);
    expect(s.p50).toBeCloseTo(50, 0);
    expect(s.p99).toBeCloseTo(99, 0);
    expect(s.max).toBeCloseTo(100, 0);
    expect(new LatencyRecorder().summary().count).toBe(0);
  });
});

const result = (throughput: number, p99: number, extra: Partial<BenchResult> = {}): BenchResult => ({
  label: 'put',
  options: { ...DEFAULTS, workload: 'put', endpoints: ['e:1'] },
  requests: 100,
  errors: 0,
  elapsedMs: 1000,
  throughput,
  unit: 'req/s',
  latency: { count: 100, mean: 1, p50: 1, p90: 1, p99, p999: p99, max: p99 },
  ...extra,
});

describe('comparison', () => {
  it('divides kv by etcd for throughput and p99', () => {
    expect(ratio(50, 100)).toBe(0.5);
    expect(ratio(1, 0)).toBeUndefined();
    const table = formatComparison([
      { label: 'put', unit: 'req/s', runs: 1, kv: figures([result(500, 30)]), etcd: figures([result(1000, 10)]) },
    ]);
    const row = table.split('\n')[2]!;
    expect(row.split(/\s{2,}/)).toEqual(['put (req/s)', '500.0', '1000.0', '0.50', '30.00', '10.00', '3.00']);
  });

  it('uses the medians of repeated runs', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(figures([result(100, 9), result(300, 1), result(200, 5)])).toEqual({ throughput: 200, p99: 5, incomplete: false });
    const table = formatComparison([{ label: 'put', unit: 'req/s', runs: 3, kv: figures([result(1, 1)]), etcd: figures([result(1, 1)]) }]);
    expect(table).toContain('medians of 3 runs');
  });

  it('marks runs with errors', () => {
    const table = formatComparison([
      { label: 'put', unit: 'req/s', runs: 1, kv: figures([result(1, 1, { errors: 2 })]), etcd: figures([result(1, 1)]) },
    ]);
    expect(table).toContain('1.0*');
    expect(table).toContain('errors or was incomplete');
    expect(formatResult(result(1, 1, { aborted: 'x' }))).toContain('INCOMPLETE   x');
  });
});

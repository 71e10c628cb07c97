import { describe, expect, it } from 'vitest';
import { parsePrometheus } from './prom.js';
import { histogramInterval, histogramOf, quantile, ratePerSecond, type Point } from './rates.js';

const at = (t: number, text: string): Point => ({ t, scrape: parsePrometheus(text) });

/** An etcd_disk_wal_fsync_duration_seconds scrape with cumulative counts for le=0.001,0.002,0.004,+Inf. */
function fsync(t: number, counts: [number, number, number, number], sum: number): Point {
  const les = ['0.001', '0.002', '0.004', '+Inf'];
  return at(
    t,
    [
      ...les.map((le, i) => `etcd_disk_wal_fsync_duration_seconds_bucket{le="${le}"} ${counts[i]}`),
      `etcd_disk_wal_fsync_duration_seconds_sum ${sum}`,
      `etcd_disk_wal_fsync_duration_seconds_count ${counts[3]}`,
    ].join('\n'),
  );
}

describe('counter rates', () => {
  it('is the increase per second; null across a reset or a missing sample', () => {
    const a = at(100, 'etcd_server_proposals_committed_total 1000');
    const b = at(102, 'etcd_server_proposals_committed_total 1500');
    expect(ratePerSecond(a, b, 'etcd_server_proposals_committed_total')).toBe(250);
    expect(ratePerSecond(b, at(103, 'etcd_server_proposals_committed_total 3'), 'etcd_server_proposals_committed_total')).toBeNull();
    expect(ratePerSecond(a, at(101, ''), 'etcd_server_proposals_committed_total')).toBeNull();
    expect(ratePerSecond(a, a, 'etcd_server_proposals_committed_total')).toBeNull();
  });
});

describe('histogram intervals', () => {
  it('sums buckets over label sets, sorted by bound', () => {
    const s = parsePrometheus(
      'h_bucket{le="+Inf",m="a"} 3\nh_bucket{le="1",m="a"} 1\nh_bucket{le="1",m="b"} 2\nh_bucket{le="+Inf",m="b"} 2\nh_sum 4\nh_count 5',
    );
    expect(histogramOf(s, 'h')).toEqual({
      buckets: [
        [1, 3],
        [Number.POSITIVE_INFINITY, 5],
      ],
      sum: 4,
      count: 5,
    });
  });
  it('interpolates quantiles as histogram_quantile does', () => {
    const b: [number, number][] = [
      [0.001, 50],
      [0.002, 90],
      [0.004, 100],
      [Number.POSITIVE_INFINITY, 100],
    ];
    expect(quantile(0.5, b)).toBe(0.001);
    // rank 99 falls in (0.002, 0.004] holding 10: 0.002 + 0.002 * 9/10
    expect(quantile(0.99, b)).toBeCloseTo(0.0038, 12);
    expect(quantile(0.25, b)).toBeCloseTo(0.0005, 12);
    // in the +Inf bucket: the highest finite bound
    expect(
      quantile(0.99, [
        [0.001, 1],
        [Number.POSITIVE_INFINITY, 10],
      ]),
    ).toBe(0.001);
    expect(Number.isNaN(quantile(0.99, [[Number.POSITIVE_INFINITY, 0]]))).toBe(true);
  });
  it('takes mean and p99 from the deltas between two scrapes, not the totals', () => {
    const a = fsync(10, [1000, 1000, 1000, 1000], 0.5);
    // 100 new fsyncs: 50 ≤ 1 ms, 40 in (1, 2] ms, 10 in (2, 4] ms, summing to 0.15 s.
    const b = fsync(11, [1050, 1090, 1100, 1100], 0.65);
    const st = histogramInterval(a, b, 'etcd_disk_wal_fsync_duration_seconds')!;
    expect(st.count).toBe(100);
    expect(st.mean).toBeCloseTo(0.0015, 12);
    expect(st.p99).toBeCloseTo(0.0038, 12);
    const idle = histogramInterval(b, fsync(12, [1050, 1090, 1100, 1100], 0.65), 'etcd_disk_wal_fsync_duration_seconds')!;
    expect(idle.count).toBe(0);
    expect(Number.isNaN(idle.mean) && Number.isNaN(idle.p99)).toBe(true);
    expect(histogramInterval(b, fsync(13, [1, 1, 1, 1], 0.001), 'etcd_disk_wal_fsync_duration_seconds')).toBeNull();
    expect(histogramInterval(b, at(13, ''), 'etcd_disk_wal_fsync_duration_seconds')).toBeNull();
  });
});

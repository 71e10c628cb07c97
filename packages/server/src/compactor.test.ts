// Auto compaction on a manual clock, with etcd 3.4's v3compactor expectations: the revision getter
// answers 1, 2, 3, ... (one more on every call, as etcd's fake), so a compacted revision says which
// sample was taken when. Periodic: first compaction once the retention has passed, to the first
// sample; then every min(retention, 1h) to the sample of about one retention ago; followers only
// sample; a failure is retried at the next sample. Revision: current − retention every 5 minutes.
import { describe, expect, it } from 'vitest';
import { Compactor } from './compactor.js';
import { silentLogger } from './logger.js';
import { ManualClock } from './testutil/manual_clock.js';

const minute = 60_000;
const hour = 60 * minute;

/** counting: false — rev() answers what the test set (`start` until then) instead of counting. */
function setup(mode: 'periodic' | 'revision', retention: number, o: { counting?: boolean; start?: bigint } = {}) {
  const clock = new ManualClock();
  let rev = o.start ?? 0n;
  let compacted = 0n;
  let active = true;
  let failNext = false;
  const calls: bigint[] = [];
  const c = new Compactor({
    mode,
    retention,
    now: clock.now(),
    rev: () => (o.counting === false ? rev : ++rev),
    compactRev: () => compacted,
    compact: async (r) => {
      calls.push(r);
      if (failNext) {
        failNext = false;
        throw new Error('etcdserver: request timed out');
      }
      compacted = r;
    },
    active: () => active,
    logger: silentLogger(),
  });
  const timer = clock.setInterval(() => void c.tick(clock.now()), c.intervalMs);
  return {
    c,
    calls,
    /** Advances `n` sampling intervals. */
    intervals: async (n: number) => {
      for (let i = 0; i < n; i++) await clock.advance(c.intervalMs);
    },
    advance: (ms: number) => clock.advance(ms),
    set rev(v: bigint) {
      rev = v;
    },
    set active(v: boolean) {
      active = v;
    },
    failNext: () => {
      failNext = true;
    },
    stop: () => timer.clear(),
  };
}

describe('Compactor, periodic (etcd 3.4 v3compactor semantics)', () => {
  it('2h: samples every 6 min, first compaction after 2 h to the first sample, then hourly', async () => {
    const s = setup('periodic', 2 * hour);
    expect(s.c.intervalMs).toBe(6 * minute);
    await s.intervals(19);
    expect(s.calls).toEqual([]); // 1 h 54 min: not yet
    await s.intervals(1);
    expect(s.calls).toEqual([1n]); // at 2 h
    for (const want of [10n, 20n, 30n]) {
      await s.intervals(9);
      expect(s.calls.at(-1)).not.toBe(want);
      await s.intervals(1);
      expect(s.calls.at(-1)).toBe(want); // every hour, the revision of two hours before
    }
    expect(s.calls).toEqual([1n, 10n, 20n, 30n]);
    s.stop();
  });

  it('5m: samples every 30 s, compacts every 5 min', async () => {
    const s = setup('periodic', 5 * minute);
    expect(s.c.intervalMs).toBe(30_000);
    await s.intervals(10);
    expect(s.calls).toEqual([1n]);
    await s.intervals(50);
    expect(s.calls).toEqual([1n, 10n, 20n, 30n, 40n, 50n]);
    s.stop();
  });

  it('24h: samples every 6 min (not 2.4 h), compacts hourly after the first day', async () => {
    const s = setup('periodic', 24 * hour);
    expect(s.c.intervalMs).toBe(6 * minute);
    await s.advance(24 * hour - 6 * minute);
    expect(s.calls).toEqual([]);
    await s.advance(6 * minute);
    expect(s.calls).toEqual([1n]);
    await s.advance(hour);
    // 250 samples taken by 25 h, 241 kept: the oldest is the 10th, taken at 54 min — a day ago.
    expect(s.calls).toEqual([1n, 10n]);
    s.stop();
  });

  it('a follower only samples; elected after 3 h it compacts at its next sample, to the revision of one retention ago', async () => {
    const s = setup('periodic', hour);
    s.active = false;
    await s.intervals(33); // 3 h 18 min of samples, no compaction
    expect(s.calls).toEqual([]);
    s.active = true;
    await s.intervals(1);
    expect(s.calls).toEqual([24n]); // etcd's TestPeriodicPause: 1 + 2·11 + 1
    s.stop();
  });

  it('a failed compaction is retried at the next sample, not an interval later', async () => {
    const s = setup('periodic', hour, { counting: false, start: 7n });
    s.failNext();
    await s.intervals(10);
    expect(s.calls).toEqual([7n]);
    s.rev = 9n;
    await s.intervals(1);
    expect(s.calls).toEqual([7n, 7n]); // the oldest sample is still the one of revision 7
    s.stop();
  });

  it('a revision already compacted counts as done: nothing is proposed', async () => {
    const s = setup('periodic', 10 * minute, { counting: false, start: 5n });
    await s.intervals(10);
    expect(s.calls).toEqual([5n]);
    await s.intervals(10); // still revision 5 everywhere: compacted already
    expect(s.calls).toEqual([5n]);
    s.stop();
  });
});

describe('Compactor, revision', () => {
  it('keeps the last `retention` revisions, checked every five minutes, on the leader only', async () => {
    const s = setup('revision', 100, { counting: false });
    expect(s.c.intervalMs).toBe(5 * minute);
    s.rev = 50n;
    await s.advance(5 * minute);
    expect(s.calls).toEqual([]); // fewer revisions than the retention
    s.rev = 1000n;
    await s.advance(4 * minute);
    expect(s.calls).toEqual([]); // not yet time
    await s.advance(minute);
    expect(s.calls).toEqual([900n]);
    await s.advance(5 * minute);
    expect(s.calls).toEqual([900n]); // nothing new to compact
    s.active = false;
    s.rev = 2000n;
    await s.advance(5 * minute);
    expect(s.calls).toEqual([900n]); // a follower does not compact
    s.active = true;
    await s.advance(5 * minute);
    expect(s.calls).toEqual([900n, 1900n]);
    s.stop();
  });
});

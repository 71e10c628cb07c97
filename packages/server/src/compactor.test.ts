// Auto compaction on a manual clock: 'periodic' compacts to the revision it sampled `retention`
// ago, every retention/10; 'revision' keeps the last `retention` revisions, checking every 5 min.
import { describe, expect, it } from 'vitest';
import { Compactor } from './compactor.js';
import { silentLogger } from './logger.js';
import { ManualClock } from './testutil/manual_clock.js';

function setup(mode: 'periodic' | 'revision', retention: number) {
  const clock = new ManualClock();
  let rev = 1n;
  let compacted = 0n;
  const calls: bigint[] = [];
  const c = new Compactor({
    mode,
    retention,
    rev: () => rev,
    compactRev: () => compacted,
    compact: async (r) => {
      calls.push(r);
      compacted = r;
    },
    logger: silentLogger(),
  });
  const timer = clock.setInterval(() => void c.tick(clock.now()), c.intervalMs);
  return {
    c,
    clock,
    calls,
    set rev(v: bigint) {
      rev = v;
    },
    stop: () => timer.clear(),
  };
}

describe('Compactor', () => {
  it('periodic: compacts to the revision of one retention ago, every tenth of it', async () => {
    const s = setup('periodic', 60_000); // one hour in etcd terms, a minute here
    expect(s.c.intervalMs).toBe(6_000);
    // The revision grows by 10 every 6 s: the sample at t has revision 1 + 10·t/6s.
    for (let t = 0; t < 10; t++) {
      s.rev = 1n + 10n * BigInt(t);
      await s.clock.advance(6_000);
    }
    expect(s.calls).toEqual([]); // samples at 6..60 s: none is a minute old before 66 s
    s.rev = 101n;
    await s.clock.advance(6_000); // at 66 s the sample taken at 6 s (revision 1) is a minute old: compacts to it
    expect(s.calls).toEqual([1n]);
    s.rev = 111n;
    await s.clock.advance(6_000); // at 72 s: the sample of 12 s
    expect(s.calls).toEqual([1n, 11n]);
    s.stop();
  });

  it('revision: keeps the last `retention` revisions, checked every five minutes', async () => {
    const s = setup('revision', 100);
    expect(s.c.intervalMs).toBe(5 * 60_000);
    s.rev = 50n;
    await s.clock.advance(5 * 60_000);
    expect(s.calls).toEqual([]); // fewer revisions than the retention
    s.rev = 1000n;
    await s.clock.advance(4 * 60_000);
    expect(s.calls).toEqual([]); // not yet time
    await s.clock.advance(60_000);
    expect(s.calls).toEqual([900n]);
    await s.clock.advance(5 * 60_000);
    expect(s.calls).toEqual([900n]); // nothing new to compact
    s.stop();
  });
});

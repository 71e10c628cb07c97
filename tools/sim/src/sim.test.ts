// The whole-cluster simulation in CI: a bounded number of seeds per cluster size, the
// determinism check, and the proof that it finds a bug that was fixed (put back with --bug).
//
// Knobs: SIM_SEEDS (seeds per cluster size, default below), SIM_FIRST_SEED (default 1).
import { describe, expect, it } from 'vitest';
import { runSeed, type SeedOptions, type SeedResult } from './run.js';

/** Short runs: CI needs many seeds more than long ones (`pnpm sim` runs long ones). */
const ciRun = { ops: 12, virtualMs: 4000 };
const seeds = Number(process.env.SIM_SEEDS ?? 60);
const first = Number(process.env.SIM_FIRST_SEED ?? 1);

function describeFailure(r: SeedResult): string {
  return [`seed ${r.seed} failed; replay: ${r.replay}`, ...r.failures.slice(0, 10).map((f) => `  - ${f}`)].join('\n');
}

describe('whole-cluster simulation', () => {
  it('replays a seed exactly (same trace hash), and another seed differs', async () => {
    const o: SeedOptions = { seed: 4242, members: 3, ...ciRun };
    const a = await runSeed(o);
    const b = await runSeed(o);
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.stats).toMatchObject({ events: a.stats.events, ops: a.stats.ops, okOps: a.stats.okOps });
    const c = await runSeed({ ...o, seed: 4243 });
    expect(c.traceHash).not.toBe(a.traceHash);
  }, 120_000);

  for (const members of [3, 5]) {
    it(`${seeds} seeds of ${members} members pass every check`, async () => {
      const failed: string[] = [];
      let ops = 0;
      let okOps = 0;
      for (let s = first; s < first + seeds; s++) {
        const r = await runSeed({ seed: s, members, ...ciRun });
        ops += r.stats.ops;
        okOps += r.stats.okOps;
        if (!r.ok) failed.push(describeFailure(r));
      }
      if (failed.length) console.log(failed.join('\n'));
      expect(failed).toEqual([]);
      // The runs did something: most operations completed.
      expect(okOps).toBeGreaterThan(ops / 3);
    }, 600_000);
  }
});

// CI's seeds of 3-member clusters: every check passes on every seed.
// SIM_SEEDS (seeds per cluster size, default 1500) and SIM_FIRST_SEED (default 1) change the range.
import { describe, expect, it } from 'vitest';
import { ciRun, describeFailure, runRange } from './seeds.js';

const seeds = Number(process.env.SIM_SEEDS ?? 1500);
const first = Number(process.env.SIM_FIRST_SEED ?? 1);

describe('whole-cluster simulation, 3 members', () => {
  it(`${seeds} seeds pass every check`, async () => {
    const r = await runRange(first, seeds, { members: 3, ...ciRun });
    const failures = r.failed.map(describeFailure).join('\n');
    if (failures) console.log(failures);
    expect(failures).toBe('');
    // The runs did something: most operations completed.
    expect(r.okOps).toBeGreaterThan(r.ops / 2);
  }, 1_200_000);
});

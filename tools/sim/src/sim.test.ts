// The simulation replays a seed exactly, and finds a fixed bug when it is put back.
import { describe, expect, it } from 'vitest';
import { runSeed, type SeedOptions } from './run.js';
import { ciRun, describeFailure } from './seeds.js';

describe('whole-cluster simulation', () => {
  it('replays a seed exactly (same trace hash), and another seed differs', async () => {
    const o: SeedOptions = { seed: 4242, members: 3, ...ciRun };
    const a = await runSeed(o);
    const b = await runSeed(o);
    expect(a.ok, describeFailure(a)).toBe(true);
    expect(b.traceHash).toBe(a.traceHash);
    expect(b.stats).toMatchObject({ events: a.stats.events, ops: a.stats.ops, okOps: a.stats.okOps });
    const c = await runSeed({ ...o, seed: 4243 });
    expect(c.traceHash).not.toBe(a.traceHash);
  }, 120_000);
});

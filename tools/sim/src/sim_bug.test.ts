// --bug read-index-collision puts back the ReadIndex contexts of before commit b28ae1f (a
// per-member counter from 1 at every start, no member id, no nonce) through the member's test
// hook. The first test shows the hook is what the members use; the second that every seed finds
// it: right after start every member's first rounds carry the same contexts, the leader ignores
// the copies it already holds, and those reads wait for a retry — the start-up read probe's stall
// (the read stall etcd's Go client found by spreading reads over all members). The search for the
// stale read it also allows is opt-in (SIM_BUG_SEEDS=<n>, SIM_BUG_FIRST=<seed>): so far it has not
// been found (see docs/testing.md, "Bugs it found").
import { describe, expect, it } from 'vitest';
import { PerStartCounter } from './bugs.js';
import { runSeed } from './run.js';
import { describeFailure, runRange } from './seeds.js';

describe('--bug read-index-collision', () => {
  it('the members take their ReadIndex contexts from the old per-start counter', async () => {
    const c = new PerStartCounter();
    expect([c.next(), c.next()].map((b) => b.toString('hex'))).toEqual(['0000000000000001', '0000000000000002']);
    expect(new PerStartCounter().next().toString('hex')).toBe('0000000000000001'); // every start from 1
    const before = PerStartCounter.issued;
    const r = await runSeed({ seed: 7, members: 3, ops: 12, virtualMs: 4000, bug: 'read-index-collision' });
    expect(r.stats.okOps).toBeGreaterThan(0);
    expect(PerStartCounter.issued).toBeGreaterThan(before + 3); // the members' reads used it
  }, 120_000);

  it('is found by every seed (a read stall at start), and the same seeds pass without it', async () => {
    for (const seed of [1, 2, 3, 4, 5]) {
      const o = { seed, members: 3, ops: 12, virtualMs: 4000 };
      const bad = await runSeed({ ...o, bug: 'read-index-collision' });
      expect(bad.ok).toBe(false);
      expect(
        bad.failures.some((f) => f.startsWith('read stall:')),
        describeFailure(bad),
      ).toBe(true);
      const good = await runSeed(o);
      expect(good.ok, describeFailure(good)).toBe(true);
    }
  }, 300_000);

  const seeds = Number(process.env.SIM_BUG_SEEDS ?? 0);
  it.runIf(seeds > 0)(
    'finds a stale read within SIM_BUG_SEEDS seeds (slow links, quick restarts)',
    async () => {
      const first = Number(process.env.SIM_BUG_FIRST ?? 1);
      // Past the start-up probe (which every seed fails with these contexts), to the stale read.
      const o = { members: 3, ops: 40, virtualMs: 15_000, noReadProbe: true, faults: ['slow', 'kill', 'crash-loop'] as const };
      const r = await runRange(first, seeds, { ...o, bug: 'read-index-collision' }, true);
      expect(r.failed.length, `no failure in seeds ${first}..${first + seeds - 1}`).toBe(1);
      const f = r.failed[0];
      console.log(`found: ${f.replay}\n${describeFailure(f)}`);
      expect(f.failures.some((x) => x.startsWith('register/nonlinearizable'))).toBe(true);
      const fixed = await runSeed({ ...o, seed: f.seed });
      expect(fixed.ok, describeFailure(fixed)).toBe(true);
    },
    3_600_000,
  );
});

// Runs the whole-cluster simulation (src/rafttest/simulation.ts) over many seeds as vitest tests.
// Environment (read here, in test support only):
//   RAFT_SIM_SEEDS=n       seeds per cluster size (default 2000)
//   RAFT_SIM_FIRST_SEED=k  first seed (default 1), to explore other seeds than CI's
//   RAFT_SIM_SEED=s        run only seed s (a failure prints the seed and this command)
//   RAFT_SIM_TRACE=1|msgs  with RAFT_SIM_SEED: print the event trace (msgs: every message too)

import { afterAll, describe, expect, it } from 'vitest';
import { runSimulation, SimulationFailure, type SimulationStats } from '../rafttest/simulation.js';

function envInt(name: string, dflt: number): number {
  const v = process.env[name];
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, got ${v}`);
  return n;
}

const BATCH = 100;

/** Registers the simulation tests for clusters of `nodes` initial voters. */
export function simulationSuite(nodes: number): void {
  const single = process.env.RAFT_SIM_SEED;
  if (single !== undefined && single !== '') {
    const seed = envInt('RAFT_SIM_SEED', 0);
    const trace = process.env.RAFT_SIM_TRACE;
    it(`seed ${seed} (${nodes} nodes)`, () => {
      const lines: string[] = [];
      try {
        runSimulation({
          seed,
          nodes,
          trace: trace ? (l) => lines.push(l) : undefined,
          traceMessages: trace === 'msgs',
        });
      } finally {
        if (trace) console.log(lines.join('\n'));
      }
    });
    return;
  }

  const first = envInt('RAFT_SIM_FIRST_SEED', 1);
  const count = envInt('RAFT_SIM_SEEDS', 2000);
  const totals: Partial<Record<keyof SimulationStats, number>> = {};
  let ran = 0;

  describe(`whole-cluster simulation, ${nodes} nodes, seeds ${first}..${first + count - 1}`, () => {
    for (let lo = first; lo < first + count; lo += BATCH) {
      const hi = Math.min(lo + BATCH, first + count) - 1;
      it(`seeds ${lo}..${hi}`, async () => {
        const failures: SimulationFailure[] = [];
        for (let seed = lo; seed <= hi; seed++) {
          // Each seed runs synchronously: let the event loop turn between seeds, or on a loaded
          // machine vitest's worker misses its RPC deadline ('Timeout calling "onTaskUpdate"').
          await new Promise((r) => setImmediate(r));
          try {
            const r = runSimulation({ seed, nodes });
            for (const [k, v] of Object.entries(r.stats) as [keyof SimulationStats, number][]) totals[k] = (totals[k] ?? 0) + v;
            ran++;
          } catch (err) {
            if (!(err instanceof SimulationFailure)) throw err;
            failures.push(err);
          }
        }
        if (failures.length > 0) {
          const seeds = failures.map((f) => f.seed).join(', ');
          throw new Error(`${failures.length} failing seed(s): ${seeds}\n${failures[0].message}`, { cause: failures[0] });
        }
      }, 120_000);
    }

    afterAll(() => {
      // The faults and features the simulation claims to exercise did happen (when enough seeds
      // ran for each to be near certain).
      if (ran < 200) return;
      const mustHappen: (keyof SimulationStats)[] = [
        'crashes',
        'tornWrites',
        'lostLazyHardStates',
        'restarts',
        'partitions',
        'dropped',
        'duplicated',
        'delayed',
        'compactions',
        'snapshotsSent',
        'snapshotsInstalled',
        'confChangesApplied',
        'jointEntered',
        'jointLeft',
        'learnersAdded',
        'votersAdded',
        'learnersPromoted',
        'votersDemoted',
        'votersRemoved',
        'leaderRemoved',
        'transfersRequested',
        'transferElections',
        'readsAnswered',
        'readRetries',
      ];
      for (const k of mustHappen) expect(totals[k] ?? 0, k).toBeGreaterThan(ran / 20);
      // Both application loops ran (synchronous and asynchronous Ready handling).
      expect(totals.asyncReady ?? 0).toBeGreaterThan(ran / 4);
      expect(totals.asyncReady ?? 0).toBeLessThan((ran * 3) / 4);
      expect(totals.leaderTerms ?? 0).toBeGreaterThan(ran);
      expect(totals.proposalsApplied ?? 0).toBeGreaterThan(ran * 10);
    });
  });
}

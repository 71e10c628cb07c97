// Runs a range of seeds for a test: every failure described with the line that replays it.
import { runSeed, type SeedOptions, type SeedResult } from './run.js';

/** Short runs: CI wants many seeds more than long ones (`pnpm sim` runs long ones). */
export const ciRun = { ops: 12, virtualMs: 4000 } as const;

export function describeFailure(r: SeedResult): string {
  return [`seed ${r.seed} failed; replay: ${r.replay}`, ...r.failures.slice(0, 10).map((f) => `  - ${f}`)].join('\n');
}

export interface RangeResult {
  failed: SeedResult[];
  ops: number;
  okOps: number;
  seeds: number;
}

/** Runs seeds first..first+count-1 with `o`; stops at the first failure when `stopAtFailure`. */
export async function runRange(first: number, count: number, o: Omit<SeedOptions, 'seed'>, stopAtFailure = false): Promise<RangeResult> {
  const out: RangeResult = { failed: [], ops: 0, okOps: 0, seeds: 0 };
  for (let s = first; s < first + count; s++) {
    const r = await runSeed({ ...o, seed: s });
    out.seeds++;
    out.ops += r.stats.ops;
    out.okOps += r.stats.okOps;
    if (!r.ok) {
      out.failed.push(r);
      if (stopAtFailure) break;
    }
  }
  return out;
}

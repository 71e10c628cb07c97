// The simulation's single source of scheduling randomness: every fault, delay and choice of the
// whole-cluster simulation is drawn from one seeded generator, so a seed replays exactly.

import { seededRandom, type RandomSource } from '../rand.js';

export class SimRng {
  private readonly r: RandomSource;

  constructor(seed: number) {
    this.r = seededRandom(seed);
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return this.r(n);
  }

  /** True with probability p (0 <= p <= 1). */
  chance(p: number): boolean {
    return p > 0 && this.r(1_000_000) < p * 1_000_000;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('pick from an empty list');
    return xs[this.r(xs.length)];
  }

  /** Shuffles in place (Fisher-Yates) and returns xs. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.r(i + 1);
      const t = xs[i];
      xs[i] = xs[j];
      xs[j] = t;
    }
    return xs;
  }
}

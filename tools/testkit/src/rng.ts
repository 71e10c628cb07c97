// The one seeded generator of the tests: @kv/raft's seededRandom (mulberry32), which raft itself
// uses for election jitter. Everything here draws from it; no second copy of the algorithm.
import { seededRandom, type RandomSource } from '@kv/raft';

export { seededRandom, type RandomSource };

const TWO_32 = 0x1_0000_0000;

/** A float in [0, 1) per call, from `seed` (same seed, same sequence). */
export function prng(seed: number): () => number {
  const r = seededRandom(seed);
  return () => r(TWO_32) / TWO_32;
}

/** Convenience draws over one seededRandom stream. */
export class Rand {
  private readonly r: RandomSource;

  constructor(seed: number | bigint) {
    this.r = seededRandom(seed);
  }

  /** A uniform integer in [0, n) (n >= 1). */
  int(n: number): number {
    return this.r(n);
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    return this.r(TWO_32);
  }

  /** A float in [0, 1). */
  float(): number {
    return this.r(TWO_32) / TWO_32;
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return p > 0 && this.float() < p;
  }

  bool(): boolean {
    return this.r(2) === 1;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('pick from an empty list');
    return xs[this.r(xs.length)]!;
  }

  /** Shuffles in place (Fisher-Yates) and returns xs. */
  shuffle<T>(xs: T[]): T[] {
    for (let i = xs.length - 1; i > 0; i--) {
      const j = this.r(i + 1);
      const t = xs[i]!;
      xs[i] = xs[j]!;
      xs[j] = t;
    }
    return xs;
  }

  /** A random permutation of 0..n-1. */
  perm(n: number): number[] {
    return this.shuffle(Array.from({ length: n }, (_, i) => i));
  }
}

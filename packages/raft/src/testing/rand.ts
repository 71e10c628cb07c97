// Draws for property tests over raft's own seeded generator (rand.ts, mulberry32): deterministic,
// no Math.random, no second copy of the algorithm. (@kv/testkit re-exports the same generator for
// the other packages; raft cannot use the kit, which depends on raft.)
import { seededRandom, type RandomSource } from '../rand.js';

const TWO_32 = 0x1_0000_0000;

export class Rand {
  private readonly r: RandomSource;

  constructor(seed: number) {
    this.r = seededRandom(seed);
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    return this.r(TWO_32);
  }

  /** A uniform integer in [0, n). */
  intn(n: number): number {
    if (n <= 0) throw new Error('intn: n must be positive');
    return this.r(n);
  }

  /** A random permutation of 0..n-1. */
  perm(n: number): number[] {
    const a = Array.from({ length: n }, (_, i) => i);
    for (let i = n - 1; i > 0; i--) {
      const j = this.intn(i + 1);
      [a[i], a[j]] = [a[j], a[i]];
    }
    return a;
  }

  bool(): boolean {
    return this.r(2) === 1;
  }
}

// A small seeded PRNG for property tests (mulberry32): deterministic, no Math.random.

export class Rand {
  private s: number;

  constructor(seed: number) {
    this.s = seed >>> 0;
  }

  /** A uniform 32-bit unsigned integer. */
  uint32(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A uniform integer in [0, n). */
  intn(n: number): number {
    if (n <= 0) throw new Error('intn: n must be positive');
    return Math.floor((this.uint32() / 0x100000000) * n);
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
    return (this.uint32() & 1) === 1;
  }
}

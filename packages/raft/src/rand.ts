// Deterministic pseudo-randomness. Raft needs randomness only to spread election timeouts; the
// source is injected so that runs are reproducible (no Math.random, no clock-based seeding).

/** Returns an integer uniformly drawn from [0, n) (n >= 1). */
export type RandomSource = (n: number) => number;

/**
 * A small seeded generator (mulberry32). Same seed, same sequence, on every platform.
 * Not cryptographic; it only staggers elections.
 */
export function seededRandom(seed: number | bigint): RandomSource {
  // Fold a bigint seed (node ids are bigint) into 32 bits.
  let s: number;
  if (typeof seed === 'bigint') {
    let x = BigInt.asUintN(64, seed);
    s = 0;
    while (x > 0n) {
      s = (s ^ Number(x & 0xffff_ffffn)) >>> 0;
      x >>= 32n;
    }
  } else {
    s = seed >>> 0;
  }
  let state = (s ^ 0x9e37_79b9) >>> 0;
  const next = (): number => {
    state = (state + 0x6d2b_79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
  return (n: number): number => {
    if (!(n >= 1)) throw new RangeError(`random bound must be >= 1, got ${n}`);
    return Math.floor(next() * n);
  };
}

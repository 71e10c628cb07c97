// The simulation's one source of choice. Every decision of a run — message delays, losses, the
// nemesis schedule, client operations, each member's Random — is drawn from a generator derived
// from the run's seed, so a seed replays one run exactly.
//
// The generator is @kv/raft's seededRandom (mulberry32), the tree's one copy (as @kv/testkit's
// Rand); this adds floats, picks, bytes and named sub-streams.
import { seededRandom, type RandomSource } from '@kv/raft';
import type { Random } from '@kv/server';

/** FNV-1a of a string, for deriving sub-stream seeds from names. */
function fnv32(s: string): number {
  let h = 0x811c_9dc5;
  for (let i = 0; i < s.length; i++) {
    h ^= s.charCodeAt(i);
    h = Math.imul(h, 0x0100_0193) >>> 0;
  }
  return h >>> 0;
}

const TWO_32 = 0x1_0000_0000;

export class SimRng implements Random {
  private readonly r: RandomSource;

  constructor(private readonly seed: number) {
    this.r = seededRandom(seed >>> 0);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.r(TWO_32) / TWO_32;
  }

  /** Integer in [0, n). */
  int(n: number): number {
    if (!(n >= 1)) throw new RangeError(`random bound must be >= 1, got ${n}`);
    return Math.floor(this.next() * n);
  }

  /** Integer in [lo, hi]. */
  between(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  /** True with probability p. */
  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(xs: readonly T[]): T {
    if (xs.length === 0) throw new RangeError('pick from an empty list');
    return xs[this.int(xs.length)];
  }

  bytes(n: number): Buffer {
    const b = Buffer.alloc(n);
    for (let i = 0; i < n; i++) b[i] = this.int(256);
    return b;
  }

  /**
   * An independent generator named `label`, derived from this one's seed and the label (not
   * from its draws): adding draws to one sub-stream never shifts another's. Forks of one parent
   * need distinct labels.
   */
  fork(label: string): SimRng {
    return new SimRng(Math.imul(this.seed ^ 0x85eb_ca6b, 0xc2b2_ae35) ^ fnv32(label));
  }
}

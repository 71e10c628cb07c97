// The simulation's one source of choice. Every decision of a run — message delays, losses, the
// nemesis schedule, client operations, each member's Random — is drawn from a generator derived
// from the run's seed, so a seed replays one run exactly.
//
// mulberry32, as in @kv/raft's seededRandom (one more copy; the test kit of issue 9 §4 is to
// consolidate them), with floats, integers, picks and named sub-streams.
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

export class SimRng implements Random {
  private state: number;

  constructor(seed: number) {
    this.state = (seed ^ 0x9e37_79b9) >>> 0;
  }

  /** Uniform in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b_79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
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
   * An independent generator named `label`, derived from this one's current state without
   * consuming from it: adding draws to one sub-stream never shifts another's.
   */
  fork(label: string): SimRng {
    return new SimRng((this.state ^ fnv32(label)) >>> 0);
  }
}

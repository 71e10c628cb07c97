// Test support of this package's tests (not exported): a seeded generator and a tiny scheduler.

/** mulberry32: a small seeded PRNG, uniform in [0, 1). */
export function seeded(seed: number): { next(): number } {
  let a = seed >>> 0;
  return {
    next() {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    },
  };
}

/** A virtual-time scheduler: callbacks run in (time, insertion) order when run() is called. */
export class TestScheduler {
  now = 0;
  private seq = 0;
  private queue: { at: number; seq: number; fn: () => void }[] = [];

  readonly schedule = (fn: () => void, delayMs: number): void => {
    this.queue.push({ at: this.now + delayMs, seq: this.seq++, fn });
  };

  /** Runs callbacks (letting promise reactions settle between them) until none is due or `until` says stop. */
  async run(until: () => boolean = () => false, maxSteps = 1_000_000): Promise<void> {
    for (let i = 0; i < maxSteps; i++) {
      await new Promise<void>((r) => setImmediate(r));
      if (until() || this.queue.length === 0) return;
      this.queue.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.queue.shift()!;
      this.now = next.at;
      next.fn();
    }
    throw new Error('TestScheduler: step limit reached');
  }
}

/** Settles a promise into a flag, never rejecting (for saves a crash may cut off). */
export function track(p: Promise<void>): { done: boolean; failed: unknown } {
  const s: { done: boolean; failed: unknown } = { done: false, failed: undefined };
  p.then(
    () => {
      s.done = true;
    },
    (err: unknown) => {
      s.failed = err ?? new Error('rejected');
    },
  );
  return s;
}

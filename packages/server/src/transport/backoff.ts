// Reconnect pacing and the timers behind it, both injectable so tests can drive them.

/** The timer functions the transport uses; tests substitute their own. */
export interface Timers {
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** Real timers, unref'd: the transport's timers never keep a process alive on their own. */
export const realTimers: Timers = {
  setTimeout(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clearTimeout(handle) {
    clearTimeout(handle as ReturnType<typeof setTimeout>);
  },
};

export interface BackoffOptions {
  /** First delay before jitter (default 100 ms). */
  baseMs?: number;
  /** Cap on the delay before jitter (default 5 s). */
  maxMs?: number;
  /** Uniform random in [0, 1) (default Math.random). */
  random?: () => number;
}

/**
 * Exponential backoff with "equal jitter": attempt n waits d/2 + random·d/2 where
 * d = min(maxMs, baseMs·2^n). Peers that lost the same member do not retry in lockstep, and the
 * wait never drops below half the nominal delay.
 */
export class Backoff {
  private attempt = 0;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly random: () => number;

  constructor(o: BackoffOptions = {}) {
    this.baseMs = o.baseMs ?? 100;
    this.maxMs = o.maxMs ?? 5_000;
    this.random = o.random ?? Math.random;
    if (!(this.baseMs > 0) || !(this.maxMs >= this.baseMs)) throw new RangeError('backoff needs 0 < baseMs <= maxMs');
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const d = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    // Stop counting once capped; 2 ** attempt would overflow to Infinity eventually.
    if (d < this.maxMs) this.attempt++;
    const r = Math.min(Math.max(this.random(), 0), 1);
    return Math.round(d / 2 + (r * d) / 2);
  }

  /** After a success: the next failure starts over at baseMs. */
  reset(): void {
    this.attempt = 0;
  }
}

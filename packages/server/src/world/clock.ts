// Time and randomness, injected. A member never reads the process's clocks or timers itself: kvd
// passes realClock/realRandom, the whole-cluster simulation passes a seeded scheduler's virtual
// clock and a seeded generator, so one seed replays one run exactly.
import { randomBytes } from 'node:crypto';

/** A scheduled callback; clear() cancels it (idempotent). */
export interface Timer {
  clear(): void;
}

export interface Clock {
  /** Monotonic milliseconds (durations, deadlines, lease expiry). */
  now(): number;
  /** Wall-clock milliseconds since the epoch (ids, names that must differ across restarts). */
  wallNow(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  setInterval(fn: () => void, ms: number): Timer;
  /** Runs fn after the current callbacks and their promise reactions (setImmediate). */
  setImmediate(fn: () => void): Timer;
}

export interface Random {
  /** Uniform in [0, 1). */
  next(): number;
  /** n random bytes. */
  bytes(n: number): Buffer;
}

/** Resolves after ms on `clock`. */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/**
 * The process's clocks. Timers are unref'd: what keeps kvd alive is its listeners, and a member's
 * timers must never hold a test process (or a stopped member) open.
 */
export const realClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout(fn, ms) {
    const h = setTimeout(fn, ms);
    h.unref();
    return { clear: () => clearTimeout(h) };
  },
  setInterval(fn, ms) {
    const h = setInterval(fn, ms);
    h.unref();
    return { clear: () => clearInterval(h) };
  },
  setImmediate(fn) {
    const h = setImmediate(fn);
    h.unref();
    return { clear: () => clearImmediate(h) };
  },
};

export const realRandom: Random = {
  next: () => randomBytes(4).readUInt32BE(0) / 4_294_967_296,
  bytes: (n) => randomBytes(n),
};

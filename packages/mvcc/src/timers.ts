// The little of time mvcc needs, injectable: the server maps its member's clock onto it (a
// simulation passes a virtual one). mvcc must not import @kv/server, so the type lives here.

/** A monotonic clock and one-shot timers. */
export interface MvccClock {
  /** Monotonic milliseconds. */
  now(): number;
  /** Runs fn after ms; clear() cancels it. */
  setTimeout(fn: () => void, ms: number): { clear(): void };
}

/** The process's clock; timers are unref'd so an idle store never keeps Node alive. */
export const realMvccClock: MvccClock = {
  now: () => performance.now(),
  setTimeout(fn, ms) {
    const h = setTimeout(fn, ms);
    h.unref();
    return { clear: () => clearTimeout(h) };
  },
};

/** Resolves after ms on `clock`. */
export function sleepOn(clock: MvccClock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

// A Clock that moves only when a test moves it: timers fire in (due time, creation order) during
// advance(), and between two timers the test's promise chains (and real I/O callbacks already
// finished) get to run, so code waiting on a timer sees the same order every run.
import type { Clock, Timer } from '../world/clock.js';

interface Scheduled {
  at: number;
  seq: number;
  fn: () => void;
  /** Re-armed after each run (setInterval). */
  every?: number;
  cleared: boolean;
}

/** Lets pending promise reactions and already-completed I/O callbacks run (real event loop turns). */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((r) => setImmediate(r));
}

export class ManualClock implements Clock {
  private t = 0;
  private seq = 0;
  private queue: Scheduled[] = [];

  /** `wallStart`: what wallNow() reads at time 0 (ms since the epoch). */
  constructor(private readonly wallStart = 1_700_000_000_000) {}

  now(): number {
    return this.t;
  }
  wallNow(): number {
    return this.wallStart + this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.add(fn, Math.max(0, ms));
  }
  setInterval(fn: () => void, ms: number): Timer {
    return this.add(fn, Math.max(1, ms), Math.max(1, ms));
  }
  setImmediate(fn: () => void): Timer {
    return this.add(fn, 0);
  }

  /** Timers not yet fired or cleared. */
  pending(): number {
    return this.queue.filter((s) => !s.cleared).length;
  }

  private add(fn: () => void, ms: number, every?: number): Timer {
    const s: Scheduled = { at: this.t + ms, seq: this.seq++, fn, every, cleared: false };
    this.queue.push(s);
    return {
      clear: () => {
        s.cleared = true;
      },
    };
  }

  /** The next timer due at or before `until`, removed from the queue. */
  private takeDue(until: number): Scheduled | undefined {
    this.queue = this.queue.filter((s) => !s.cleared);
    let best: Scheduled | undefined;
    for (const s of this.queue) if (s.at <= until && (!best || s.at < best.at || (s.at === best.at && s.seq < best.seq))) best = s;
    if (best) this.queue.splice(this.queue.indexOf(best), 1);
    return best;
  }

  /**
   * Moves time forward by `ms`, firing every timer that falls due on the way in order; after each
   * one (and at the end) the event loop turns `settleTurns` times so that what the timer started
   * can run before the next one fires.
   */
  async advance(ms: number, settleTurns = 5): Promise<void> {
    const until = this.t + ms;
    for (;;) {
      const s = this.takeDue(until);
      if (!s) break;
      this.t = Math.max(this.t, s.at);
      if (s.every !== undefined) {
        s.at = this.t + s.every;
        s.seq = this.seq++;
        this.queue.push(s);
      }
      s.fn();
      await settle(settleTurns);
    }
    this.t = until;
    await settle(settleTurns);
  }
}

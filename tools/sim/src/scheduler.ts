// The seeded scheduler: one virtual timeline for the whole simulated cluster.
//
// Every timer, message delivery, client request and fault is an event in one heap ordered by
// (virtual time, sequence number). The run loop pops the earliest event, sets the virtual time to
// it, runs it, then lets the promise reactions it started settle (a fixed number of real
// setImmediate turns). Nothing in a simulated member reads a real clock or does real I/O (SimFs,
// SimEngine, this clock and SimNetwork stand in), so the order in which everything happens is a
// function of the seed alone.
//
// Each member incarnation sees the timeline through its own SimClock:
// - its timers are tagged with it, so when the member crashes (kill()) they vanish with it;
// - pause() defers its events (timers, deliveries to it, requests to it) until resume(), as
//   SIGSTOP does to a process: virtual time goes on, so on resume its monotonic clock has jumped;
// - setRate(r) makes its timers run r times as fast (clock skew between members);
// - jumpWall(ms) moves only its wall clock (NTP steps); monotonic time never jumps.
//
// Invariants:
// - virtual time never goes backwards: an event is never scheduled before `now`;
// - events at the same time run in the order they were scheduled (seq);
// - an event of a killed clock never runs; an event of a paused clock runs only after resume(),
//   in its original order.
import { createHash, type Hash } from 'node:crypto';
import type { Clock, Timer } from '@kv/server';

interface SimEvent {
  at: number;
  seq: number;
  owner: SimClock | undefined;
  label: string;
  fn: () => void;
  cancelled: boolean;
}

/** A binary min-heap of events by (at, seq). */
class EventHeap {
  private readonly items: SimEvent[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): SimEvent | undefined {
    return this.items[0];
  }

  private static less(a: SimEvent, b: SimEvent): boolean {
    return a.at < b.at || (a.at === b.at && a.seq < b.seq);
  }

  push(e: SimEvent): void {
    const xs = this.items;
    xs.push(e);
    let i = xs.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!EventHeap.less(xs[i], xs[p])) break;
      [xs[i], xs[p]] = [xs[p], xs[i]];
      i = p;
    }
  }

  pop(): SimEvent | undefined {
    const xs = this.items;
    if (xs.length === 0) return undefined;
    const top = xs[0];
    const last = xs.pop()!;
    if (xs.length > 0) {
      xs[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < xs.length && EventHeap.less(xs[l], xs[m])) m = l;
        if (r < xs.length && EventHeap.less(xs[r], xs[m])) m = r;
        if (m === i) break;
        [xs[i], xs[m]] = [xs[m], xs[i]];
        i = m;
      }
    }
    return top;
  }
}

export interface SchedulerOptions {
  /** Wall-clock epoch of virtual time 0 (ms since 1970); fixed so that runs replay. */
  epochMs?: number;
  /** Real setImmediate turns after each event for promise reactions to settle (default 2). */
  settleTurns?: number;
  /** Lines of trace kept for a failure report (default 400). */
  keepTrace?: number;
  /** Every trace line is also passed here (the CLI's --trace). */
  onTrace?: (line: string) => void;
}

/** Thrown by run() when a run exceeds its event budget (a livelock, or a budget too small). */
export class EventBudgetExceeded extends Error {}

export class Scheduler {
  private readonly heap = new EventHeap();
  private seq = 0;
  private now_ = 0;
  private readonly hash: Hash = createHash('sha256');
  private readonly recent: string[] = [];
  private readonly keepTrace: number;
  private readonly settleTurns: number;
  readonly epochMs: number;
  /** Events run so far. */
  eventsRun = 0;
  /** Called after each event and its settling (observers: e.g. who leads). Must not schedule. */
  afterEvent?: () => void;
  /** Errors thrown by event callbacks (each is a finding: a callback must not throw). */
  readonly errors: { at: number; label: string; err: unknown }[] = [];

  constructor(private readonly o: SchedulerOptions = {}) {
    this.epochMs = o.epochMs ?? Date.UTC(2026, 0, 1);
    this.settleTurns = o.settleTurns ?? 2;
    this.keepTrace = o.keepTrace ?? 400;
  }

  /** Virtual milliseconds since the start of the run. */
  now(): number {
    return this.now_;
  }

  /** A new clock view for one member incarnation (its timers die with kill()). */
  clock(owner: string): SimClock {
    return new SimClock(this, owner);
  }

  /** Schedules fn at now + delay (>= 0), owned by `owner` (undefined: the simulation itself). */
  at(delayMs: number, label: string, fn: () => void, owner?: SimClock): Timer {
    const e: SimEvent = { at: this.now_ + Math.max(0, delayMs), seq: this.seq++, owner, label, fn, cancelled: false };
    this.heap.push(e);
    return {
      clear: () => {
        e.cancelled = true;
      },
    };
  }

  /** Re-queues a paused clock's deferred events at now, in their original order. */
  requeue(events: SimEvent[]): void {
    // In place: a Timer handle keeps pointing at its event.
    for (const e of events) {
      e.at = this.now_;
      e.seq = this.seq++;
      this.heap.push(e);
    }
  }

  /** Adds a line to the trace (its hash identifies the run). */
  trace(line: string): void {
    const l = `${this.now_.toFixed(3)} ${line}`;
    this.hash.update(l);
    this.hash.update('\n');
    this.recent.push(l);
    if (this.recent.length > this.keepTrace) this.recent.shift();
    this.o.onTrace?.(l);
  }

  /** The hash of everything traced so far. */
  traceHash(): string {
    return this.hash.copy().digest('hex');
  }

  /** The last lines traced (for a failure report). */
  recentTrace(): readonly string[] {
    return this.recent;
  }

  /** Lets promise reactions started by the last event run (real turns; no real I/O is pending). */
  async settle(turns = this.settleTurns): Promise<void> {
    for (let i = 0; i < turns; i++) await new Promise<void>((r) => setImmediate(r));
  }

  /**
   * Runs events until virtual time `untilMs` (events at exactly untilMs included) or until
   * `stop()` says so; then sets the time to untilMs. At most `maxEvents` events.
   */
  async runUntil(untilMs: number, opts: { maxEvents?: number; stop?: () => boolean } = {}): Promise<void> {
    const budget = opts.maxEvents ?? Number.POSITIVE_INFINITY;
    let ran = 0;
    for (;;) {
      if (opts.stop?.()) return;
      const e = this.heap.peek();
      if (!e || e.at > untilMs) break;
      this.heap.pop();
      if (e.cancelled) continue;
      if (e.owner && !e.owner.alive) continue;
      if (e.owner?.paused) {
        e.owner.deferred.push(e);
        continue;
      }
      if (e.at < this.now_) throw new Error(`virtual time went backwards: event at ${e.at}, now ${this.now_}`);
      this.now_ = e.at;
      if (++ran > budget) throw new EventBudgetExceeded(`more than ${budget} events before ${untilMs} ms of virtual time`);
      this.eventsRun++;
      try {
        e.fn();
      } catch (err) {
        this.errors.push({ at: this.now_, label: e.label, err });
        this.trace(`error in ${e.label}: ${err instanceof Error ? err.message : String(err)}`);
      }
      await this.settle();
      this.afterEvent?.();
    }
    if (untilMs > this.now_) this.now_ = untilMs;
  }

  /** Runs until `cond()` holds, checked after every event, or virtual time `untilMs`; returns cond(). */
  async runWhile(untilMs: number, cond: () => boolean, maxEvents?: number): Promise<boolean> {
    await this.runUntil(untilMs, { maxEvents, stop: cond });
    return cond();
  }
}

/** A member incarnation's view of the virtual timeline (see the top of this file). */
export class SimClock implements Clock {
  alive = true;
  paused = false;
  /** Events that came due while paused. */
  deferred: SimEvent[] = [];
  private rate = 1;
  /** Monotonic time = anchorLocal + (global - anchorGlobal) * rate. */
  private anchorGlobal: number;
  private anchorLocal: number;
  private wallOffset = 0;

  constructor(
    private readonly sched: Scheduler,
    readonly owner: string,
  ) {
    this.anchorGlobal = sched.now();
    this.anchorLocal = sched.now();
  }

  now(): number {
    return this.anchorLocal + (this.sched.now() - this.anchorGlobal) * this.rate;
  }

  wallNow(): number {
    return Math.floor(this.sched.epochMs + this.now() + this.wallOffset);
  }

  setTimeout(fn: () => void, ms: number): Timer {
    return this.sched.at(Math.max(0, ms) / this.rate, `timer ${this.owner}`, fn, this);
  }

  setInterval(fn: () => void, ms: number): Timer {
    // At least 1 ms: an interval of 0 would never let virtual time advance.
    const period = Math.max(1, ms);
    let current: Timer | undefined;
    let cleared = false;
    const arm = () => {
      current = this.sched.at(
        period / this.rate,
        `interval ${this.owner}`,
        () => {
          if (cleared) return;
          arm();
          fn();
        },
        this,
      );
    };
    arm();
    return {
      clear: () => {
        cleared = true;
        current?.clear();
      },
    };
  }

  setImmediate(fn: () => void): Timer {
    return this.sched.at(0, `immediate ${this.owner}`, fn, this);
  }

  private readonly killHooks = new Set<() => void>();

  /** Calls fn when this incarnation is killed (its connections break); returns the unsubscribe. */
  onKill(fn: () => void): () => void {
    this.killHooks.add(fn);
    return () => this.killHooks.delete(fn);
  }

  /** The process died: none of its events run any more. */
  kill(): void {
    if (!this.alive) return;
    this.alive = false;
    this.deferred = [];
    for (const f of [...this.killHooks]) f();
    this.killHooks.clear();
  }

  pause(): void {
    if (this.alive) this.paused = true;
  }

  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    const d = this.deferred;
    this.deferred = [];
    this.sched.requeue(d);
  }

  /** From now on this member's clock runs at `rate` (1 = true time); only later timers see it. */
  setRate(rate: number): void {
    if (!(rate > 0)) throw new RangeError(`clock rate must be positive, got ${rate}`);
    this.anchorLocal = this.now();
    this.anchorGlobal = this.sched.now();
    this.rate = rate;
  }

  /** Steps the wall clock by ms (either way); the monotonic clock is untouched. */
  jumpWall(ms: number): void {
    this.wallOffset += ms;
  }

  /** Runs fn now-ish on this member's timeline (deferred while paused, dropped once killed). */
  post(label: string, fn: () => void, delayMs = 0): Timer {
    return this.sched.at(delayMs, label, fn, this);
  }
}

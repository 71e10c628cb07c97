// The nemesis: a seeded schedule of faults against the simulated cluster, recorded in the history
// as nemesis events (intervals: start/stop; points: instant). Faults:
//
//   partition      majority/minority split, or one member isolated
//   isolate-leader the current leader cut off from everyone
//   one-way        one directional link cut (a member hears but is not heard, or the reverse)
//   loss           a burst of message loss on every link
//   slow           one member's links hold messages up by up to 0.5-3 s (congestion, TCP backoff)
//   kill           process crash (the disk keeps what was written), restart after 20 ms-3 s
//   power-loss     crash that loses unsynced writes (and may tear the last one), restart later
//   crash-loop     one member killed 2-4 times in a row, each time restarted within 20-100 ms and
//                  killed again after 100-800 ms up (a supervisor restarting a failing process)
//   pause          SIGSTOP-like: the member's events wait, then resume
//   clock-jump     the member's wall clock steps forward or back (monotonic time does not)
//   skew           the member's timers run faster or slower for a while
//   fsync-fail     the member's next fsync fails: it must stop (a fatal error), then restart
//
// At `endMs` everything heals: links restored, paused members resumed, rates reset, every
// crashed member restarted. Invariant: after heal() returns, no fault is active and none is
// scheduled.
import type { History } from '@kv/check';
import type { SimNetwork } from './network.js';
import type { SimRng } from './rng.js';
import type { Scheduler } from './scheduler.js';

/** What the nemesis acts on (the simulated cluster). */
export interface NemesisTarget {
  names: readonly string[];
  /** The leader's name, if one is known to the members that are up. */
  leader(): string | undefined;
  isUp(name: string): boolean;
  /** Crashes the member: its process dies; with powerLoss its disk also loses unsynced writes. */
  crash(name: string, powerLoss: boolean): void;
  /** Starts a crashed member again from its disk (no-op if it is up or starting). */
  restart(name: string): Promise<void>;
  pause(name: string): void;
  resume(name: string): void;
  jumpWall(name: string, ms: number): void;
  setRate(name: string, rate: number): void;
  /** Makes the member's next fsync fail (its disk reports an error). */
  failNextFsync(name: string): void;
}

export type FaultKind =
  | 'partition'
  | 'isolate-leader'
  | 'one-way'
  | 'loss'
  | 'slow'
  | 'kill'
  | 'crash-loop'
  | 'power-loss'
  | 'pause'
  | 'clock-jump'
  | 'skew'
  | 'fsync-fail';

export const allFaults: readonly FaultKind[] = [
  'partition',
  'isolate-leader',
  'one-way',
  'loss',
  'slow',
  'kill',
  'crash-loop',
  'power-loss',
  'pause',
  'clock-jump',
  'skew',
  'fsync-fail',
];

export interface NemesisOptions {
  /** First fault at about this virtual time. */
  startMs: number;
  /** No fault starts after this; everything heals here. */
  endMs: number;
  /** Gap between faults: uniform in [minGapMs, maxGapMs]. */
  minGapMs: number;
  maxGapMs: number;
  /** Faults to choose from. */
  faults: readonly FaultKind[];
}

export class Nemesis {
  private readonly pending = new Set<{ clear(): void }>();
  private readonly paused = new Set<string>();
  private readonly skewed = new Set<string>();
  private partitioned = false;
  /** Faults injected, by kind (for the run summary). */
  readonly counts: Partial<Record<FaultKind, number>> = {};

  constructor(
    private readonly sched: Scheduler,
    private readonly rng: SimRng,
    private readonly net: SimNetwork,
    private readonly target: NemesisTarget,
    private readonly history: History,
    private readonly o: NemesisOptions,
  ) {}

  /** Schedules the first fault; each fault schedules the next until endMs. */
  start(): void {
    if (this.o.faults.length === 0) return;
    this.later(this.o.startMs - this.sched.now(), () => this.step());
  }

  private later(ms: number, fn: () => void): void {
    const t = this.sched.at(Math.max(0, ms), 'nemesis', () => {
      this.pending.delete(t);
      fn();
    });
    this.pending.add(t);
  }

  private step(): void {
    if (this.sched.now() >= this.o.endMs) return;
    this.inject(this.rng.pick(this.o.faults));
    this.later(this.rng.between(this.o.minGapMs, this.o.maxGapMs), () => this.step());
  }

  /** How long a fault lasts: at most until endMs. */
  private duration(lo: number, hi: number): number {
    return Math.min(this.rng.between(lo, hi), Math.max(0, this.o.endMs - this.sched.now()));
  }

  private record(name: string, phase: 'start' | 'stop' | 'instant', detail?: string): void {
    this.history.nemesis(name, phase, detail);
    this.sched.trace(`nemesis ${name} ${phase}${detail ? ` ${detail}` : ''}`);
  }

  private inject(kind: FaultKind): void {
    const { names } = this.target;
    const up = names.filter((n) => this.target.isUp(n));
    this.counts[kind] = (this.counts[kind] ?? 0) + 1;
    switch (kind) {
      case 'partition':
      case 'isolate-leader':
      case 'one-way': {
        if (this.partitioned) return;
        let detail: string;
        if (kind === 'one-way') {
          const from = this.rng.pick(names);
          const to = this.rng.pick(names.filter((n) => n !== from));
          this.net.cutOneWay(from, to);
          detail = `${from}>${to}`;
        } else {
          const shuffled = names
            .map((n) => [this.rng.next(), n] as const)
            .sort((a, b) => a[0] - b[0])
            .map((x) => x[1]);
          let minority: string[];
          if (kind === 'isolate-leader') {
            const l = this.target.leader();
            if (!l) return;
            minority = [l];
          } else if (this.rng.chance(0.5)) minority = [shuffled[0]];
          else minority = shuffled.slice(0, Math.floor((names.length - 1) / 2));
          const majority = names.filter((n) => !minority.includes(n));
          this.net.partition([minority, majority], names);
          detail = `[${minority.join(',')}] [${majority.join(',')}]`;
        }
        this.partitioned = true;
        this.record(kind, 'start', detail);
        this.later(this.duration(300, 3000), () => {
          this.net.heal();
          this.partitioned = false;
          this.record(kind, 'stop', detail);
        });
        return;
      }
      case 'loss': {
        const p = this.rng.pick([0.2, 0.5, 0.9]);
        const ms = this.duration(200, 2000);
        this.net.lossBurst(p, ms);
        this.record('loss', 'start', `p=${p}`);
        this.later(ms, () => this.record('loss', 'stop', `p=${p}`));
        return;
      }
      case 'slow': {
        const name = this.rng.pick(names);
        const extra = this.rng.pick([500, 1500, 3000]);
        const ms = this.duration(1000, 5000);
        this.net.slow(name, extra, ms);
        this.record('slow', 'start', `${name} +${extra}ms`);
        this.later(ms, () => this.record('slow', 'stop', `${name} +${extra}ms`));
        return;
      }
      case 'kill':
      case 'power-loss':
      case 'fsync-fail': {
        if (up.length === 0) return;
        const name = this.rng.pick(up);
        if (kind === 'fsync-fail') {
          this.target.failNextFsync(name);
          this.record('fsync-fail', 'instant', name);
          // The member stops itself on the failure; it is restarted like a crashed one.
          this.later(this.duration(1000, 3000), () => void this.target.restart(name));
          return;
        }
        this.target.crash(name, kind === 'power-loss');
        this.record(kind, 'start', name);
        // Half the time a supervisor restarts it at once (20-200 ms), else an operator later.
        const down = this.rng.chance(0.5) ? this.duration(20, 200) : this.duration(200, 3000);
        this.later(down, () => {
          this.record(kind, 'stop', name);
          void this.target.restart(name);
        });
        return;
      }
      case 'crash-loop': {
        if (up.length === 0) return;
        const name = this.rng.pick(up);
        let left = this.rng.between(2, 4);
        this.record('crash-loop', 'start', name);
        const round = () => {
          this.target.crash(name, false);
          this.later(this.duration(20, 100), () => {
            void this.target.restart(name);
            if (--left > 0) this.later(this.duration(100, 800), round);
            else this.record('crash-loop', 'stop', name);
          });
        };
        round();
        return;
      }
      case 'pause': {
        const free = names.filter((n) => !this.paused.has(n));
        if (free.length === 0) return;
        const name = this.rng.pick(free);
        this.paused.add(name);
        this.target.pause(name);
        this.record('pause', 'start', name);
        this.later(this.duration(200, 3000), () => {
          this.paused.delete(name);
          this.target.resume(name);
          this.record('pause', 'stop', name);
        });
        return;
      }
      case 'clock-jump': {
        const name = this.rng.pick(names);
        const ms = this.rng.pick([-1, 1]) * this.rng.between(1000, 3_600_000);
        this.target.jumpWall(name, ms);
        this.record('clock-jump', 'instant', `${name} ${ms > 0 ? '+' : ''}${ms}ms`);
        return;
      }
      case 'skew': {
        const name = this.rng.pick(names);
        if (this.skewed.has(name)) return;
        const rate = this.rng.pick([0.5, 0.8, 1.25, 2]);
        this.skewed.add(name);
        this.target.setRate(name, rate);
        this.record('skew', 'start', `${name} x${rate}`);
        this.later(this.duration(500, 4000), () => {
          this.skewed.delete(name);
          this.target.setRate(name, 1);
          this.record('skew', 'stop', `${name} x${rate}`);
        });
        return;
      }
    }
  }

  /** Ends every fault now and restarts every member that is down. */
  async heal(): Promise<void> {
    for (const t of this.pending) t.clear();
    this.pending.clear();
    this.net.heal();
    this.partitioned = false;
    for (const n of this.paused) this.target.resume(n);
    this.paused.clear();
    for (const n of this.skewed) this.target.setRate(n, 1);
    this.skewed.clear();
    this.record('heal', 'instant');
    await Promise.all(this.target.names.filter((n) => !this.target.isUp(n)).map((n) => this.target.restart(n)));
  }
}

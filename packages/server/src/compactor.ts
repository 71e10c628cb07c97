// Auto-compaction with etcd 3.4's semantics (etcdserver/api/v3compactor), run by the leader only
// (etcd pauses its compactor on followers and resumes it on the elected leader).
//
// 'periodic', retention P: every I = min(P, 1h)/10 the compactor samples the current revision and
// keeps the last P/I + 1 samples, so the oldest is the revision of about P ago. Nothing is
// compacted until P has passed since the start; from then on it compacts to the oldest sample
// every min(P, 1h) (a failed attempt is retried at the next sample). So 24h keeps a day of history
// and compacts hourly; 5m keeps five minutes and compacts every five minutes.
// 'revision', retention R: every 5 minutes, compacts to current − R when that is positive and newer
// than the last compaction.
import type { Logger } from 'pino';

export interface CompactorOptions {
  mode: 'periodic' | 'revision';
  /** ms of history (periodic) or number of revisions (revision). */
  retention: number;
  /** When the compactor starts (ms on the member's clock): the first sample's time. */
  now: number;
  rev: () => bigint;
  compactRev: () => bigint;
  compact: (rev: bigint) => Promise<void>;
  /** Whether this member compacts now (the leader); the others only sample, as etcd's paused compactor. */
  active: () => boolean;
  logger: Logger;
}

const hourMs = 3600_000;
const revisionModeIntervalMs = 5 * 60 * 1000;

export class Compactor {
  /** How often tick() is to be called: the sampling (retry) interval, or 5 minutes in revision mode. */
  readonly intervalMs: number;
  /** Periodic: after the first attempt, how long from one success to the next attempt. */
  private readonly compactIntervalMs: number;
  /** Periodic: how many samples are kept. Invariant: samples.length ≤ keep, oldest first. */
  private readonly keep: number;
  private readonly samples: bigint[] = [];
  private lastSuccess: number;
  /** Periodic: the wait before an attempt — the whole retention before the first, compactIntervalMs after. */
  private wait: number;
  private running = false;

  constructor(private readonly o: CompactorOptions) {
    const capped = Math.min(o.retention, hourMs);
    this.intervalMs = o.mode === 'periodic' ? Math.max(1, Math.floor(capped / 10)) : revisionModeIntervalMs;
    this.compactIntervalMs = capped;
    this.keep = Math.floor(o.retention / this.intervalMs) + 1;
    this.lastSuccess = o.now;
    this.wait = o.retention;
    if (o.mode === 'periodic') this.sample();
  }

  /** One pass at time `now` (ms), every intervalMs. */
  async tick(now: number): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      if (this.o.mode === 'revision') await this.revisionPass();
      else await this.periodicPass(now);
    } finally {
      this.running = false;
    }
  }

  private sample(): void {
    this.samples.push(this.o.rev());
    if (this.samples.length > this.keep) this.samples.shift();
  }

  private async periodicPass(now: number): Promise<void> {
    try {
      if (!this.o.active() || now - this.lastSuccess < this.wait) return;
      this.wait = this.compactIntervalMs;
      const target = this.samples[0]!;
      // A target at or below the compacted revision counts as done (etcd: ErrCompacted is success).
      if (await this.compactTo(target)) this.lastSuccess = now;
    } finally {
      // The next round's sample, taken after the attempt as etcd's loop does.
      this.sample();
    }
  }

  private async revisionPass(): Promise<void> {
    if (!this.o.active()) return;
    const target = this.o.rev() - BigInt(this.o.retention);
    if (target > 0n) await this.compactTo(target);
  }

  /** Compacts to `target` unless already there; false when the compaction failed. */
  private async compactTo(target: bigint): Promise<boolean> {
    if (target <= this.o.compactRev()) return true;
    this.o.logger.info({ revision: target.toString(), mode: this.o.mode, retention: this.o.retention }, 'starting auto compaction');
    try {
      await this.o.compact(target);
      return true;
    } catch (err) {
      this.o.logger.warn({ err, revision: target.toString(), retryMs: this.intervalMs }, 'auto compaction failed');
      return false;
    }
  }
}

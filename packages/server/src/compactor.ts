// Auto-compaction, as etcd's compactor package: 'periodic' keeps about `retention` ms of history
// (it samples the revision every retention/10 and compacts to the sample taken `retention` ago);
// 'revision' keeps the last `retention` revisions, checking every 5 minutes.
import type { Logger } from 'pino';

export interface CompactorOptions {
  mode: 'periodic' | 'revision';
  /** ms of history (periodic) or number of revisions (revision). */
  retention: number;
  rev: () => bigint;
  compactRev: () => bigint;
  compact: (rev: bigint) => Promise<void>;
  logger: Logger;
}

const revisionModeIntervalMs = 5 * 60 * 1000;

export class Compactor {
  readonly intervalMs: number;
  /** Periodic mode: (time, revision) samples, oldest first. */
  private readonly samples: { at: number; rev: bigint }[] = [];
  private running = false;

  constructor(private readonly o: CompactorOptions) {
    this.intervalMs = o.mode === 'periodic' ? Math.max(1000, Math.floor(o.retention / 10)) : revisionModeIntervalMs;
  }

  /** One pass at time `now` (ms); compacts when a target is due and newer than the last compaction. */
  async tick(now: number): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      let target: bigint | undefined;
      if (this.o.mode === 'revision') {
        const t = this.o.rev() - BigInt(this.o.retention);
        if (t > 0n) target = t;
      } else {
        this.samples.push({ at: now, rev: this.o.rev() });
        // The newest sample at least `retention` old is the target; drop the ones before it.
        let idx = -1;
        for (let i = 0; i < this.samples.length; i++) if (now - this.samples[i].at >= this.o.retention) idx = i;
        if (idx >= 0) {
          target = this.samples[idx].rev;
          this.samples.splice(0, idx + 1);
        }
      }
      if (target !== undefined && target > this.o.compactRev()) {
        this.o.logger.info({ revision: target.toString(), mode: this.o.mode }, 'auto compaction');
        await this.o.compact(target);
      }
    } catch (err) {
      this.o.logger.warn({ err }, 'auto compaction failed');
    } finally {
      this.running = false;
    }
  }
}

// The purge loop (etcd's EtcdServer.purgeFile over fileutil.PurgeFile): every 30 s, delete the
// oldest snapshot files beyond --max-snapshots and the oldest WAL segment files beyond --max-wals
// (0: keep them all). A WAL segment is deleted only once released — covered by a durable
// snapshot (Wal.release) — so a restart always finds every entry after its snapshot; etcd's rule
// is the same (a segment still locked by the WAL is never purged). The snapshot a restart opens
// the WAL at is kept too, even while a newer file waits for its WAL marker.
//
// Runs on the member's clock (an injected Clock), so a test drives it with a manual clock.
import type { SnapshotFiles, WalStorage } from '@kv/wal';
import type { Logger } from 'pino';
import type { Clock, Timer } from '../world/clock.js';

/** etcd's purgeFileInterval. */
export const PurgeIntervalMs = 30_000;

export interface FilePurgerOptions {
  clock: Clock;
  logger: Logger;
  wal: Pick<WalStorage, 'purge'>;
  snapshots: Pick<SnapshotFiles, 'purge'>;
  /** Snapshot files kept (0: unlimited). */
  maxSnapshots: number;
  /** WAL segment files kept (0: unlimited). */
  maxWals: number;
  /** Index of the snapshot a restart opens the WAL at (never purged). */
  durableSnapshotIndex: () => bigint;
  /** A purge that failed (etcd stops the member: 'failed to purge wal file'). */
  onFatal: (err: unknown) => void;
  /** Default PurgeIntervalMs. */
  intervalMs?: number;
}

export class FilePurger {
  private timer?: Timer;
  private running?: Promise<void>;
  private stopped = false;

  constructor(private readonly o: FilePurgerOptions) {}

  /** Starts the loop (nothing to do when both limits are 0). The first pass runs at once, as etcd's. */
  start(): void {
    if (this.o.maxSnapshots === 0 && this.o.maxWals === 0) return;
    this.o.logger.info({ maxSnapshots: this.o.maxSnapshots, maxWals: this.o.maxWals }, 'started to purge snapshot and WAL files');
    this.timer = this.o.clock.setInterval(() => void this.purgeOnce(), this.o.intervalMs ?? PurgeIntervalMs);
    void this.purgeOnce();
  }

  /** One pass; passes never overlap (a pass still running when the next is due is waited for). */
  purgeOnce(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    // pass() never rejects (a failure goes to onFatal), so the chain never breaks.
    const run = (this.running ?? Promise.resolve()).then(() => this.pass());
    this.running = run;
    return run;
  }

  /** Resolves once no pass is in progress (without starting one). */
  async idle(): Promise<void> {
    await this.running;
  }

  private async pass(): Promise<void> {
    if (this.stopped) return;
    try {
      if (this.o.maxSnapshots > 0) {
        const gone = await this.o.snapshots.purge(this.o.maxSnapshots, this.o.durableSnapshotIndex());
        for (const name of gone) this.o.logger.info({ file: name }, 'purged snapshot file');
      }
      if (this.o.maxWals > 0 && !this.stopped) {
        const gone = await this.o.wal.purge(this.o.maxWals);
        for (const name of gone) this.o.logger.info({ file: name }, 'purged WAL file');
      }
    } catch (err) {
      if (this.stopped) return; // the WAL closed under a pass in progress: nothing lost
      this.o.logger.fatal({ err }, 'failed to purge snapshot or WAL files');
      this.o.onFatal(err);
    }
  }

  /** Stops the loop and waits for a pass in progress (before the WAL closes). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.timer?.clear();
    await this.running?.catch(() => undefined);
  }
}

// Progress bars for long commands (snapshot save/restore, check perf/datascale, make-mirror),
// drawn with cli-progress on standard error, and only when standard error is a terminal: piped or
// redirected output stays exactly etcdctl's stdout (etcdctl's check draws its pb bar into stdout
// unconditionally; kvctl deliberately keeps stdout clean). KVCTL_NO_PROGRESS=1 turns them off on a
// terminal too.
import cliProgress from 'cli-progress';
import type { CtlIO, Sink } from './io.js';
import { humanizeBytes } from './gofmt.js';

export interface Progress {
  /** Sets the bar to `done` of `total` (a new total is taken as it comes). */
  update(done: number, total: number): void;
  /** Removes the bar once drawn (idempotent); later updates are ignored. Before the first update, nothing. */
  stop(): void;
}

const none: Progress = { update: () => undefined, stop: () => undefined };

function isTTY(s: Sink): s is Sink & NodeJS.WriteStream {
  return (s as Partial<NodeJS.WriteStream>).isTTY === true;
}

/**
 * A progress bar labelled `label` on io.stderr when it is a terminal; otherwise one that draws
 * nothing. `unit` 'bytes' shows sizes as etcd prints them (humanize), 'records' plain counts.
 */
export function progressBar(io: CtlIO, label: string, unit: 'bytes' | 'records' | 'count'): Progress {
  if (!isTTY(io.stderr) || io.env.KVCTL_NO_PROGRESS === '1') return none;
  const show = (n: number) => (unit === 'bytes' ? humanizeBytes(Math.round(n)) : String(Math.round(n)));
  const bar = new cliProgress.SingleBar(
    {
      stream: io.stderr,
      // 'count': no total known (make-mirror's keys): a running count and the time taken.
      format:
        unit === 'count'
          ? `${label} {shown} | {duration_formatted}`
          : `${label} [{bar}] {percentage}% | {shown}/{shownTotal} | ETA: {eta_formatted}`,
      hideCursor: true,
      clearOnComplete: true,
      // Redraw no more than 10 times a second; fine for both small and large snapshots.
      fps: 10,
    },
    cliProgress.Presets.shades_classic,
  );
  let started = false;
  let stopped = false;
  return {
    update(done, total) {
      if (stopped) return;
      const payload = { shown: show(done), shownTotal: show(total) };
      if (!started) {
        started = true;
        bar.start(Math.max(total, 1), done, payload);
        return;
      }
      bar.setTotal(Math.max(total, 1));
      bar.update(done, payload);
    },
    stop() {
      // A bar not drawn yet stays usable: stopping is about removing what is on the screen.
      if (stopped || !started) return;
      stopped = true;
      bar.stop();
    },
  };
}

/** A counter on top of progressBar for loops that step: out of `total`, or a plain count when total is 0. */
export interface Counter {
  increment(n?: number): void;
  update(value: number): void;
  stop(): void;
}

export function startProgress(io: CtlIO, total: number, label: string): Counter {
  const bar = progressBar(io, label, total > 0 ? 'records' : 'count');
  let value = 0;
  return {
    increment: (n = 1) => bar.update((value += n), total),
    update: (v) => bar.update((value = v), total),
    stop: () => bar.stop(),
  };
}

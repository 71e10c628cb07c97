// Progress display for long commands (check perf/datascale, make-mirror): a cli-progress bar on
// standard error, only when standard error is a terminal, so that scripts and pipes see exactly
// etcdctl's stdout. (etcdctl draws its pb bar into stdout unconditionally; kvctl deliberately
// keeps stdout clean.)
import cliProgress from 'cli-progress';
import type { CtlIO } from './io.js';

export interface Progress {
  increment(n?: number): void;
  update(value: number): void;
  stop(): void;
}

const none: Progress = { increment: () => undefined, update: () => undefined, stop: () => undefined };

/** A bar out of `total` (or a plain counter when total is 0); a no-op unless stderr is a TTY. */
export function startProgress(io: CtlIO, total: number, label: string): Progress {
  const stream = io.stderr as NodeJS.WriteStream;
  if (!stream.isTTY) return none;
  const format =
    total > 0 ? `${label} [{bar}] {percentage}% | {value}/{total} | ETA: {eta_formatted}` : `${label} {value} | {duration_formatted}`;
  const bar = new cliProgress.SingleBar({ stream, format, hideCursor: true, clearOnComplete: false }, cliProgress.Presets.shades_classic);
  bar.start(total, 0);
  let stopped = false;
  return {
    increment: (n = 1) => bar.increment(n),
    update: (v) => bar.update(v),
    stop: () => {
      if (stopped) return;
      stopped = true;
      bar.stop();
    },
  };
}

// Structured logs: JSON lines through pino (fast, widely used, levels as etcd's zap), on stderr by
// default or on the targets of etcd's --log-outputs: 'stderr', 'stdout', or file paths (appended
// to, created if missing, as zap opens them).
import { closeSync, openSync } from 'node:fs';
import { pino, destination, multistream, stdTimeFunctions, type DestinationStream, type Level, type Logger } from 'pino';

export type { Logger };

/** Where one log output goes: 'stderr', 'stdout' or a file path. */
function target(output: string): DestinationStream {
  if (output === 'stderr') return destination({ fd: 2, sync: false });
  if (output === 'stdout') return destination({ fd: 1, sync: false });
  // Opened here first, so that a path that cannot be written fails at start with its error; written
  // synchronously (as zap writes files), so nothing is lost when the process exits.
  closeSync(openSync(output, 'a', 0o600));
  return destination({ dest: output, append: true, sync: true, mkdir: false });
}

/**
 * A logger at `level` (etcd's names: 'panic' and 'fatal' both map to pino's fatal) writing to each
 * of `outputs` (default stderr).
 */
export function createLogger(level: string, name: string, outputs: string[] = ['stderr']): Logger {
  const pinoLevel = level === 'panic' ? 'fatal' : level;
  const options = {
    level: pinoLevel,
    base: { name },
    timestamp: stdTimeFunctions.isoTime,
    formatters: { level: (label: string) => ({ level: label }) },
  };
  const targets = [...new Set(outputs)].map(target);
  if (targets.length === 1) return pino(options, targets[0]);
  const ms = multistream(targets.map((stream) => ({ stream, level: pinoLevel as Level })));
  // pino's flush() asks its stream; a multistream has none, so flush each target.
  const flushable = ms as typeof ms & { flush?: (cb: (err?: Error) => void) => void };
  flushable.flush = (cb) => {
    let pending = targets.length;
    const done = () => {
      if (--pending === 0) cb();
    };
    for (const t of targets) {
      const f = (t as { flush?: (cb: () => void) => void }).flush;
      if (typeof f === 'function') f.call(t, done);
      else done();
    }
  };
  return pino(options, flushable);
}

/** A logger that drops everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

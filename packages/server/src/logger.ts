// Structured logs: JSON lines on stderr through pino (fast, widely used, levels as etcd's zap).
import { pino, destination, stdTimeFunctions, type Logger } from 'pino';

export type { Logger };

export function createLogger(level: string, name: string): Logger {
  // etcd's 'panic' and 'fatal' both map to pino's fatal.
  const pinoLevel = level === 'panic' ? 'fatal' : level;
  return pino(
    { level: pinoLevel, base: { name }, timestamp: stdTimeFunctions.isoTime, formatters: { level: (label) => ({ level: label }) } },
    destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything, for tests. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

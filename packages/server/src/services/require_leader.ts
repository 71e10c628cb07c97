// Require-leader: etcd's answer to gRPC metadata `hasleader: true` (clientv3.WithRequireLeader,
// which Kubernetes' apiserver puts on its watches), after v3rpc/interceptor.go.
//
// - A unary call carrying it, on a member that knows no leader, fails at once with Unavailable
//   `etcdserver: no leader` (the client moves to another member).
// - A stream carrying it is refused the same way when it opens without a leader; otherwise it is
//   registered here, and ended with that status once the member has seen no leader at
//   maxNoLeaderChecks consecutive checks, one per election timeout (etcd's monitorLeader). A
//   stream without the metadata is never registered and never ended for this reason.
//
// The checks themselves (which call is unary, learner rules first) are in services/call_guard.ts;
// this file is the metadata test and the monitor. Other streaming services hook in through the
// guard (automatic) or, for a custom ending, `monitor.register(call, onNoLeader)`.
import type { Metadata } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { RpcError, toServiceError } from '../errors.js';
import type { Clock, Timer } from '../world/clock.js';

/** etcd's rpctypes.MetadataRequireLeaderKey and MetadataHasLeader. */
export const RequireLeaderKey = 'hasleader';
export const HasLeaderValue = 'true';

/** etcd's maxNoLeaderCnt: consecutive leaderless checks before hasleader streams are ended. */
export const maxNoLeaderChecks = 3;

/**
 * Whether a call asked for a leader: its first `hasleader` value is exactly "true", as etcd reads
 * it (`md["hasleader"][0] == "true"`). One map lookup; the hot path of every call.
 */
export function requiresLeader(md: Metadata | undefined): boolean {
  if (md === undefined) return false;
  const v = md.get(RequireLeaderKey);
  return v.length > 0 && v[0] === HasLeaderValue;
}

/** The status a require-leader call or stream gets: Unavailable `etcdserver: no leader`. */
export function noLeaderError(): Error {
  return toServiceError(new RpcError('NoLeader'));
}

/** What the monitor can end: grpc-js's server streams (writable, duplex) satisfy it. */
export interface EndableCall {
  emit(event: string | symbol, ...args: unknown[]): boolean;
  once(event: string | symbol, listener: (...args: unknown[]) => void): unknown;
  removeListener(event: string | symbol, listener: (...args: unknown[]) => void): unknown;
  readonly writableEnded?: boolean;
  readonly destroyed?: boolean;
}

/**
 * Ends a grpc-js server stream with `err` as its status: an 'error' on the call makes grpc-js
 * send that status as the trailers (after the messages already written), and the service's own
 * 'error'/'close' listeners clean up its side. A stream already ended is left alone.
 */
export function endStream(call: EndableCall, err: Error): void {
  if (call.writableEnded || call.destroyed) return;
  call.emit('error', err);
}

/** The events after which a grpc-js server stream is over, whoever ended it. */
const endEvents = ['finish', 'close', 'cancelled', 'error'] as const;

export interface RequireLeaderOptions {
  clock: Clock;
  /** Whether this member currently knows a leader (consensus.leader() !== 0). */
  hasLeader: () => boolean;
  /** How often to check: etcd uses one election timeout. */
  intervalMs: number;
  logger?: Logger;
}

/**
 * The registry of streams opened with `hasleader: true` and the loop that ends them.
 *
 * Invariant: a stream is in `streams` only between its register() and the first of its end
 * events (or its unregister(), or the monitor ending it), so ended streams are never retained.
 */
export class RequireLeaderMonitor {
  private readonly streams = new Set<() => void>();
  private misses = 0;
  private timer?: Timer;

  constructor(private readonly o: RequireLeaderOptions) {}

  /** Starts the check loop (idempotent). */
  start(): void {
    this.timer ??= this.o.clock.setInterval(() => this.check(), this.o.intervalMs);
  }

  /** Stops the loop; registered streams stay open (the server closes them as it stops). */
  stop(): void {
    this.timer?.clear();
    this.timer = undefined;
  }

  /** Streams currently registered (tests: nothing leaks). */
  get size(): number {
    return this.streams.size;
  }

  /** Consecutive checks that found no leader. */
  get leaderlessChecks(): number {
    return this.misses;
  }

  /**
   * Registers a stream that asked for a leader. When the member has had no leader for
   * maxNoLeaderChecks checks, `onNoLeader` runs once (default: end `call` with Unavailable
   * `etcdserver: no leader`). The registration ends by itself when the stream ends (finish,
   * close, cancelled, error); the function returned ends it earlier. Both are idempotent.
   */
  register(call: EndableCall, onNoLeader: () => void = () => endStream(call, noLeaderError())): () => void {
    let done = false;
    const unregister = (): void => {
      if (done) return;
      done = true;
      this.streams.delete(entry);
      for (const ev of endEvents) call.removeListener(ev, unregister);
    };
    const entry = (): void => {
      unregister();
      onNoLeader();
    };
    this.streams.add(entry);
    for (const ev of endEvents) call.once(ev, unregister);
    return unregister;
  }

  /** One check (the loop's body; tests may call it directly). */
  check(): void {
    if (this.o.hasLeader()) {
      this.misses = 0;
      return;
    }
    this.misses++;
    // As etcd: ending a stream costs the client a reconnect, so only after several election
    // timeouts without a leader; new require-leader calls are refused from the first moment.
    if (this.misses < maxNoLeaderChecks) return;
    if (this.streams.size === 0) return;
    const ending = [...this.streams];
    this.o.logger?.warn({ streams: ending.length, checks: this.misses }, 'no leader: ending streams that require one');
    for (const end of ending) {
      try {
        end();
      } catch (err) {
        // A stream that cannot be ended cleanly must not keep the others open.
        this.o.logger?.warn({ err }, 'ending a require-leader stream failed');
      }
    }
  }
}

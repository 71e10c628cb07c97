// The checks etcd's gRPC interceptors make before any handler runs (v3rpc/interceptor.go), in
// its order: learner rules, then require-leader. KvServer wraps every service's implementation
// with guardCalls (inside strictService, so malformed bytes are answered first, as grpc-go
// decodes a unary request before its interceptor runs).
import { RpcError, toServiceError } from '../errors.js';
import { endStream, noLeaderError, requiresLeader, type EndableCall, type RequireLeaderMonitor } from './require_leader.js';
import type { Metadata } from '@grpc/grpc-js';

export interface CallGuards {
  /** Whether this member is a learner (etcd: Status and serializable Range only). */
  isLearner: () => boolean;
  /** Whether this member knows a leader now. */
  hasLeader: () => boolean;
  /** Where streams opened with `hasleader: true` are registered. */
  requireLeader: RequireLeaderMonitor;
}

type AnyCall = EndableCall & { request?: unknown; metadata?: Metadata };

/** Fails a call before its handler: through the callback (unary) or as the stream's status. */
function fail(call: AnyCall, callback: ((e: unknown) => void) | undefined, err: Error): void {
  if (callback) callback(err);
  else endStream(call, err);
}

/**
 * Wraps each handler of a service implementation with etcd's interceptor checks:
 * - learners answer only Status and serializable Range; everything else, streams included,
 *   gets `etcdserver: rpc not supported for learner`;
 * - a call with metadata `hasleader: true` on a member without a leader gets Unavailable
 *   `etcdserver: no leader` at once; such a stream (no callback: server or bidi streaming) is
 *   registered with the require-leader monitor, which ends it after a few leaderless checks.
 */
export function guardCalls<T extends object>(impl: T, g: CallGuards): T {
  const out: Record<string, unknown> = {};
  for (const [name, handler] of Object.entries(impl)) {
    if (typeof handler !== 'function') continue;
    const h = handler as (...a: unknown[]) => unknown;
    out[name] = (call: AnyCall, callback?: (e: unknown) => void) => {
      if (g.isLearner()) {
        const req = call.request as { serializable?: boolean } | undefined;
        const allowed = name === 'status' || (name === 'range' && req?.serializable === true);
        if (!allowed) return fail(call, callback, toServiceError(new RpcError('NotSupportedForLearner')));
      }
      if (requiresLeader(call.metadata)) {
        if (!g.hasLeader()) return fail(call, callback, noLeaderError());
        if (!callback) g.requireLeader.register(call);
      }
      return h.call(impl, call, callback);
    };
  }
  return out as T;
}

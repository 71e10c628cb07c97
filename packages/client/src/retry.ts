// Which failed calls are sent again, and how long to wait in between: etcd 3.4's client retry
// interceptor (clientv3/retry.go, retry_interceptor.go), written out.
//
// etcd tags every RPC as repeatable (reads, lease calls, member list, status/hash/alarm/
// snapshot/move-leader) or not (put, delete, txn, compact, member changes, defragment).
// - A repeatable call is retried after any UNAVAILABLE status: transport failures and etcd's own
//   UNAVAILABLE errors ("no leader", "leader changed", "request timed out", ...).
// - A non-repeatable call is retried only when it certainly never reached a server (no
//   connection was available).
// Additions, all for errors a server returns before the request entered the raft log, so it
// cannot have been applied; they are retried for every call: "etcdserver: too many requests"
// (RESOURCE_EXHAUSTED, refused before proposing), "etcdserver: no leader" (the proposal was
// dropped, or a require-leader call was refused before its handler ran) and "raft proposal
// dropped" (raft refused the entry, e.g. during a leadership transfer).
import { status } from '@grpc/grpc-js';
import type { Random } from './clock.js';
import { type EtcdError, isTransportFailure, neverSent } from './errors.js';

export interface RetryOptions {
  /** Attempts per call, the first included (default 100, etcd's defaultUnaryMaxRetries; 1 = no retry). */
  maxAttempts?: number;
  /** Wait after each round of quorum-many attempts (ms, default 25 as etcd). */
  backoffMs?: number;
  /** Fraction of `backoffMs` added or taken at random (default 0.1 as etcd). */
  jitter?: number;
}

export interface RetryConfig {
  readonly maxAttempts: number;
  readonly backoffMs: number;
  readonly jitter: number;
}

export const DEFAULT_RETRY: RetryConfig = { maxAttempts: 100, backoffMs: 25, jitter: 0.1 };

export function retryConfig(o: RetryOptions | undefined): RetryConfig {
  const c = { ...DEFAULT_RETRY, ...definedOnly(o ?? {}) };
  if (!Number.isInteger(c.maxAttempts) || c.maxAttempts < 1)
    throw new RangeError(`retry.maxAttempts must be an integer >= 1, got ${c.maxAttempts}`);
  if (!(c.backoffMs >= 0)) throw new RangeError(`retry.backoffMs must be >= 0, got ${c.backoffMs}`);
  if (!(c.jitter >= 0 && c.jitter <= 1)) throw new RangeError(`retry.jitter must be in [0, 1], got ${c.jitter}`);
  return c;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** True when a server refused the request before proposing it (see the header). */
export function refusedBeforeApply(err: EtcdError): boolean {
  return err.etcdName === 'TooManyRequests' || err.etcdName === 'NoLeader' || err.details === 'raft proposal dropped';
}

/** etcd's isSafeRetry: may a call with this policy be sent again after `err`? */
export function isSafeRetry(err: EtcdError, repeatable: boolean): boolean {
  if (err.code === status.DEADLINE_EXCEEDED || err.code === status.CANCELLED) return false;
  if (refusedBeforeApply(err)) return true;
  if (repeatable) return err.code === status.UNAVAILABLE;
  return neverSent(err);
}

/**
 * Should the endpoint that answered `err` be skipped for a while? Transport failures, and a
 * member that says it has no leader or is stopping (another member may well have one).
 */
export function marksUnhealthy(err: EtcdError): boolean {
  return isTransportFailure(err) || err.etcdName === 'NoLeader' || err.etcdName === 'Stopped' || err.etcdName === 'NotCapable';
}

/**
 * etcd's roundRobinQuorumBackoff + backoffLinearWithJitter: no wait between the attempts of one
 * round of `quorum` endpoints, then `backoffMs` ± `jitter`. `attempt` counts from 1 (the wait
 * before the second attempt is backoff(1)).
 */
export function backoffMs(cfg: RetryConfig, attempt: number, endpoints: number, random: Random): number {
  const quorum = Math.floor(endpoints / 2) + 1;
  if (attempt % quorum !== 0) return 0;
  const mult = 1 + cfg.jitter * (random.float() * 2 - 1);
  return Math.max(0, cfg.backoffMs * mult);
}

/** Streams (watch, keep-alive) reconnect after these and end after any other: etcd's isHaltErr inverted. */
export function isStreamRetryable(err: EtcdError): boolean {
  return err.code === status.UNAVAILABLE || err.code === status.INTERNAL;
}

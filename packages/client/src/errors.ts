// Typed errors. Every failure the client reports is an EtcdError carrying the gRPC status code
// and the status details. Errors whose details are one of etcd's error texts (ErrorText in
// @kv/api) get a subclass, so callers can `instanceof` instead of matching strings.
import { status, type ServiceError } from '@grpc/grpc-js';
import { ErrorText, etcdErrorName, type EtcdErrorName, type etcdserverpb } from '@kv/api';

/** Base class: a failed call. `code` is the gRPC status, `details` the server's text. */
export class EtcdError extends Error {
  /** gRPC status code (`status.*` from @grpc/grpc-js). */
  readonly code: status;
  /** The status details as sent by the server (or by grpc-js for transport failures). */
  readonly details: string;
  /** Which of etcd's errors this is, when the details are one of etcd's texts. */
  readonly etcdName: EtcdErrorName | undefined;
  /** For errors that end a watcher: the server's cancel response. */
  watchResponse?: etcdserverpb.WatchResponse;

  constructor(code: status, details: string, options?: { cause?: unknown }) {
    super(details, options);
    this.name = new.target.name;
    this.code = code;
    this.details = details;
    this.etcdName = etcdErrorName(details);
  }
}

/** A revision older than the last compaction was asked for. */
export class CompactedError extends EtcdError {
  /**
   * The compaction revision when the server told it (watch cancellations do); 0n when it did
   * not (a Range at a compacted revision carries only the text).
   */
  readonly compactRevision: bigint;
  constructor(code: status, details: string, compactRevision = 0n, options?: { cause?: unknown }) {
    super(code, details, options);
    this.compactRevision = compactRevision;
  }
}
export class FutureRevisionError extends EtcdError {}
export class LeaseNotFoundError extends EtcdError {}
export class LeaseExistError extends EtcdError {}
export class EmptyKeyError extends EtcdError {}
export class KeyNotFoundError extends EtcdError {}
export class DuplicateKeyError extends EtcdError {}
export class TooManyOpsError extends EtcdError {}
export class NoSpaceError extends EtcdError {}
export class NoLeaderError extends EtcdError {}
export class NotLeaderError extends EtcdError {}
export class LeaderChangedError extends EtcdError {}
export class RequestTooLargeError extends EtcdError {}
export class TooManyRequestsError extends EtcdError {}
export class PermissionDeniedError extends EtcdError {}
export class AuthFailedError extends EtcdError {}
export class InvalidAuthTokenError extends EtcdError {}
export class AuthNotEnabledError extends EtcdError {}
export class MemberNotFoundError extends EtcdError {}
/** One of etcd's "request timed out" family. */
export class ServerTimeoutError extends EtcdError {}
/** Any other error that carries one of etcd's texts (see `etcdName`). */
export class EtcdServerError extends EtcdError {}

/** A watcher was cancelled by the server for a reason other than compaction. */
export class WatchCanceledError extends EtcdError {}

/** No endpoint could be reached (transport failure, not an etcd error). */
export class UnavailableError extends EtcdError {}
/** The call's deadline passed. */
export class DeadlineExceededError extends EtcdError {}
/** The call was cancelled locally (client closed, watcher/keep-alive stopped, signal aborted). */
export class CancelledError extends EtcdError {}

type Ctor = new (code: status, details: string, options?: { cause?: unknown }) => EtcdError;

const byName: Partial<Record<EtcdErrorName, Ctor>> = {
  FutureRev: FutureRevisionError,
  LeaseNotFound: LeaseNotFoundError,
  LeaseExist: LeaseExistError,
  EmptyKey: EmptyKeyError,
  KeyNotFound: KeyNotFoundError,
  DuplicateKey: DuplicateKeyError,
  TooManyOps: TooManyOpsError,
  NoSpace: NoSpaceError,
  NoLeader: NoLeaderError,
  NotLeader: NotLeaderError,
  LeaderChanged: LeaderChangedError,
  RequestTooLarge: RequestTooLargeError,
  TooManyRequests: TooManyRequestsError,
  PermissionDenied: PermissionDeniedError,
  AuthFailed: AuthFailedError,
  InvalidAuthToken: InvalidAuthTokenError,
  AuthNotEnabled: AuthNotEnabledError,
  MemberNotFound: MemberNotFoundError,
  Timeout: ServerTimeoutError,
  TimeoutDueToLeaderFail: ServerTimeoutError,
  TimeoutDueToConnectionLost: ServerTimeoutError,
  TimeoutWaitAppliedIndex: ServerTimeoutError,
};

/** Build the typed error for a status code and details text. */
export function makeError(code: status, details: string, cause?: unknown): EtcdError {
  const name = etcdErrorName(details);
  const opts = cause === undefined ? undefined : { cause };
  if (name === 'Compacted') return new CompactedError(code, details, 0n, opts);
  if (name !== undefined) {
    const C = byName[name] ?? EtcdServerError;
    return new C(code, details, opts);
  }
  switch (code) {
    case status.UNAVAILABLE:
      return new UnavailableError(code, details, opts);
    case status.DEADLINE_EXCEEDED:
      return new DeadlineExceededError(code, details, opts);
    case status.CANCELLED:
      return new CancelledError(code, details, opts);
    default:
      return new EtcdError(code, details, opts);
  }
}

/** Convert whatever a grpc-js call rejected with into an EtcdError (idempotent). */
export function toEtcdError(err: unknown): EtcdError {
  if (err instanceof EtcdError) return err;
  if (isServiceError(err)) return makeError(err.code, err.details ?? err.message, err);
  const msg = err instanceof Error ? err.message : String(err);
  return new EtcdError(status.UNKNOWN, msg, { cause: err });
}

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === 'object' && err !== null && typeof (err as { code?: unknown }).code === 'number' && 'details' in err;
}

/**
 * True for failures of the transport rather than of the request: the endpoint refused or
 * dropped the connection. etcd's own UNAVAILABLE errors (no leader, timeouts, ...) carry an
 * etcd text and are not transport failures.
 */
export function isTransportFailure(err: EtcdError): boolean {
  return err.code === status.UNAVAILABLE && err.etcdName === undefined;
}

/**
 * True when the request certainly never reached a server (the channel had no connection), so
 * even a non-idempotent request may be sent again elsewhere.
 */
export function neverSent(err: EtcdError): boolean {
  return (
    isTransportFailure(err) &&
    /No connection established|Connection refused|ECONNREFUSED|Name resolution failed|ENOTFOUND/i.test(err.details)
  );
}

/** The etcd text for a lease that does not exist (what keepAliveOnce reports for TTL <= 0). */
export const leaseNotFoundText: string = ErrorText.LeaseNotFound;

/**
 * Errors after which etcd's Go client fetches a new token and sends the call (or creates the
 * watch) again: `invalid auth token` (expired, or lost in a member restart) and `revision of auth
 * store is old`.
 */
export function shouldRefreshToken(err: unknown): boolean {
  return err instanceof InvalidAuthTokenError || (err instanceof EtcdError && err.etcdName === 'AuthOldRevision');
}

/** Errors of the Authenticate call a client makes to log in (not of the call that needed it). */
const loginErrors = new WeakSet<object>();

/** Mark `err` as a failed login (connection.ts). */
export function markLoginError<T>(err: T): T {
  if (typeof err === 'object' && err !== null) loginErrors.add(err);
  return err;
}

/** Whether `err` is the failure of logging in (wrong password, unreachable member while logging in). */
export function isLoginError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && loginErrors.has(err);
}

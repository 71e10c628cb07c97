// Errors that leave the server as gRPC statuses carrying etcd's exact texts and codes.
import { ErrorCode, ErrorText, type EtcdErrorName } from '@kv/api';
import { Metadata, status, type ServiceError } from '@grpc/grpc-js';

/** An error with an etcd name; the gRPC layer sends it as etcd's status code and text. */
export class RpcError extends Error {
  readonly code: status;
  constructor(readonly etcdName: EtcdErrorName) {
    super(ErrorText[etcdName]);
    this.name = 'RpcError';
    this.code = ErrorCode[etcdName];
  }
}

/** gRPC status codes (numbered by the gRPC spec) as Go's codes.Code.String() names them. */
const GO_CODE_NAMES = [
  'OK',
  'Canceled',
  'Unknown',
  'InvalidArgument',
  'DeadlineExceeded',
  'NotFound',
  'AlreadyExists',
  'PermissionDenied',
  'ResourceExhausted',
  'FailedPrecondition',
  'Aborted',
  'OutOfRange',
  'Unimplemented',
  'Internal',
  'Unavailable',
  'DataLoss',
  'Unauthenticated',
];

/**
 * An error as Go prints a gRPC status error: `rpc error: code = PermissionDenied desc =
 * etcdserver: permission denied`. etcd's watch cancel reasons are this text (`ErrGRPC*.Error()`).
 */
export function goStatusText(err: unknown): string {
  const se = toServiceError(err);
  return `rpc error: code = ${GO_CODE_NAMES[se.code] ?? `Code(${se.code})`} desc = ${se.details}`;
}

/** Anything thrown by a handler → a ServiceError. Unknown errors become UNKNOWN with their text. */
export function toServiceError(err: unknown): ServiceError {
  const e = err as { etcdName?: string; name?: string; code?: unknown; message?: string; details?: unknown };
  let code: status = status.UNKNOWN;
  // A gRPC error from another member (forwarded requests) carries its text in `details`.
  let details = typeof e?.details === 'string' ? e.details : String(e?.message ?? err);
  // RpcError carries `etcdName`; @kv/mvcc's KvError carries the same key as `name`.
  const name = [e?.etcdName, e?.name].find((n): n is EtcdErrorName => typeof n === 'string' && n in ErrorText);
  if (name !== undefined) {
    code = ErrorCode[name];
    details = ErrorText[name];
  } else if (e && typeof e.code === 'number' && e.code in status) {
    code = e.code as status;
  }
  const se = new Error(details) as ServiceError;
  se.code = code;
  se.details = details;
  se.metadata = new Metadata();
  return se;
}

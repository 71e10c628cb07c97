// etcd v3 gRPC error table (server side), as defined by etcd 3.4's
// etcdserver/api/v3rpc/rpctypes/error.go. Clients (etcdctl, clientv3, jetcd, ...) match
// errors by the exact message text, so these strings must not change.
import { status } from '@grpc/grpc-js';

/** Exact gRPC status message etcd returns for each error. */
export const ErrorText = {
  // KV / MVCC
  EmptyKey: 'etcdserver: key is not provided',
  KeyNotFound: 'etcdserver: key not found',
  ValueProvided: 'etcdserver: value is provided',
  LeaseProvided: 'etcdserver: lease is provided',
  TooManyOps: 'etcdserver: too many operations in txn request',
  DuplicateKey: 'etcdserver: duplicate key given in txn request',
  Compacted: 'etcdserver: mvcc: required revision has been compacted',
  FutureRev: 'etcdserver: mvcc: required revision is a future revision',
  NoSpace: 'etcdserver: mvcc: database space exceeded',

  // Lease
  LeaseNotFound: 'etcdserver: requested lease not found',
  LeaseExist: 'etcdserver: lease already exists',
  LeaseTTLTooLarge: 'etcdserver: too large lease TTL',

  // Watch
  WatchCanceled: 'etcdserver: watch canceled',

  // Cluster membership
  MemberExist: 'etcdserver: member ID already exist',
  PeerURLExist: 'etcdserver: Peer URLs already exists',
  MemberNotEnoughStarted: 'etcdserver: re-configuration failed due to not enough started members',
  MemberBadURLs: 'etcdserver: given member URLs are invalid',
  MemberNotFound: 'etcdserver: member not found',
  MemberNotLearner: 'etcdserver: can only promote a learner member',
  LearnerNotReady: 'etcdserver: can only promote a learner member which is in sync with leader',
  TooManyLearners: 'etcdserver: too many learner members in cluster',

  // Request limits
  RequestTooLarge: 'etcdserver: request is too large',
  TooManyRequests: 'etcdserver: too many requests',

  // Auth
  RootUserNotExist: 'etcdserver: root user does not exist',
  RootRoleNotExist: 'etcdserver: root user does not have root role',
  UserAlreadyExist: 'etcdserver: user name already exists',
  UserEmpty: 'etcdserver: user name is empty',
  UserNotFound: 'etcdserver: user name not found',
  RoleAlreadyExist: 'etcdserver: role name already exists',
  RoleNotFound: 'etcdserver: role name not found',
  RoleEmpty: 'etcdserver: role name is empty',
  AuthFailed: 'etcdserver: authentication failed, invalid user ID or password',
  PermissionDenied: 'etcdserver: permission denied',
  RoleNotGranted: 'etcdserver: role is not granted to the user',
  PermissionNotGranted: 'etcdserver: permission is not granted to the role',
  AuthNotEnabled: 'etcdserver: authentication is not enabled',
  InvalidAuthToken: 'etcdserver: invalid auth token',
  InvalidAuthMgmt: 'etcdserver: invalid auth management',
  AuthOldRevision: 'etcdserver: revision of auth store is old',

  // Server / raft
  NoLeader: 'etcdserver: no leader',
  NotLeader: 'etcdserver: not leader',
  LeaderChanged: 'etcdserver: leader changed',
  NotCapable: 'etcdserver: not capable',
  Stopped: 'etcdserver: server stopped',
  Timeout: 'etcdserver: request timed out',
  TimeoutDueToLeaderFail: 'etcdserver: request timed out, possibly due to previous leader failure',
  TimeoutDueToConnectionLost: 'etcdserver: request timed out, possibly due to connection lost',
  TimeoutWaitAppliedIndex: 'etcdserver: request timed out, waiting for the applied index took too long',
  Unhealthy: 'etcdserver: unhealthy cluster',
  Corrupt: 'etcdserver: corrupt cluster',
  NotSupportedForLearner: 'etcdserver: rpc not supported for learner',
  BadLeaderTransferee: 'etcdserver: bad leader transferee',
} as const;

/** Name of an etcd v3 error, e.g. 'Compacted'. */
export type EtcdErrorName = keyof typeof ErrorText;

/** gRPC status code etcd returns with each error. */
export const ErrorCode = {
  // KV / MVCC
  EmptyKey: status.INVALID_ARGUMENT,
  KeyNotFound: status.INVALID_ARGUMENT,
  ValueProvided: status.INVALID_ARGUMENT,
  LeaseProvided: status.INVALID_ARGUMENT,
  TooManyOps: status.INVALID_ARGUMENT,
  DuplicateKey: status.INVALID_ARGUMENT,
  Compacted: status.OUT_OF_RANGE,
  FutureRev: status.OUT_OF_RANGE,
  NoSpace: status.RESOURCE_EXHAUSTED,

  // Lease
  LeaseNotFound: status.NOT_FOUND,
  LeaseExist: status.FAILED_PRECONDITION,
  LeaseTTLTooLarge: status.OUT_OF_RANGE,

  // Watch
  WatchCanceled: status.CANCELLED,

  // Cluster membership
  MemberExist: status.FAILED_PRECONDITION,
  PeerURLExist: status.FAILED_PRECONDITION,
  MemberNotEnoughStarted: status.FAILED_PRECONDITION,
  MemberBadURLs: status.INVALID_ARGUMENT,
  MemberNotFound: status.NOT_FOUND,
  MemberNotLearner: status.FAILED_PRECONDITION,
  LearnerNotReady: status.FAILED_PRECONDITION,
  TooManyLearners: status.FAILED_PRECONDITION,

  // Request limits
  RequestTooLarge: status.INVALID_ARGUMENT,
  TooManyRequests: status.RESOURCE_EXHAUSTED,

  // Auth
  RootUserNotExist: status.FAILED_PRECONDITION,
  RootRoleNotExist: status.FAILED_PRECONDITION,
  UserAlreadyExist: status.FAILED_PRECONDITION,
  UserEmpty: status.INVALID_ARGUMENT,
  UserNotFound: status.FAILED_PRECONDITION,
  RoleAlreadyExist: status.FAILED_PRECONDITION,
  RoleNotFound: status.FAILED_PRECONDITION,
  RoleEmpty: status.INVALID_ARGUMENT,
  AuthFailed: status.INVALID_ARGUMENT,
  PermissionDenied: status.PERMISSION_DENIED,
  RoleNotGranted: status.FAILED_PRECONDITION,
  PermissionNotGranted: status.FAILED_PRECONDITION,
  AuthNotEnabled: status.FAILED_PRECONDITION,
  InvalidAuthToken: status.UNAUTHENTICATED,
  InvalidAuthMgmt: status.INVALID_ARGUMENT,
  AuthOldRevision: status.INVALID_ARGUMENT,

  // Server / raft
  NoLeader: status.UNAVAILABLE,
  NotLeader: status.FAILED_PRECONDITION,
  LeaderChanged: status.UNAVAILABLE,
  NotCapable: status.UNAVAILABLE,
  Stopped: status.UNAVAILABLE,
  Timeout: status.UNAVAILABLE,
  TimeoutDueToLeaderFail: status.UNAVAILABLE,
  TimeoutDueToConnectionLost: status.UNAVAILABLE,
  TimeoutWaitAppliedIndex: status.UNAVAILABLE,
  Unhealthy: status.UNAVAILABLE,
  Corrupt: status.DATA_LOSS,
  NotSupportedForLearner: status.UNAVAILABLE,
  BadLeaderTransferee: status.FAILED_PRECONDITION,
} as const satisfies Record<EtcdErrorName, status>;

const byText: ReadonlyMap<string, EtcdErrorName> = new Map(
  (Object.keys(ErrorText) as EtcdErrorName[]).map((name) => [ErrorText[name], name]),
);

/** Reverse lookup: the error name for an etcd error message, or undefined. */
export function etcdErrorName(message: string): EtcdErrorName | undefined {
  return byText.get(message);
}

/** gRPC status codes (numbering fixed by the gRPC spec) as Go's codes.Code.String() names them. */
export const GoCodeNames = [
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
] as const;

/** Go's name of a gRPC status code (`Code(n)` for one outside the spec, as Go prints it). */
export function goCodeName(code: number): string {
  return GoCodeNames[code] ?? `Code(${code})`;
}

/**
 * How a Go gRPC status error prints (status.Error(...).Error()): etcd puts this text where it
 * stores an error as a string, e.g. a watch's cancel_reason (`rpctypes.ErrGRPCPermissionDenied.Error()`).
 */
export function goStatusText(code: number, message: string): string {
  return `rpc error: code = ${goCodeName(code)} desc = ${message}`;
}

// @kv/client: a typed client for etcd v3's gRPC API (works against real etcd and kvd).
export { Client, Maintenance, Cluster, OLD_CLUSTER_TEXT } from './client.js';
export type { ClientOptions, EndpointCallOpts } from './client.js';
export type { CallOpts, TlsOptions, AuthOptions, EndpointStats } from './connection.js';
export { Auth, PERMISSION_TYPES, strToPermissionType } from './auth.js';
export type { PermissionType, UserAddOptions } from './auth.js';
export { Namespace, NamespaceLease, namespace, prefixInterval } from './namespace.js';
export { stm } from './stm.js';
export type { STM, StmOptions, Isolation, TxnSender } from './stm.js';
export { DEFAULT_RETRY, isSafeRetry } from './retry.js';
export type { RetryOptions } from './retry.js';
export { Txn, Op, compare, rangeRequest, putRequest, deleteRequest } from './kv.js';
export type {
  GetOptions,
  PutOptions,
  DeleteOptions,
  CompactOptions,
  SortTarget,
  SortOrder,
  CompareTarget,
  CompareOp,
} from './kv.js';
export { Watcher } from './watch.js';
export type { WatchOptions } from './watch.js';
export { Lease, LeaseKeepAlive } from './lease.js';
export type { GrantOptions, TimeToLiveOptions } from './lease.js';
export { prefixEnd, toBuffer, resolveRange } from './bytes.js';
export type { Bytes, Int64, RangeSpec } from './bytes.js';
export { checkPeerUrls, InvalidPeerUrlError } from './peer_urls.js';
export { parseEndpoint } from './endpoints.js';
export type { Endpoint } from './endpoints.js';
export type { Clock, Random } from './clock.js';
export {
  EtcdError,
  CompactedError,
  FutureRevisionError,
  LeaseNotFoundError,
  LeaseExistError,
  EmptyKeyError,
  KeyNotFoundError,
  DuplicateKeyError,
  TooManyOpsError,
  NoSpaceError,
  NoLeaderError,
  NotLeaderError,
  LeaderChangedError,
  RequestTooLargeError,
  TooManyRequestsError,
  PermissionDeniedError,
  AuthFailedError,
  InvalidAuthTokenError,
  AuthNotEnabledError,
  MemberNotFoundError,
  ServerTimeoutError,
  EtcdServerError,
  WatchCanceledError,
  UnavailableError,
  DeadlineExceededError,
  CancelledError,
  makeError,
  toEtcdError,
  shouldRefreshToken,
  isLoginError,
} from './errors.js';
export { Session, DEFAULT_SESSION_TTL } from './concurrency/session.js';
export type { SessionOptions } from './concurrency/session.js';
export { Mutex } from './concurrency/mutex.js';
export type { LockOptions } from './concurrency/mutex.js';
export { Election } from './concurrency/election.js';
export type { CampaignOptions, ObserveOptions } from './concurrency/election.js';
export { SessionExpiredError, MutexLockedError, ElectionNotLeaderError, ElectionNoLeaderError } from './concurrency/errors.js';
export { LockClient, ElectionClient } from './concurrency/services.js';
export type { ServiceClientOptions, ServiceCallOpts } from './concurrency/services.js';

// @kv/server public surface.
export { grpcServerOptions, KvServer, withAutoTls } from './server.js';
export { certHosts, selfCert } from './transport/self_cert.js';
export type { SelfCertFiles } from './transport/self_cert.js';
export { defaultKeepaliveMinTimeMs, enforceKeepalivePolicy } from './keepalive_policy.js';
export type { KvServerOptions } from './server.js';
// Embedding a member or a local cluster in a Node process (etcd's embed package).
export { freeLoopbackPorts, startLocalCluster, startMember } from './embed.js';
export type { EmbeddedMember, EmbedOptions, LocalCluster, LocalClusterOptions } from './embed.js';
export { Member, EtcdApiVersion } from './member.js';
export type { MemberInfo, MemberOptions } from './member.js';
export {
  ConfigError,
  DefaultQuotaBytes,
  defaultConfig,
  formatInitialCluster,
  parseDuration,
  parseInitialCluster,
  parseUrl,
  parseUrlList,
  resolveConfig,
} from './config.js';
export type { InitialMember, ServerConfig, TlsFiles } from './config.js';
// --auth-token (simple | jwt,... | ''): parsed and its key files checked as kvd starts.
export { DefaultJwtTtlMs, JwtSignMethods, loadAuthTokenConfig } from './auth/token_options.js';
export type { AuthTokenConfig, JwtSignMethod, JwtTokenConfig } from './auth/token_options.js';
export { DataDirError } from './data_dir.js';
export { createLogger, silentLogger } from './logger.js';
export type { Logger } from './logger.js';
export { computeClusterId, computeMemberId } from './ids.js';
// The world a member is given (real parts for kvd; a simulation brings its own).
export { dataDirDisk, realClock, realRandom, sleep, TcpNetwork } from './world/index.js';
export type {
  Clock,
  ClusterFetcher,
  DiskLock,
  MemberDisk,
  MemberWorld,
  NetworkFactory,
  PeerAddress,
  PeerHandler,
  PeerNetwork,
  Random,
  ReceivedSnapshot,
  Timer,
} from './world/index.js';
export type { Consensus } from './consensus/consensus.js';
// The gRPC service implementations over a member (KvServer registers them; callable directly).
export { clusterService } from './services/cluster.js';
export { kvService } from './services/kv.js';
export { leaseService } from './services/lease.js';
export { maintenanceService } from './services/maintenance.js';
export { watchService } from './services/watch.js';
export { FAILPOINTS, initFailpoints, parseFailpoints } from './failpoints.js';
export type { FailpointName, FailpointAction } from './failpoints.js';
export { RpcError } from './errors.js';
export { ReadContexts, readContextBytes } from './consensus/read_context.js';
export type { ReadContextSource } from './consensus/read_context.js';
// Snapshot files (etcd's format: bbolt + sha256 trailer): status, and restore into a new data dir.
export { RestoreError, restoreSnapshot } from './restore.js';
export type { RestoreOptions, RestoreProgress, RestoreResult } from './restore.js';
export { SnapshotFileError, boltStatus, hasChecksum, readSnapshotFile, snapshotStatus } from './snapshot_file.js';
export type { BoltView, ReadSnapshotOptions, SnapshotStatus } from './snapshot_file.js';

// @kv/server public surface.
export { KvServer } from './server.js';
export type { KvServerOptions } from './server.js';
export { Member, EtcdApiVersion } from './member.js';
export type { MemberInfo, MemberOptions } from './member.js';
export {
  ConfigError,
  DefaultQuotaBytes,
  defaultConfig,
  formatInitialCluster,
  parseDuration,
  parseInitialCluster,
  parseUrlList,
  resolveConfig,
} from './config.js';
export type { InitialMember, ServerConfig, TlsFiles } from './config.js';
export { DataDirError } from './data_dir.js';
export { createLogger, silentLogger } from './logger.js';
export type { Logger } from './logger.js';
export { computeClusterId, computeMemberId } from './ids.js';
export { FAILPOINTS, initFailpoints, parseFailpoints } from './failpoints.js';
export type { FailpointName, FailpointAction } from './failpoints.js';

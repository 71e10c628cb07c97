// @kv/cluster-launcher: start a local N-member kvd or etcd cluster on loopback ports.
export { startCluster, ClusterStartError } from './cluster.js';
export type { Cluster, ClusterOptions } from './cluster.js';
export type { Member, ExitStatus, RestartOptions } from './member.js';
export { describeExit } from './member.js';
export { probeHealth } from './health.js';
export type { HealthState } from './health.js';
export { serverBinary, unavailableReason, SERVER_KINDS } from './binaries.js';
export type { ServerKind } from './binaries.js';
export { freePort, freePorts } from './ports.js';
export { parseCli, formatEndpoints, USAGE, UsageError } from './cli.js';
export type { CliCommand } from './cli.js';
export { until } from './until.js';
export { agreedLeader } from './leader.js';
export type { AgreedLeader } from './leader.js';

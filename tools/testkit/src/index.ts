// @kv/testkit: what every package's tests use to run things outside the test process.
export { until } from './until.js';
export type { UntilOptions } from './until.js';
export { holdPorts, freePort, freePorts, isAddrInUse, withFreshPorts } from './ports.js';
export type { HeldPorts, FreshPortsOptions } from './ports.js';
export { seededRandom, prng, Rand } from './rng.js';
export type { RandomSource } from './rng.js';
export { ManagedProcess, describeExit, runProcess, track } from './process.js';
export type { ExitStatus, ProcessSpec, ProbeResult, ReadyProbe, RunOptions, RunResult, WaitReadyOptions } from './process.js';
export { LogSink } from './logs.js';
export { probeHealth } from './health.js';
export type { HealthState } from './health.js';
export { ETCD_BIN, ETCDCTL_BIN, KVD_BIN, SERVER_KINDS, serverBinary, serverKinds, unavailableReason } from './binaries.js';
export type { ServerKind } from './binaries.js';
export { startServer } from './server.js';
export type { RunningServer, StartOptions } from './server.js';
export { fillUp, mountSmallFs } from './small_fs.js';
export type { SmallFs } from './small_fs.js';

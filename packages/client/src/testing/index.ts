// @kv/client/testing: helpers for suites that need a running etcd or kvd.
export { startServer, serverKinds, unavailableReason, freePort, ETCD_BIN, ETCDCTL_BIN, KVD_BIN } from './servers.js';
export type { RunningServer, ServerKind, StartOptions } from './servers.js';

// Member health as etcd defines it for clients (GET /health): the test kit's probe.
export { probeHealth } from '@kv/testkit';
export type { HealthState } from '@kv/testkit';

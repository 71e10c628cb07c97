// Where the server binaries are: the test kit's answer ($ETCD_BIN / $KVD_BIN override).
export { serverBinary, unavailableReason, SERVER_KINDS } from '@kv/testkit';
export type { ServerKind } from '@kv/testkit';

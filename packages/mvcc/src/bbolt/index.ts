// The bbolt file codec: etcd's backend and snapshot format (see format.ts).
export {
  BoltFormatError,
  BOLT_MAGIC,
  BOLT_VERSION,
  DEFAULT_PAGE_SIZE,
  fnv64a,
  type BoltMeta,
} from './format.js';
export { openBolt, etcdSnapshotHash, type BoltReader, type BoltBucketInfo, type SnapshotHashCheck } from './reader.js';
export {
  planBolt,
  writeBoltFile,
  BOLT_MAX_KEY_SIZE,
  BOLT_MAX_VALUE_SIZE,
  type BoltBucketInput,
  type BoltEntries,
  type BoltPlan,
  type BoltWriteOptions,
} from './writer.js';
export {
  etcdBackupBuckets,
  planEtcdBackup,
  CLUSTER_VERSION_KEY,
  type BucketView,
  type EtcdBackupOptions,
} from './etcd_backup.js';

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

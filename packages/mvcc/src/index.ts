// Public surface of @kv/mvcc (explicit, by name).

// ---- Part A: core (mvcc-core) ------------------------------------------------
export {
  Backend,
  BackendSnapshot,
  SnapshotReader,
  BatchTx,
  BUCKETS,
  ETCD_BUCKET_NAME,
  META_CONSISTENT_INDEX,
  META_FINISHED_COMPACT_REV,
  META_SCHEDULED_COMPACT_REV,
} from './backend.js';
export type { Bucket, EntriesRange, BackendOpenOptions } from './backend.js';
export { classicEngine } from './classic_engine.js';
export type {
  StorageEngine,
  StorageDb,
  DbSnapshot,
  DbIterator,
  DbIteratorOptions,
  DbBatchOp,
  DbReadOptions,
  DbUsage,
} from './storage_engine.js';
export { BackendCorruptError, META_DIGEST } from './backend_digest.js';
export {
  type Revision,
  REV_BYTES_LEN,
  MARKED_REV_BYTES_LEN,
  rev,
  compareRev,
  revGreaterThan,
  revEqual,
  revToBytes,
  bytesToRev,
  isTombstone,
  revKey,
  revKeyOfBytes,
  mainRevPrefix,
} from './revision.js';
export { KeyIndex, Generation, RevisionNotFoundError } from './key_index.js';
export type { KeyAt } from './key_index.js';
export { TreeIndex, keyString } from './tree_index.js';
export { KvError, CompactedError, FutureRevError } from './errors.js';
export { KVStore, TxnWrite } from './kvstore.js';
export type {
  LeaseBinding,
  RangeOptions,
  RangeResult,
  ReadView,
  PublishedChange,
  KVStoreOptions,
} from './kvstore.js';
export {
  applyRange,
  applyPut,
  applyDeleteRange,
  applyTxn,
  isTxnReadonly,
  isTxnSerializable,
  checkTxnRequest,
  checkRangeRequest,
  checkPutRequest,
  checkDeleteRequest,
} from './kv_apply.js';

export { realMvccClock } from './timers.js';
export type { MvccClock } from './timers.js';

// ---- Part B: watch (mvcc-watch) ----------------------------------------------
export {
  WatchableStore,
  WatchStream,
  WatchError,
  WatchErrorText,
  PROGRESS_WATCH_ID,
  defaultScheduler,
} from './watchable_store.js';
export type {
  WatchResponse,
  WatchSource,
  WatchOptions,
  WatchableStoreOptions,
  WatchStreamOptions,
  SyncScheduler,
} from './watchable_store.js';
export { WatcherGroup, isFromKeyEnd, targetContains } from './watcher_group.js';
export type { WatchTarget } from './watcher_group.js';
export { fragmentResponse } from './watch_fragment.js';
// ---- end of Part B -----------------------------------------------------------

// ---- bbolt: etcd's database file (read and write) -----------------------------
export {
  BoltFormatError,
  BOLT_MAGIC,
  BOLT_VERSION,
  DEFAULT_PAGE_SIZE,
  fnv64a,
  openBolt,
  etcdSnapshotHash,
  planBolt,
  writeBoltFile,
  BOLT_MAX_KEY_SIZE,
  BOLT_MAX_VALUE_SIZE,
  etcdBackupBuckets,
  planEtcdBackup,
  CLUSTER_VERSION_KEY,
} from './bbolt/index.js';
export type {
  BoltMeta,
  BoltReader,
  BoltBucketInfo,
  SnapshotHashCheck,
  BoltBucketInput,
  BoltEntries,
  BoltPlan,
  BoltWriteOptions,
  BucketView,
  EtcdBackupOptions,
} from './bbolt/index.js';

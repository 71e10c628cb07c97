/**
 * A kv backend as etcd 3.4's bbolt database: what the Maintenance.Snapshot RPC streams, so that
 * `etcdctl snapshot save | status | restore` and a real etcd take a kv backup.
 *
 * kv's buckets already hold etcd's records (revision keys → mvccpb.KeyValue, lease id → leasepb,
 * members' JSON, "removed", AlarmMember keys, auth records, meta's consistent_index and compaction
 * marks), so the mapping is by name (ETCD_BUCKET_NAME) and record for record, except:
 * - meta: kv's integrity digest (`kv_digest`) is kv's own and is left out (a restore into kv
 *   computes a new one as it copies);
 * - cluster: etcd keeps the cluster version under `clusterVersion` (membership/store.go); kv does
 *   not write it, so the caller's version is added when the bucket has none.
 * Every one of etcd's ten buckets is in the file, empty or not, as in a file etcd wrote (etcd
 * creates them all at start).
 *
 * Consistency and memory: both of planBolt's passes read the same point-in-time view (a LevelDB
 * snapshot held by the caller), bucket by bucket through the view's iterators; nothing but the
 * plan's skeleton and one page span is held.
 */
import { BUCKETS, ETCD_BUCKET_NAME, type Bucket } from '../backend.js';
import { META_DIGEST } from '../backend_digest.js';
import { planBolt, type BoltBucketInput, type BoltPlan } from './writer.js';

/** A point-in-time view of the backend's buckets (BackendSnapshot, SnapshotReader). */
export interface BucketView {
  entries(bucket: Bucket): AsyncIterable<[Buffer, Buffer]>;
}

export interface EtcdBackupOptions {
  /**
   * The cluster version written as the cluster bucket's `clusterVersion` when the backend has
   * none (etcd writes e.g. "3.4.0"). Omitted: the bucket is copied as it is.
   */
  clusterVersion?: string;
  /** bbolt page size (default 4096, etcd's on Linux x86-64). */
  pageSize?: number;
}

/** etcd's cluster bucket key of the cluster version. */
export const CLUSTER_VERSION_KEY = Buffer.from('clusterVersion');

/** meta keys that are kv's alone and never leave it in an etcd-format backup. */
const KV_ONLY_META: readonly Buffer[] = [META_DIGEST];

async function* withoutKeys(src: AsyncIterable<[Buffer, Buffer]>, drop: readonly Buffer[]): AsyncGenerator<[Buffer, Buffer]> {
  for await (const e of src) if (!drop.some((d) => d.equals(e[0]))) yield e;
}

/** `src` (ascending) with [key, value] inserted in order unless `key` is already there. */
async function* withDefault(src: AsyncIterable<[Buffer, Buffer]>, key: Buffer, value: Buffer): AsyncGenerator<[Buffer, Buffer]> {
  let placed = false;
  for await (const e of src) {
    if (!placed) {
      const c = Buffer.compare(key, e[0]);
      if (c === 0) placed = true;
      else if (c < 0) {
        placed = true;
        yield [key, value];
      }
    }
    yield e;
  }
  if (!placed) yield [key, value];
}

/** The buckets of the etcd-format backup of `view` (each readable twice, as planBolt reads). */
export function etcdBackupBuckets(view: BucketView, opts: EtcdBackupOptions = {}): BoltBucketInput[] {
  const version = opts.clusterVersion;
  if (version === '') throw new Error('etcd backup: empty cluster version');
  return BUCKETS.map((b) => ({
    name: ETCD_BUCKET_NAME[b],
    entries: () => {
      const src = view.entries(b);
      if (b === 'meta') return withoutKeys(src, KV_ONLY_META);
      if (b === 'cluster' && version !== undefined) return withDefault(src, CLUSTER_VERSION_KEY, Buffer.from(version));
      return src;
    },
  }));
}

/**
 * Plans the etcd-format bbolt database of `view` (pass 1 reads every bucket once); the plan's
 * chunks() reads them again and yields the file. `view` must stay open until chunks() is done.
 */
export async function planEtcdBackup(view: BucketView, opts: EtcdBackupOptions = {}): Promise<BoltPlan> {
  return await planBolt(etcdBackupBuckets(view, opts), opts.pageSize !== undefined ? { pageSize: opts.pageSize } : {});
}

// Histograms fed at the existing timing points (WAL fdatasync, backend batch commit, backend
// snapshot sends, peer pings). One observe per batch or per ping, never per request. They are
// made before the member (the peer network needs the ping recorder) and registered with the
// member's registry by MemberMetrics. Names, help texts and buckets are etcd 3.4's
// (wal/metrics.go, mvcc/backend/metrics.go, etcdserver/api/rafthttp/metrics.go).
import { exponentialBuckets, Histogram, type Metric } from 'prom-client';

export class Recorders {
  readonly walFsync = new Histogram({
    name: 'etcd_disk_wal_fsync_duration_seconds',
    help: 'The latency distributions of fsync called by WAL.',
    // 1 ms .. 8 s
    buckets: exponentialBuckets(0.001, 2, 14),
    registers: [],
  });
  readonly backendCommit = new Histogram({
    name: 'etcd_disk_backend_commit_duration_seconds',
    help: 'The latency distributions of commit called by backend.',
    buckets: exponentialBuckets(0.001, 2, 14),
    registers: [],
  });
  readonly backendSnapshot = new Histogram({
    name: 'etcd_disk_backend_snapshot_duration_seconds',
    help: 'The latency distribution of backend snapshots.',
    // 10 ms .. 655 s
    buckets: exponentialBuckets(0.01, 2, 17),
    registers: [],
  });
  readonly peerRtt = new Histogram({
    name: 'etcd_network_peer_round_trip_time_seconds',
    help: 'Round-Trip-Time histogram between peers',
    labelNames: ['To'],
    // 0.1 ms .. 3.2 s
    buckets: exponentialBuckets(0.0001, 2, 16),
    registers: [],
  });

  /** Observers in the shape @kv/wal, @kv/mvcc and the transport take (seconds). */
  readonly observeWalFsync = (s: number): void => this.walFsync.observe(s);
  readonly observeBackendCommit = (s: number): void => this.backendCommit.observe(s);
  readonly observeBackendSnapshot = (s: number): void => this.backendSnapshot.observe(s);
  /** etcd's label is the peer's member id in hex (types.ID.String()). */
  readonly observePeerRtt = (peer: bigint, s: number): void => this.peerRtt.observe({ To: peer.toString(16) }, s);

  all(): Metric[] {
    return [this.walFsync, this.backendCommit, this.backendSnapshot, this.peerRtt];
  }
}

// The member's Prometheus registry: etcd 3.4's metric names, types, help texts and labels
// (etcdserver/metrics.go, mvcc/metrics.go, wal/metrics.go, etcdserver/api/rafthttp/metrics.go),
// go-grpc-prometheus's gRPC metrics (grpc_metrics.ts), the disk and peer histograms
// (recorders.ts) and prom-client's default process_* and nodejs_* metrics.
//
// Everything here but the histograms is read at scrape time (collect callbacks) from what the
// member keeps anyway — raft's indexes, the store, the watchers, the WAL's and the transport's
// counters — or from MemberCounters' plain numbers, so serving requests pays nothing for it.
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { MemberCounters } from './counters.js';
import type { GrpcMetrics } from './grpc_metrics.js';
import type { Recorders } from './recorders.js';
import type { PeerTraffic } from '../transport/types.js';

/** What the collectors read, the member behind the least they need. */
export interface MetricsSource {
  memberId: bigint;
  serverVersion: string;
  clusterVersion(): string;
  hasLeader(): boolean;
  isLeader(): boolean;
  isLearner(): boolean;
  committedIndex(): bigint;
  appliedIndex(): bigint;
  pendingProposals(): number;
  raft(): { leaderChanges: number; proposalsFailed: number; heartbeatSendFailures: number };
  counters: MemberCounters;
  /** Backend bytes on disk (no I/O: the backend's running estimate). */
  dbSize(): number;
  /** Bytes of live data in the backend. */
  dbSizeInUse(): Promise<number>;
  quotaBytes(): number;
  keys(): number;
  currentRevision(): bigint;
  compactRevision(): bigint;
  /** Watchers in total and those being caught up (etcd's slow watchers), watch streams. */
  watchers(): { total: number; slow: number; streams: number };
  walWriteBytes(): number;
  /** By peer member id. */
  peers(): ReadonlyMap<bigint, PeerTraffic>;
}

export type MetricsLevel = 'basic' | 'extensive';

let processMetrics: Registry | undefined;
/**
 * prom-client's process_* and nodejs_* collectors, once per process: they watch the event loop
 * and GC for good, so several members in one process (tests, embedding) share one set.
 */
function processRegistry(): Registry {
  if (!processMetrics) {
    processMetrics = new Registry();
    collectDefaultMetrics({ register: processMetrics });
  }
  return processMetrics;
}

type Collect<T> = (this: T) => void | Promise<void>;

export class MemberMetrics {
  readonly registry = new Registry();

  constructor(src: MetricsSource, recorders: Recorders, grpc: GrpcMetrics) {
    const r = this.registry;
    const gauge = (name: string, help: string, value: () => number | bigint) =>
      new Gauge({
        name,
        help,
        registers: [r],
        collect() {
          this.set(Number(value()));
        },
      });
    const gaugeAsync = (name: string, help: string, collect: Collect<Gauge>) => new Gauge({ name, help, registers: [r], collect });
    const counter = (name: string, help: string, value: () => number) =>
      new Counter({
        name,
        help,
        registers: [r],
        collect() {
          this.reset();
          this.inc(value());
        },
      });
    const info = (name: string, help: string, label: string, value: () => string) =>
      new Gauge({
        name,
        help,
        labelNames: [label],
        registers: [r],
        collect() {
          this.reset();
          this.set({ [label]: value() }, 1);
        },
      });
    const c = src.counters;

    // etcdserver/metrics.go
    gauge('etcd_server_has_leader', 'Whether or not a leader exists. 1 is existence, 0 is not.', () => (src.hasLeader() ? 1 : 0));
    gauge('etcd_server_is_leader', 'Whether or not this member is a leader. 1 if is, 0 otherwise.', () => (src.isLeader() ? 1 : 0));
    gauge('etcd_server_is_learner', 'Whether or not this member is a learner. 1 if is, 0 otherwise.', () => (src.isLearner() ? 1 : 0));
    counter('etcd_server_leader_changes_seen_total', 'The number of leader changes seen.', () => src.raft().leaderChanges);
    counter(
      'etcd_server_heartbeat_send_failures_total',
      'The total number of leader heartbeat send failures (likely overloaded from slow disk).',
      () => src.raft().heartbeatSendFailures,
    );
    counter(
      'etcd_server_slow_apply_total',
      'The total number of slow apply requests (likely overloaded from slow disk).',
      () => c.slowApply,
    );
    // etcd's committed/applied "totals" are gauges of the raft indexes.
    gauge('etcd_server_proposals_committed_total', 'The total number of consensus proposals committed.', () => src.committedIndex());
    gauge('etcd_server_proposals_applied_total', 'The total number of consensus proposals applied.', () => src.appliedIndex());
    gauge('etcd_server_proposals_pending', 'The current number of pending proposals to commit.', () => src.pendingProposals());
    counter('etcd_server_proposals_failed_total', 'The total number of failed proposals seen.', () => src.raft().proposalsFailed);
    gauge('etcd_server_quota_backend_bytes', 'Current backend storage quota size in bytes.', () => src.quotaBytes());
    info('etcd_server_id', "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", 'server_id', () =>
      src.memberId.toString(16),
    );
    info(
      'etcd_server_version',
      "Which version is running. 1 for 'server_version' label with current version.",
      'server_version',
      () => src.serverVersion,
    );
    info(
      'etcd_cluster_version',
      "Which version is running. 1 for 'cluster_version' label with current cluster version",
      'cluster_version',
      // etcd reports major.minor ("3.4")
      () => src.clusterVersion().split('.').slice(0, 2).join('.'),
    );

    // mvcc/metrics.go (3.4 exports the etcd_debugging_mvcc_* operation counters beside the new names)
    for (const prefix of ['etcd_mvcc', 'etcd_debugging_mvcc']) {
      counter(`${prefix}_put_total`, 'Total number of puts seen by this member.', () => c.put);
      counter(`${prefix}_delete_total`, 'Total number of deletes seen by this member.', () => c.deleteRange);
      counter(`${prefix}_range_total`, 'Total number of ranges seen by this member.', () => c.range);
      counter(`${prefix}_txn_total`, 'Total number of txns seen by this member.', () => c.txn);
    }
    gauge('etcd_debugging_mvcc_total_put_size_in_bytes', 'The total size of put kv pairs seen by this member.', () => c.putBytes);
    gauge('etcd_debugging_mvcc_keys_total', 'Total number of keys.', () => src.keys());
    gauge('etcd_debugging_mvcc_watcher_total', 'Total number of watchers.', () => src.watchers().total);
    gauge('etcd_debugging_mvcc_slow_watcher_total', 'Total number of unsynced slow watchers.', () => src.watchers().slow);
    gauge('etcd_debugging_mvcc_watch_stream_total', 'Total number of watch streams.', () => src.watchers().streams);
    gauge('etcd_debugging_mvcc_current_revision', 'The current revision of store.', () => src.currentRevision());
    gauge('etcd_debugging_mvcc_compact_revision', 'The revision of the last compaction in store.', () => src.compactRevision());
    const dbHelp = 'Total size of the underlying database physically allocated in bytes.';
    gauge('etcd_mvcc_db_total_size_in_bytes', dbHelp, () => src.dbSize());
    gauge('etcd_debugging_mvcc_db_total_size_in_bytes', dbHelp, () => src.dbSize());
    gaugeAsync(
      'etcd_mvcc_db_total_size_in_use_in_bytes',
      'Total size of the underlying database logically in use in bytes.',
      async function () {
        this.set(await src.dbSizeInUse());
      },
    );

    // wal/metrics.go (a gauge in etcd 3.4)
    gauge('etcd_disk_wal_write_bytes_total', 'Total number of bytes written in WAL.', () => src.walWriteBytes());

    // etcdserver/api/rafthttp/metrics.go: per peer, labelled with its id in hex
    const perPeer = (name: string, help: string, label: 'To' | 'From', pick: (t: PeerTraffic) => number) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers: [r],
        collect() {
          this.reset();
          for (const [id, t] of src.peers()) this.inc({ [label]: id.toString(16) }, pick(t));
        },
      });
    perPeer('etcd_network_peer_sent_bytes_total', 'The total number of bytes sent to peers.', 'To', (t) => t.sentBytes);
    perPeer('etcd_network_peer_received_bytes_total', 'The total number of bytes received from peers.', 'From', (t) => t.receivedBytes);
    perPeer('etcd_network_peer_sent_failures_total', 'The total number of send failures from peers.', 'To', (t) => t.sentFailures);

    for (const m of recorders.all()) r.registerMetric(m);
    grpc.register(r);
  }

  /** The exposition text (the member's metrics, then the process's) and its content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    const [member, proc] = await Promise.all([this.registry.metrics(), processRegistry().metrics()]);
    return { contentType: this.registry.contentType, body: `${member}\n${proc}` };
  }
}

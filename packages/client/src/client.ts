// The Client: one object for the KV, Watch, Lease, Maintenance and Cluster services of an etcd
// v3 cluster (real etcd or kvd).
import { etcdserverpb } from '@kv/api';
import { toBigInt, type Bytes, type Int64 } from './bytes.js';
import type { Clock, Random } from './clock.js';
import { Connections, type AuthOptions, type CallOpts, type EndpointStats, type TlsOptions } from './connection.js';
import { EtcdError, toEtcdError } from './errors.js';
import type { RetryOptions } from './retry.js';
import { status } from '@grpc/grpc-js';
import { checkPeerUrls } from './peer_urls.js';
import { KvMethods, isReadOnlyTxn, type CompactOptions } from './kv.js';
import { Lease } from './lease.js';
import { WatchHub, type WatchOptions, type Watcher } from './watch.js';
import { Namespace } from './namespace.js';
import { Auth } from './auth.js';

export interface ClientOptions {
  /** "host:port", "http://host:port", "https://host:port" (TLS) or "unix:path". */
  endpoints: string[];
  /** Longest wait for one endpoint to connect before trying the next (ms, default 2000). */
  dialTimeoutMs?: number;
  /** Default deadline of each unary call (ms); none when absent. */
  requestTimeoutMs?: number;
  /** TLS settings (PEM contents, not file names); any of them turns TLS on. */
  tls?: TlsOptions;
  /** Log in with etcd's Auth service and send the token with every call. */
  auth?: AuthOptions;
  /** Retries of failed unary calls: `{ maxAttempts: 100, backoffMs: 25, jitter: 0.1 }` by default (etcd's). */
  retry?: RetryOptions;
  /** How long an endpoint that failed is skipped before being probed again (ms, default 1000, doubling up to 8x). */
  unhealthyBackoffMs?: number;
  /** Replace the endpoints with the members' client URLs every this many ms (etcd's AutoSyncInterval; 0 = off, the default). */
  autoSyncIntervalMs?: number;
  /** gRPC keep-alive ping interval when idle (ms; etcd's DialKeepAliveTime; off by default). */
  keepaliveTimeMs?: number;
  /** Close a connection whose keep-alive ping is not answered within this (ms; etcd's DialKeepAliveTimeout). */
  keepaliveTimeoutMs?: number;
  /** Ping even with no call or stream open (etcd's PermitWithoutStream). */
  permitWithoutStream?: boolean;
  /** Largest request sent (bytes; default unlimited — etcd's Go client: 2 MiB). */
  maxCallSendMsgSize?: number;
  /** Largest response accepted (bytes; default unlimited — etcd's Go client: 2^31-1). */
  maxCallRecvMsgSize?: number;
  /** Refuse to work with a cluster older than 3.2 (etcd's RejectOldCluster): every call first checks Status. */
  rejectOldCluster?: boolean;
  /**
   * Every call and stream asks the member to refuse it with `etcdserver: no leader` while the
   * member has no leader (etcd's clientv3.WithRequireLeader on every context): a unary call fails
   * over to another member under the retry rules, watches end with NoLeaderError instead of
   * waiting on a partitioned member, keep-alive streams move to another member. Per unary call:
   * `{ requireLeader }` in its options. Off by default, as in etcd.
   */
  requireLeader?: boolean;
  /** Extra @grpc/grpc-js channel options (applied last). */
  channelOptions?: Record<string, string | number>;
  /** Time source for keep-alive timers and retry backoff (tests). */
  clock?: Clock;
  /** Randomness for retry jitter (tests). */
  random?: Random;
}

/** etcd's ErrOldCluster text. */
export const OLD_CLUSTER_TEXT = 'etcdclient: old cluster version';

/** Options of calls that may go to one chosen endpoint instead of the active one. */
export interface EndpointCallOpts extends CallOpts {
  /** Send to this endpoint only (as written in `endpoints`, or any other). */
  endpoint?: string;
}

export class Client extends KvMethods {
  private readonly conns: Connections;
  private readonly hub: WatchHub;
  readonly lease: Lease;
  readonly maintenance: Maintenance;
  readonly cluster: Cluster;
  readonly auth: Auth;

  private syncTimer: unknown;
  private readonly autoSyncIntervalMs: number;

  constructor(opts: ClientOptions) {
    super();
    this.conns = new Connections(opts);
    this.hub = new WatchHub(this.conns);
    this.lease = new Lease(this.conns);
    this.maintenance = new Maintenance(this.conns);
    this.cluster = new Cluster(this.conns);
    this.auth = new Auth(this.conns);
    this.autoSyncIntervalMs = opts.autoSyncIntervalMs ?? 0;
    if (!(this.autoSyncIntervalMs >= 0)) throw new RangeError(`autoSyncIntervalMs must be >= 0, got ${opts.autoSyncIntervalMs}`);
    if (opts.rejectOldCluster) {
      const gate = this.checkVersion(opts.dialTimeoutMs ?? 2000);
      gate.catch(() => undefined);
      this.conns.gate = gate;
    }
    this.scheduleSync();
  }

  /** The endpoints in use: as configured, or as the last sync() set them. */
  get endpoints(): string[] {
    return this.conns.endpoints;
  }

  /** Use these endpoints from now on (etcd's SetEndpoints); channels of kept endpoints stay. */
  setEndpoints(endpoints: string[]): void {
    this.conns.setEndpoints(endpoints);
  }

  /**
   * Replace the endpoints with the client URLs of the cluster's members (etcd's Sync: named,
   * non-learner members only). Leaves them as they are when the list would be empty.
   */
  async sync(opts: CallOpts = {}): Promise<string[]> {
    const r = await this.cluster.memberList(opts);
    const eps = r.members.filter((m) => m.name !== '' && !m.isLearner).flatMap((m) => m.clientURLs);
    if (eps.length > 0 && !this.conns.isClosed) this.conns.setEndpoints(eps);
    return this.endpoints;
  }

  private scheduleSync(): void {
    if (this.autoSyncIntervalMs === 0 || this.conns.isClosed) return;
    const clock = this.conns.clock;
    this.syncTimer = clock.setTimeout(() => {
      // etcd bounds each automatic sync by 5 s and only logs failures; the next tick tries again.
      this.sync({ timeoutMs: 5000 })
        .catch(() => undefined)
        .finally(() => this.scheduleSync());
    }, this.autoSyncIntervalMs);
    (this.syncTimer as { unref?: () => void } | undefined)?.unref?.();
  }

  /** etcd's checkVersion: fine when any endpoint reports 3.2 or newer; otherwise the last error. */
  private async checkVersion(timeoutMs: number): Promise<void> {
    let last: unknown;
    const results = await Promise.allSettled(
      this.conns.endpoints.map((endpoint) =>
        this.conns.unary((c) => c.maintenance.status.bind(c.maintenance), {}, { idempotent: true, endpoint, timeoutMs }, true),
      ),
    );
    for (const r of results) {
      if (r.status === 'rejected') {
        last = r.reason;
        continue;
      }
      const [maj, min] = r.value.version.split('.').map((x) => Number.parseInt(x, 10));
      if (maj === undefined || min === undefined || Number.isNaN(maj) || Number.isNaN(min)) {
        last = new EtcdError(status.UNKNOWN, `cannot parse server version ${JSON.stringify(r.value.version)}`);
      } else if (maj < 3 || (maj === 3 && min < 2)) {
        last = new EtcdError(status.FAILED_PRECONDITION, OLD_CLUSTER_TEXT);
      } else {
        return;
      }
    }
    throw last;
  }

  /** Requests started and failures seen per endpoint (round-robin and health at work). */
  endpointStats(): EndpointStats[] {
    return this.conns.stats();
  }

  /** The same KV, Watch and Lease API with every key under `prefix` (etcd's namespace package). */
  namespace(prefix: Bytes): Namespace {
    return new Namespace(this, prefix);
  }

  /** Close every channel; watchers and keep-alives end. */
  close(): void {
    this.conns.clock.clearTimeout(this.syncTimer);
    this.hub.close();
    this.conns.close();
  }

  /** Internal: the connection pool (namespaces, recipes). */
  get connections(): Connections {
    return this.conns;
  }

  // ---- KV ----

  /** Send a ready-made RangeRequest. */
  sendRange(req: etcdserverpb.RangeRequest, opts: CallOpts = {}): Promise<etcdserverpb.RangeResponse> {
    return this.conns.unary((c) => c.kv.range.bind(c.kv), req, { ...callOpts(opts), idempotent: true });
  }

  /** Send a ready-made PutRequest. */
  sendPut(req: etcdserverpb.PutRequest, opts: CallOpts = {}): Promise<etcdserverpb.PutResponse> {
    return this.conns.unary((c) => c.kv.put.bind(c.kv), req, { ...callOpts(opts), idempotent: false });
  }

  /** Send a ready-made DeleteRangeRequest. */
  sendDeleteRange(req: etcdserverpb.DeleteRangeRequest, opts: CallOpts = {}): Promise<etcdserverpb.DeleteRangeResponse> {
    return this.conns.unary((c) => c.kv.deleteRange.bind(c.kv), req, { ...callOpts(opts), idempotent: false });
  }

  /** Send a ready-made TxnRequest. */
  txnRequest(req: etcdserverpb.TxnRequest, opts: CallOpts = {}): Promise<etcdserverpb.TxnResponse> {
    // etcd tags every Txn non-repeatable; one that only reads is retried like a Range here.
    return this.conns.unary((c) => c.kv.txn.bind(c.kv), req, { ...callOpts(opts), idempotent: isReadOnlyTxn(req) });
  }

  /** Discard history before `revision`. Not repeatable (etcd): a second one would fail with "compacted". */
  compact(revision: Int64, opts: CompactOptions & CallOpts = {}): Promise<etcdserverpb.CompactionResponse> {
    const req = etcdserverpb.CompactionRequest.fromPartial({ revision: toBigInt(revision), physical: opts.physical ?? false });
    return this.conns.unary((c) => c.kv.compact.bind(c.kv), req, { ...callOpts(opts), idempotent: false });
  }

  // ---- Watch ----

  /** Watch a key or range; see Watcher. All watchers of a client share one stream. */
  watch(key: Bytes, opts: WatchOptions = {}): Watcher {
    return this.hub.watch(key, opts);
  }

  /** Internal: a watcher whose responses pass through `map` before delivery (namespaces). */
  watchMapped(key: Bytes, opts: WatchOptions, map: (r: etcdserverpb.WatchResponse) => etcdserverpb.WatchResponse): Watcher {
    return this.hub.watch(key, opts, map);
  }

  /** Ask for a progress notification on every watcher of this client. */
  requestProgress(): void {
    this.hub.requestProgress();
  }
}

export class Maintenance {
  constructor(private readonly conns: Connections) {}

  /** Status of the active endpoint, or of `opts.endpoint`. */
  status(opts: EndpointCallOpts = {}): Promise<etcdserverpb.StatusResponse> {
    return this.conns.unary((c) => c.maintenance.status.bind(c.maintenance), {}, { ...opts, idempotent: true });
  }

  hash(opts: EndpointCallOpts = {}): Promise<etcdserverpb.HashResponse> {
    return this.conns.unary((c) => c.maintenance.hash.bind(c.maintenance), {}, { ...opts, idempotent: true });
  }

  /** Hash of the MVCC keyspace up to `revision` (0: latest). */
  hashKV(revision: Int64 = 0, opts: EndpointCallOpts = {}): Promise<etcdserverpb.HashKVResponse> {
    const req = etcdserverpb.HashKVRequest.fromPartial({ revision: toBigInt(revision) });
    return this.conns.unary((c) => c.maintenance.hashKv.bind(c.maintenance), req, { ...opts, idempotent: true });
  }

  /** Active alarms (etcd's AlarmList). */
  alarmList(opts: EndpointCallOpts = {}): Promise<etcdserverpb.AlarmResponse> {
    return this.alarms(opts);
  }

  /** Active alarms. */
  alarms(opts: EndpointCallOpts = {}): Promise<etcdserverpb.AlarmResponse> {
    const req = etcdserverpb.AlarmRequest.fromPartial({ action: etcdserverpb.AlarmRequest_AlarmAction.GET });
    return this.conns.unary((c) => c.maintenance.alarm.bind(c.maintenance), req, { ...opts, idempotent: true });
  }

  /** Clear an alarm (all members when memberID is 0). */
  disarm(alarm: etcdserverpb.AlarmType, memberID: Int64 = 0, opts: EndpointCallOpts = {}): Promise<etcdserverpb.AlarmResponse> {
    const req = etcdserverpb.AlarmRequest.fromPartial({
      action: etcdserverpb.AlarmRequest_AlarmAction.DEACTIVATE,
      memberID: toBigInt(memberID),
      alarm,
    });
    return this.conns.unary((c) => c.maintenance.alarm.bind(c.maintenance), req, { ...opts, idempotent: true });
  }

  /** Defragment the backend of one member (pass `endpoint`); not repeatable, as in etcd. */
  defragment(opts: EndpointCallOpts = {}): Promise<etcdserverpb.DefragmentResponse> {
    return this.conns.unary((c) => c.maintenance.defragment.bind(c.maintenance), {}, { ...opts, idempotent: false });
  }

  /** Moves leadership to `targetId`; must reach the leader (pass its `endpoint`). Repeatable, as in etcd. */
  moveLeader(targetId: Int64, opts: EndpointCallOpts = {}): Promise<etcdserverpb.MoveLeaderResponse> {
    const req = etcdserverpb.MoveLeaderRequest.fromPartial({ targetID: BigInt(targetId) });
    return this.conns.unary((c) => c.maintenance.moveLeader.bind(c.maintenance), req, { ...opts, idempotent: true });
  }

  /**
   * Stream a backend snapshot; yields its chunks in order. `onProgress` sees the bytes received
   * so far and the stream's total (received + the server's remaining_bytes), for a progress bar.
   */
  async *snapshot(opts: EndpointCallOpts & { onProgress?: (received: number, total: number) => void } = {}): AsyncIterable<Buffer> {
    const deadline = this.conns.deadlineFor(opts);
    const conn = await this.conns.connect(deadline, { endpoint: opts.endpoint, signal: opts.signal });
    const md = await this.conns.metadata(conn, deadline);
    const stream = conn.maintenance.snapshot({}, md, deadline === Infinity ? {} : { deadline });
    const onAbort = () => stream.cancel();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    let received = 0;
    try {
      for await (const chunk of stream as AsyncIterable<etcdserverpb.SnapshotResponse>) {
        received += chunk.blob.length;
        opts.onProgress?.(received, received + Number(chunk.remainingBytes));
        if (chunk.blob.length > 0) yield chunk.blob;
      }
    } catch (e) {
      throw toEtcdError(e);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      stream.cancel();
    }
  }
}

export class Cluster {
  constructor(private readonly conns: Connections) {}

  memberList(opts: EndpointCallOpts & { linearizable?: boolean } = {}): Promise<etcdserverpb.MemberListResponse> {
    return this.conns.unary(
      (c) => c.cluster.memberList.bind(c.cluster),
      etcdserverpb.MemberListRequest.fromPartial({ linearizable: opts.linearizable ?? false }),
      { ...opts, idempotent: true },
    );
  }

  /** Adds a member (a voter, or a learner with `isLearner`); start it with --initial-cluster-state existing. */
  /** Adds a member; the peer URLs are checked first as etcd's client does (InvalidPeerUrlError, nothing sent). */
  async memberAdd(peerURLs: string[], opts: EndpointCallOpts & { isLearner?: boolean } = {}): Promise<etcdserverpb.MemberAddResponse> {
    checkPeerUrls(peerURLs);
    const req = etcdserverpb.MemberAddRequest.fromPartial({ peerURLs, isLearner: opts.isLearner ?? false });
    return this.conns.unary((c) => c.cluster.memberAdd.bind(c.cluster), req, { ...opts, idempotent: false });
  }

  /** Adds a learner (etcd's MemberAddAsLearner). */
  memberAddAsLearner(peerURLs: string[], opts: EndpointCallOpts = {}): Promise<etcdserverpb.MemberAddResponse> {
    return this.memberAdd(peerURLs, { ...opts, isLearner: true });
  }

  memberRemove(id: Int64, opts: EndpointCallOpts = {}): Promise<etcdserverpb.MemberRemoveResponse> {
    const req = etcdserverpb.MemberRemoveRequest.fromPartial({ ID: BigInt(id) });
    return this.conns.unary((c) => c.cluster.memberRemove.bind(c.cluster), req, { ...opts, idempotent: false });
  }

  /** Changes a member's peer URLs, checked first as for memberAdd. */
  async memberUpdate(id: Int64, peerURLs: string[], opts: EndpointCallOpts = {}): Promise<etcdserverpb.MemberUpdateResponse> {
    checkPeerUrls(peerURLs);
    const req = etcdserverpb.MemberUpdateRequest.fromPartial({ ID: BigInt(id), peerURLs });
    return this.conns.unary((c) => c.cluster.memberUpdate.bind(c.cluster), req, { ...opts, idempotent: false });
  }

  /** Promotes a learner to a voter; refused until the learner has caught up with the leader. */
  memberPromote(id: Int64, opts: EndpointCallOpts = {}): Promise<etcdserverpb.MemberPromoteResponse> {
    const req = etcdserverpb.MemberPromoteRequest.fromPartial({ ID: BigInt(id) });
    return this.conns.unary((c) => c.cluster.memberPromote.bind(c.cluster), req, { ...opts, idempotent: false });
  }
}

/** Only the call options (the KV option objects carry more fields). */
function callOpts(o: CallOpts & { endpoint?: string }): CallOpts {
  return { timeoutMs: o.timeoutMs, signal: o.signal, requireLeader: o.requireLeader };
}

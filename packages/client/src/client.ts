// The Client: one object for the KV, Watch, Lease, Maintenance and Cluster services of an etcd
// v3 cluster (real etcd or kvd).
import { etcdserverpb } from '@kv/api';
import { toBigInt, type Bytes, type Int64 } from './bytes.js';
import type { Clock } from './clock.js';
import { Connections, type AuthOptions, type CallOpts, type TlsOptions } from './connection.js';
import { toEtcdError } from './errors.js';
import {
  Txn,
  deleteRequest,
  isReadOnlyTxn,
  putRequest,
  rangeRequest,
  type CompactOptions,
  type DeleteOptions,
  type GetOptions,
  type PutOptions,
} from './kv.js';
import { Lease } from './lease.js';
import { WatchHub, type WatchOptions, type Watcher } from './watch.js';

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
  /** Time source for keep-alive timers and retry backoff (tests). */
  clock?: Clock;
}

/** Options of calls that may go to one chosen endpoint instead of the active one. */
export interface EndpointCallOpts extends CallOpts {
  /** Send to this endpoint only (as written in `endpoints`, or any other). */
  endpoint?: string;
}

export class Client {
  private readonly conns: Connections;
  private readonly hub: WatchHub;
  readonly lease: Lease;
  readonly maintenance: Maintenance;
  readonly cluster: Cluster;

  constructor(opts: ClientOptions) {
    this.conns = new Connections(opts);
    this.hub = new WatchHub(this.conns);
    this.lease = new Lease(this.conns);
    this.maintenance = new Maintenance(this.conns);
    this.cluster = new Cluster(this.conns);
  }

  /** The configured endpoints. */
  get endpoints(): string[] {
    return this.conns.endpoints;
  }

  /** Close every channel; watchers and keep-alives end. */
  close(): void {
    this.hub.close();
    this.conns.close();
  }

  // ---- KV ----

  /** Read one key, or a range with `prefix`, `fromKey` or `rangeEnd`. */
  get(key: Bytes, opts: GetOptions & CallOpts = {}): Promise<etcdserverpb.RangeResponse> {
    return this.conns.unary((c) => c.kv.range.bind(c.kv), rangeRequest(key, opts), { ...opts, idempotent: true });
  }

  /** Every key starting with `prefix`. */
  getPrefix(prefix: Bytes, opts: Omit<GetOptions, 'prefix' | 'fromKey' | 'rangeEnd'> & CallOpts = {}): Promise<etcdserverpb.RangeResponse> {
    return this.get(prefix, { ...opts, prefix: true });
  }

  /** Keys in [key, rangeEnd). */
  getRange(
    key: Bytes,
    rangeEnd: Bytes,
    opts: Omit<GetOptions, 'prefix' | 'fromKey' | 'rangeEnd'> & CallOpts = {},
  ): Promise<etcdserverpb.RangeResponse> {
    return this.get(key, { ...opts, rangeEnd });
  }

  /** Every key >= `key`. */
  getFromKey(key: Bytes, opts: Omit<GetOptions, 'prefix' | 'fromKey' | 'rangeEnd'> & CallOpts = {}): Promise<etcdserverpb.RangeResponse> {
    return this.get(key, { ...opts, fromKey: true });
  }

  put(key: Bytes, value: Bytes, opts: PutOptions & CallOpts = {}): Promise<etcdserverpb.PutResponse> {
    return this.conns.unary((c) => c.kv.put.bind(c.kv), putRequest(key, value, opts), { ...opts, idempotent: false });
  }

  /** Delete one key, or a range with `prefix`, `fromKey` or `rangeEnd`. */
  delete(key: Bytes, opts: DeleteOptions & CallOpts = {}): Promise<etcdserverpb.DeleteRangeResponse> {
    return this.conns.unary((c) => c.kv.deleteRange.bind(c.kv), deleteRequest(key, opts), { ...opts, idempotent: false });
  }

  /** Start a transaction: `client.txn().if(...).then(...).else(...).commit()`. */
  txn(): Txn {
    return new Txn((req, opts) => this.txnRequest(req, opts));
  }

  /** Send a ready-made TxnRequest. */
  txnRequest(req: etcdserverpb.TxnRequest, opts: CallOpts = {}): Promise<etcdserverpb.TxnResponse> {
    return this.conns.unary((c) => c.kv.txn.bind(c.kv), req, { ...opts, idempotent: isReadOnlyTxn(req) });
  }

  /** Discard history before `revision`. */
  compact(revision: Int64, opts: CompactOptions & CallOpts = {}): Promise<etcdserverpb.CompactionResponse> {
    const req = etcdserverpb.CompactionRequest.fromPartial({ revision: toBigInt(revision), physical: opts.physical ?? false });
    return this.conns.unary((c) => c.kv.compact.bind(c.kv), req, { ...opts, idempotent: true });
  }

  // ---- Watch ----

  /** Watch a key or range; see Watcher. All watchers of a client share one stream. */
  watch(key: Bytes, opts: WatchOptions = {}): Watcher {
    return this.hub.watch(key, opts);
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

  defragment(opts: EndpointCallOpts = {}): Promise<etcdserverpb.DefragmentResponse> {
    return this.conns.unary((c) => c.maintenance.defragment.bind(c.maintenance), {}, { ...opts, idempotent: true });
  }
  /** Moves leadership to `targetId`; must reach the leader (pass its `endpoint`). */
  moveLeader(targetId: Int64, opts: EndpointCallOpts = {}): Promise<etcdserverpb.MoveLeaderResponse> {
    const req = etcdserverpb.MoveLeaderRequest.fromPartial({ targetID: BigInt(targetId) });
    return this.conns.unary((c) => c.maintenance.moveLeader.bind(c.maintenance), req, { ...opts, idempotent: false });
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
  memberAdd(peerURLs: string[], opts: EndpointCallOpts & { isLearner?: boolean } = {}): Promise<etcdserverpb.MemberAddResponse> {
    const req = etcdserverpb.MemberAddRequest.fromPartial({ peerURLs, isLearner: opts.isLearner ?? false });
    return this.conns.unary((c) => c.cluster.memberAdd.bind(c.cluster), req, { ...opts, idempotent: false });
  }

  memberRemove(id: Int64, opts: EndpointCallOpts = {}): Promise<etcdserverpb.MemberRemoveResponse> {
    const req = etcdserverpb.MemberRemoveRequest.fromPartial({ ID: BigInt(id) });
    return this.conns.unary((c) => c.cluster.memberRemove.bind(c.cluster), req, { ...opts, idempotent: false });
  }

  memberUpdate(id: Int64, peerURLs: string[], opts: EndpointCallOpts = {}): Promise<etcdserverpb.MemberUpdateResponse> {
    const req = etcdserverpb.MemberUpdateRequest.fromPartial({ ID: BigInt(id), peerURLs });
    return this.conns.unary((c) => c.cluster.memberUpdate.bind(c.cluster), req, { ...opts, idempotent: false });
  }

  /** Promotes a learner to a voter; refused until the learner has caught up with the leader. */
  memberPromote(id: Int64, opts: EndpointCallOpts = {}): Promise<etcdserverpb.MemberPromoteResponse> {
    const req = etcdserverpb.MemberPromoteRequest.fromPartial({ ID: BigInt(id) });
    return this.conns.unary((c) => c.cluster.memberPromote.bind(c.cluster), req, { ...opts, idempotent: false });
  }
}

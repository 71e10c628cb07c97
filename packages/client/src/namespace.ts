// Namespaces: the KV, Watch and Lease API of a Client with every key under a prefix, as etcd's
// clientv3/namespace package (kv.go, watch.go, lease.go, util.go).
//
// Invariants:
// - every key and range sent is translated by prefixInterval: key -> prefix+key; a range end
//   of "\0" (to the end of the keyspace, from `fromKey` or an empty-key `prefix`) -> the end of
//   the namespace, prefixEnd(prefix); any other non-empty range end -> prefix+end;
// - every key returned (kvs, prevKv(s), watch events, nested txn responses, lease keys) lost
//   exactly the prefix; keys of a lease outside the namespace are left out;
// - an empty key is refused (EmptyKeyError) unless it names a range, as etcd's namespace does
//   for single keys. Unlike Go's, `get('', { prefix: true })` is allowed: the whole namespace.
import { status } from '@grpc/grpc-js';
import { ErrorText, etcdserverpb, type mvccpb } from '@kv/api';
import { NUL, prefixEnd, resolveRange, toBuffer, type Bytes, type Int64 } from './bytes.js';
import type { Client } from './client.js';
import type { CallOpts, Connections } from './connection.js';
import { EmptyKeyError } from './errors.js';
import { KvMethods, type CompactOptions } from './kv.js';
import { Lease, type TimeToLiveOptions } from './lease.js';
import type { WatchOptions, Watcher } from './watch.js';

/**
 * etcd's namespace.prefixInterval: the wire range of (key, end) inside `pfx`. An end of exactly
 * "\0" means "to the end of the keyspace", which inside a namespace is the end of the prefix.
 */
export function prefixInterval(pfx: Buffer, key: Buffer, end: Buffer): { key: Buffer; rangeEnd: Buffer } {
  const k = Buffer.concat([pfx, key]);
  if (end.length === 1 && end[0] === 0) {
    // prefixEnd of an empty or all-0xff prefix is "\0" too: the whole keyspace.
    return { key: k, rangeEnd: pfx.length === 0 ? Buffer.from(NUL) : prefixEnd(pfx) };
  }
  if (end.length >= 1) return { key: k, rangeEnd: Buffer.concat([pfx, end]) };
  return { key: k, rangeEnd: Buffer.alloc(0) };
}

export class Namespace extends KvMethods {
  readonly prefix: Buffer;
  readonly lease: NamespaceLease;

  constructor(
    readonly client: Client,
    prefix: Bytes,
  ) {
    super();
    this.prefix = Buffer.from(toBuffer(prefix));
    this.lease = new NamespaceLease(client.connections, this.prefix);
  }

  /** A namespace inside this one (the prefixes join). */
  namespace(prefix: Bytes): Namespace {
    return new Namespace(this.client, Buffer.concat([this.prefix, toBuffer(prefix)]));
  }

  // ---- KV ----

  async sendRange(req: etcdserverpb.RangeRequest, opts: CallOpts = {}): Promise<etcdserverpb.RangeResponse> {
    const r = await this.client.sendRange(this.prefixRange(req), opts);
    this.unprefixRange(r);
    return r;
  }

  async sendPut(req: etcdserverpb.PutRequest, opts: CallOpts = {}): Promise<etcdserverpb.PutResponse> {
    const r = await this.client.sendPut(this.prefixPut(req), opts);
    this.unprefixPut(r);
    return r;
  }

  async sendDeleteRange(req: etcdserverpb.DeleteRangeRequest, opts: CallOpts = {}): Promise<etcdserverpb.DeleteRangeResponse> {
    const r = await this.client.sendDeleteRange(this.prefixDelete(req), opts);
    this.unprefixDelete(r);
    return r;
  }

  async txnRequest(req: etcdserverpb.TxnRequest, opts: CallOpts = {}): Promise<etcdserverpb.TxnResponse> {
    const r = await this.client.txnRequest(this.prefixTxn(req), opts);
    this.unprefixTxn(r);
    return r;
  }

  /** Compaction is cluster-wide (revisions are not namespaced), as in etcd. */
  compact(revision: Int64, opts: CompactOptions & CallOpts = {}): Promise<etcdserverpb.CompactionResponse> {
    return this.client.compact(revision, opts);
  }

  // ---- Watch ----

  /** Watch a key or range of the namespace; events carry keys without the prefix. */
  watch(key: Bytes, opts: WatchOptions = {}): Watcher {
    const r = resolveRange(key, opts);
    if (r.key.length === 0 && r.rangeEnd.length === 0) throw emptyKey();
    const p = prefixInterval(this.prefix, r.key, r.rangeEnd);
    const { prefix: _p, fromKey: _f, rangeEnd: _e, ...rest } = opts;
    const wireOpts: WatchOptions = p.rangeEnd.length > 0 ? { ...rest, rangeEnd: p.rangeEnd } : rest;
    return this.client.watchMapped(p.key, wireOpts, (resp) => {
      for (const ev of resp.events) this.unprefixEvent(ev);
      return resp;
    });
  }

  // ---- translation ----

  private range(key: Buffer, end: Buffer): { key: Buffer; rangeEnd: Buffer } {
    if (key.length === 0 && end.length === 0) throw emptyKey();
    return prefixInterval(this.prefix, key, end);
  }

  private strip(k: Buffer): Buffer {
    return k.subarray(this.prefix.length);
  }

  prefixRange(req: etcdserverpb.RangeRequest): etcdserverpb.RangeRequest {
    return { ...req, ...this.range(req.key, req.rangeEnd) };
  }

  prefixPut(req: etcdserverpb.PutRequest): etcdserverpb.PutRequest {
    if (req.key.length === 0) throw emptyKey();
    return { ...req, key: Buffer.concat([this.prefix, req.key]) };
  }

  prefixDelete(req: etcdserverpb.DeleteRangeRequest): etcdserverpb.DeleteRangeRequest {
    return { ...req, ...this.range(req.key, req.rangeEnd) };
  }

  prefixTxn(req: etcdserverpb.TxnRequest): etcdserverpb.TxnRequest {
    return {
      compare: req.compare.map((c) => {
        const p = prefixInterval(this.prefix, c.key, c.rangeEnd);
        return { ...c, key: p.key, rangeEnd: c.rangeEnd.length !== 0 ? p.rangeEnd : c.rangeEnd };
      }),
      success: req.success.map((o) => this.prefixOp(o)),
      failure: req.failure.map((o) => this.prefixOp(o)),
    };
  }

  private prefixOp(o: etcdserverpb.RequestOp): etcdserverpb.RequestOp {
    if (o.requestRange) return { requestRange: this.prefixRange(o.requestRange) };
    if (o.requestPut) return { requestPut: this.prefixPut(o.requestPut) };
    if (o.requestDeleteRange) return { requestDeleteRange: this.prefixDelete(o.requestDeleteRange) };
    if (o.requestTxn) return { requestTxn: this.prefixTxn(o.requestTxn) };
    return o;
  }

  private unprefixKv(kv: mvccpb.KeyValue | undefined): void {
    if (kv) kv.key = this.strip(kv.key);
  }

  private unprefixRange(r: etcdserverpb.RangeResponse): void {
    for (const kv of r.kvs) this.unprefixKv(kv);
  }

  private unprefixPut(r: etcdserverpb.PutResponse): void {
    this.unprefixKv(r.prevKv);
  }

  private unprefixDelete(r: etcdserverpb.DeleteRangeResponse): void {
    for (const kv of r.prevKvs) this.unprefixKv(kv);
  }

  private unprefixTxn(r: etcdserverpb.TxnResponse): void {
    for (const op of r.responses) {
      if (op.responseRange) this.unprefixRange(op.responseRange);
      else if (op.responsePut) this.unprefixPut(op.responsePut);
      else if (op.responseDeleteRange) this.unprefixDelete(op.responseDeleteRange);
      else if (op.responseTxn) this.unprefixTxn(op.responseTxn);
    }
  }

  private unprefixEvent(ev: mvccpb.Event): void {
    this.unprefixKv(ev.kv);
    // Go's watcherPrefix gives prevKv the (already stripped) key of kv; same key either way.
    this.unprefixKv(ev.prevKv);
  }
}

/** Lease API of a namespace: TimeToLive lists only the namespace's keys, without the prefix. */
export class NamespaceLease extends Lease {
  constructor(
    conns: Connections,
    private readonly prefix: Buffer,
  ) {
    super(conns);
  }

  override async timeToLive(id: Int64, opts: TimeToLiveOptions = {}): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    const r = await super.timeToLive(id, opts);
    r.keys = r.keys
      .filter((k) => k.length >= this.prefix.length && k.subarray(0, this.prefix.length).equals(this.prefix))
      .map((k) => k.subarray(this.prefix.length));
    return r;
  }
}

function emptyKey(): EmptyKeyError {
  return new EmptyKeyError(status.INVALID_ARGUMENT, ErrorText.EmptyKey);
}

/** `client.namespace(prefix)` as a function (etcd's namespace.NewKV/NewWatcher/NewLease in one). */
export function namespace(client: Client, prefix: Bytes): Namespace {
  return new Namespace(client, prefix);
}

// KV requests: building Range/Put/DeleteRange/Txn/Compaction messages from friendly options,
// and the transaction builder. The Client sends them (client.ts).
import { etcdserverpb } from '@kv/api';
import { resolveRange, toBigInt, toBuffer, type Bytes, type Int64, type RangeSpec } from './bytes.js';
import type { CallOpts } from './connection.js';

export type SortTarget = 'key' | 'version' | 'create' | 'mod' | 'value';
export type SortOrder = 'none' | 'ascend' | 'descend';

export interface GetOptions extends RangeSpec {
  /** Most keys to return (0: no limit). */
  limit?: Int64;
  /** Read at this revision (0: latest). */
  revision?: Int64;
  sortTarget?: SortTarget;
  sortOrder?: SortOrder;
  /** Serve from the local member without a quorum read. */
  serializable?: boolean;
  keysOnly?: boolean;
  countOnly?: boolean;
  minModRevision?: Int64;
  maxModRevision?: Int64;
  minCreateRevision?: Int64;
  maxCreateRevision?: Int64;
}

export interface PutOptions {
  /** Attach the key to this lease (0: none). */
  lease?: Int64;
  /** Return the previous key-value. */
  prevKv?: boolean;
  /** Keep the current value (the value argument must be empty). */
  ignoreValue?: boolean;
  /** Keep the current lease (lease must not be given). */
  ignoreLease?: boolean;
}

export interface DeleteOptions extends RangeSpec {
  /** Return the deleted key-values. */
  prevKv?: boolean;
}

export interface CompactOptions {
  /** Wait until the compaction is physically applied to the backend. */
  physical?: boolean;
}

const sortTargets: Record<SortTarget, etcdserverpb.RangeRequest_SortTarget> = {
  key: etcdserverpb.RangeRequest_SortTarget.KEY,
  version: etcdserverpb.RangeRequest_SortTarget.VERSION,
  create: etcdserverpb.RangeRequest_SortTarget.CREATE,
  mod: etcdserverpb.RangeRequest_SortTarget.MOD,
  value: etcdserverpb.RangeRequest_SortTarget.VALUE,
};
const sortOrders: Record<SortOrder, etcdserverpb.RangeRequest_SortOrder> = {
  none: etcdserverpb.RangeRequest_SortOrder.NONE,
  ascend: etcdserverpb.RangeRequest_SortOrder.ASCEND,
  descend: etcdserverpb.RangeRequest_SortOrder.DESCEND,
};

export function rangeRequest(key: Bytes, o: GetOptions = {}): etcdserverpb.RangeRequest {
  const r = resolveRange(key, o);
  const target = sortTargets[o.sortTarget ?? 'key'];
  let order = sortOrders[o.sortOrder ?? 'none'];
  // Keys come back in ascending key order anyway; asking for it explicitly would make the
  // server fetch the whole range before applying the limit (etcd's Go client does the same).
  if (target === etcdserverpb.RangeRequest_SortTarget.KEY && order === etcdserverpb.RangeRequest_SortOrder.ASCEND) {
    order = etcdserverpb.RangeRequest_SortOrder.NONE;
  }
  return etcdserverpb.RangeRequest.fromPartial({
    key: r.key,
    rangeEnd: r.rangeEnd,
    limit: toBigInt(o.limit),
    revision: toBigInt(o.revision),
    sortTarget: target,
    sortOrder: order,
    serializable: o.serializable ?? false,
    keysOnly: o.keysOnly ?? false,
    countOnly: o.countOnly ?? false,
    minModRevision: toBigInt(o.minModRevision),
    maxModRevision: toBigInt(o.maxModRevision),
    minCreateRevision: toBigInt(o.minCreateRevision),
    maxCreateRevision: toBigInt(o.maxCreateRevision),
  });
}

export function putRequest(key: Bytes, value: Bytes, o: PutOptions = {}): etcdserverpb.PutRequest {
  return etcdserverpb.PutRequest.fromPartial({
    key: toBuffer(key),
    value: toBuffer(value),
    lease: toBigInt(o.lease),
    prevKv: o.prevKv ?? false,
    ignoreValue: o.ignoreValue ?? false,
    ignoreLease: o.ignoreLease ?? false,
  });
}

export function deleteRequest(key: Bytes, o: DeleteOptions = {}): etcdserverpb.DeleteRangeRequest {
  const r = resolveRange(key, o);
  return etcdserverpb.DeleteRangeRequest.fromPartial({ key: r.key, rangeEnd: r.rangeEnd, prevKv: o.prevKv ?? false });
}

/** Constructors for the operations of a transaction branch. */
export const Op = {
  get(key: Bytes, opts?: GetOptions): etcdserverpb.RequestOp {
    return { requestRange: rangeRequest(key, opts) };
  },
  put(key: Bytes, value: Bytes, opts?: PutOptions): etcdserverpb.RequestOp {
    return { requestPut: putRequest(key, value, opts) };
  },
  delete(key: Bytes, opts?: DeleteOptions): etcdserverpb.RequestOp {
    return { requestDeleteRange: deleteRequest(key, opts) };
  },
  /** A nested transaction (etcd 3.3+). */
  txn(t: Txn | etcdserverpb.TxnRequest): etcdserverpb.RequestOp {
    return { requestTxn: t instanceof Txn ? t.toRequest() : t };
  },
};

export type CompareTarget = 'value' | 'version' | 'create' | 'mod' | 'lease';
export type CompareOp = '=' | '!=' | '>' | '<';

const compareResults: Record<CompareOp, etcdserverpb.Compare_CompareResult> = {
  '=': etcdserverpb.Compare_CompareResult.EQUAL,
  '!=': etcdserverpb.Compare_CompareResult.NOT_EQUAL,
  '>': etcdserverpb.Compare_CompareResult.GREATER,
  '<': etcdserverpb.Compare_CompareResult.LESS,
};

/** Build one Compare. `value` is bytes for 'value' and an integer for the other targets. */
export function compare(
  key: Bytes,
  target: CompareTarget,
  op: CompareOp,
  value: Bytes | Int64,
  range: RangeSpec = {},
): etcdserverpb.Compare {
  const result = compareResults[op];
  if (result === undefined) throw new TypeError(`unknown compare operator ${JSON.stringify(op)}`);
  const r = resolveRange(key, range);
  const base = { key: r.key, rangeEnd: r.rangeEnd, result };
  const num = (): bigint => {
    if (typeof value === 'bigint' || typeof value === 'number') return toBigInt(value);
    throw new TypeError(`compare target ${target} needs an integer`);
  };
  switch (target) {
    case 'value':
      if (typeof value === 'bigint' || typeof value === 'number') throw new TypeError('compare target value needs bytes');
      return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.VALUE, value: toBuffer(value) });
    case 'version':
      return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.VERSION, version: num() });
    case 'create':
      return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.CREATE, createRevision: num() });
    case 'mod':
      return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.MOD, modRevision: num() });
    case 'lease':
      return etcdserverpb.Compare.fromPartial({ ...base, target: etcdserverpb.Compare_CompareTarget.LEASE, lease: num() });
    default:
      throw new TypeError(`unknown compare target ${JSON.stringify(target)}`);
  }
}

/**
 * Transaction builder: `.if(...)` guards (all must hold), `.then(...)` operations when they do,
 * `.else(...)` otherwise; `commit()` sends it. Builders made with `new Txn()` have no client and
 * serve as nested transactions (`Op.txn(t)`).
 */
export class Txn {
  private readonly compares: etcdserverpb.Compare[] = [];
  private readonly success: etcdserverpb.RequestOp[] = [];
  private readonly failure: etcdserverpb.RequestOp[] = [];

  constructor(private readonly committer?: (req: etcdserverpb.TxnRequest, opts?: CallOpts) => Promise<etcdserverpb.TxnResponse>) {}

  if(key: Bytes, target: CompareTarget, op: CompareOp, value: Bytes | Int64, range?: RangeSpec): this;
  if(...cmps: etcdserverpb.Compare[]): this;
  if(...args: unknown[]): this {
    if (args.length > 0 && isCompare(args[0])) {
      this.compares.push(...(args as etcdserverpb.Compare[]));
    } else {
      const [key, target, op, value, range] = args as [Bytes, CompareTarget, CompareOp, Bytes | Int64, RangeSpec | undefined];
      this.compares.push(compare(key, target, op, value, range));
    }
    return this;
  }

  // biome-ignore lint/suspicious/noThenProperty: etcd's Txn().If().Then().Else() builder (the etcd3 npm client's `.then` too); being awaited by mistake is caught below
  then(...ops: (etcdserverpb.RequestOp | Txn)[]): this {
    // `await txn` (or Promise.resolve(txn)) calls then(resolve, reject): functions, never ops.
    // Refuse through reject, so the await throws at once instead of hanging on a Txn that never
    // resolves (and the functions are not taken for ops).
    if (ops.some((o) => typeof o === 'function')) {
      const err = new TypeError('a Txn is not a promise: call .commit() to send it');
      const reject = ops[1] as unknown;
      if (typeof reject === 'function') {
        (reject as (e: unknown) => void)(err);
        return this;
      }
      throw err;
    }
    this.success.push(...ops.map(asOp));
    return this;
  }

  else(...ops: (etcdserverpb.RequestOp | Txn)[]): this {
    this.failure.push(...ops.map(asOp));
    return this;
  }

  toRequest(): etcdserverpb.TxnRequest {
    return { compare: [...this.compares], success: [...this.success], failure: [...this.failure] };
  }

  commit(opts?: CallOpts): Promise<etcdserverpb.TxnResponse> {
    if (!this.committer) return Promise.reject(new Error('this Txn has no client; use client.txn()'));
    return this.committer(this.toRequest(), opts);
  }
}

function asOp(o: etcdserverpb.RequestOp | Txn): etcdserverpb.RequestOp {
  return o instanceof Txn ? Op.txn(o) : o;
}

function isCompare(x: unknown): x is etcdserverpb.Compare {
  return typeof x === 'object' && x !== null && !Buffer.isBuffer(x) && !(x instanceof Uint8Array) && 'result' in x && 'target' in x;
}

/** True when a transaction only reads (so it is safe to send twice). */
export function isReadOnlyTxn(t: etcdserverpb.TxnRequest): boolean {
  const ro = (ops: etcdserverpb.RequestOp[]): boolean =>
    ops.every((o) => o.requestRange !== undefined || (o.requestTxn !== undefined && isReadOnlyTxn(o.requestTxn)));
  return ro(t.success) && ro(t.failure);
}

type RangeOnly = Omit<GetOptions, 'prefix' | 'fromKey' | 'rangeEnd'> & CallOpts;

/**
 * The KV calls a Client and a Namespace share, built on the four request senders each one
 * implements (the Client sends them, a Namespace translates keys and then sends them).
 */
export abstract class KvMethods {
  /** Send a ready-made RangeRequest. */
  abstract sendRange(req: etcdserverpb.RangeRequest, opts?: CallOpts): Promise<etcdserverpb.RangeResponse>;
  /** Send a ready-made PutRequest. */
  abstract sendPut(req: etcdserverpb.PutRequest, opts?: CallOpts): Promise<etcdserverpb.PutResponse>;
  /** Send a ready-made DeleteRangeRequest. */
  abstract sendDeleteRange(req: etcdserverpb.DeleteRangeRequest, opts?: CallOpts): Promise<etcdserverpb.DeleteRangeResponse>;
  /** Send a ready-made TxnRequest. */
  abstract txnRequest(req: etcdserverpb.TxnRequest, opts?: CallOpts): Promise<etcdserverpb.TxnResponse>;

  /** Read one key, or a range with `prefix`, `fromKey` or `rangeEnd`. */
  get(key: Bytes, opts: GetOptions & CallOpts = {}): Promise<etcdserverpb.RangeResponse> {
    return this.sendRange(rangeRequest(key, opts), opts);
  }

  /** Every key starting with `prefix`. */
  getPrefix(prefix: Bytes, opts: RangeOnly = {}): Promise<etcdserverpb.RangeResponse> {
    return this.get(prefix, { ...opts, prefix: true });
  }

  /** Keys in [key, rangeEnd). */
  getRange(key: Bytes, rangeEnd: Bytes, opts: RangeOnly = {}): Promise<etcdserverpb.RangeResponse> {
    return this.get(key, { ...opts, rangeEnd });
  }

  /** Every key >= `key`. */
  getFromKey(key: Bytes, opts: RangeOnly = {}): Promise<etcdserverpb.RangeResponse> {
    return this.get(key, { ...opts, fromKey: true });
  }

  put(key: Bytes, value: Bytes, opts: PutOptions & CallOpts = {}): Promise<etcdserverpb.PutResponse> {
    return this.sendPut(putRequest(key, value, opts), opts);
  }

  /** Delete one key, or a range with `prefix`, `fromKey` or `rangeEnd`. */
  delete(key: Bytes, opts: DeleteOptions & CallOpts = {}): Promise<etcdserverpb.DeleteRangeResponse> {
    return this.sendDeleteRange(deleteRequest(key, opts), opts);
  }

  /** Start a transaction: `kv.txn().if(...).then(...).else(...).commit()`. */
  txn(): Txn {
    return new Txn((req, opts) => this.txnRequest(req, opts));
  }
}

// Software transactional memory over etcd's Txn, as etcd's clientv3/concurrency/stm.go.
//
// `apply` reads with get/rev and buffers writes with put/del; the STM then commits the writes in
// one Txn guarded by compares of what was read, and runs `apply` again from scratch when the
// guard fails (another writer got in between). Isolation levels (etcd's):
// - 'serializable-snapshot' (default): every read comes from the revision of the first read;
//   commit needs the read keys unchanged and the written keys not modified after that revision.
// - 'serializable': reads from the first read's revision; commit needs the read keys unchanged.
// - 'repeatable-read': each key is read once (serializable, local reads); commit needs the read
//   keys unchanged.
// - 'read-committed': reads are local and never checked; the writes always commit.
// After a failed commit the serializable levels take the fresh values that came back in the
// Txn's else branch as prefetched reads for the next run, as etcd does.
//
// Invariants:
// - within one run, a key read twice gives the same answer (the read set caches it), and a key
//   written is read back from the write set;
// - nothing is written unless the commit Txn succeeds, and then all of it.
import { status } from '@grpc/grpc-js';
import type { etcdserverpb } from '@kv/api';
import type { CallOpts } from './connection.js';
import { CancelledError } from './errors.js';
import { Op, compare, type GetOptions, type PutOptions } from './kv.js';

export type Isolation = 'serializable-snapshot' | 'serializable' | 'repeatable-read' | 'read-committed';

/** What `apply` gets. Keys and values are UTF-8 strings, as in etcd's STM. */
export interface STM {
  /** Value of the first of `keys` that has been written in this run, else of the first read; '' when absent. */
  get(...keys: string[]): Promise<string>;
  /** Buffer a put; sent at commit. */
  put(key: string, value: string, opts?: PutOptions): void;
  /** Buffer a delete; sent at commit. */
  del(key: string): void;
  /** Mod revision of `key` as read (0n when absent). */
  rev(key: string): Promise<bigint>;
}

/** Anything that sends a TxnRequest: a Client or a Namespace. */
export interface TxnSender {
  txnRequest(req: etcdserverpb.TxnRequest, opts?: CallOpts): Promise<etcdserverpb.TxnResponse>;
}

export interface StmOptions {
  /** Default 'serializable-snapshot', etcd's default. */
  isolation?: Isolation;
  /** Keys read (in one Txn) before the first run of `apply`. */
  prefetch?: string[];
  /** Abort between runs and during calls (etcd's WithAbortContext). */
  signal?: AbortSignal;
  /** Deadline of each call the STM makes (ms); the client's requestTimeoutMs otherwise. */
  timeoutMs?: number;
}

type Cmp = etcdserverpb.Compare;
type Put = { value: string; op: etcdserverpb.RequestOp };

class ReadSet extends Map<string, etcdserverpb.RangeResponse> {
  add(keys: string[], resp: etcdserverpb.TxnResponse): void {
    resp.responses.forEach((r, i) => {
      if (r.responseRange && keys[i] !== undefined) this.set(keys[i]!, r.responseRange);
    });
  }

  /** The lowest revision any read was served at. */
  first(): bigint {
    let ret = 2n ** 63n - 2n;
    for (const r of this.values()) if (r.header && r.header.revision < ret) ret = r.header.revision;
    return ret;
  }

  cmps(): Cmp[] {
    return [...this.entries()].map(([k, r]) => isKeyCurrent(k, r));
  }
}

class WriteSet extends Map<string, Put> {
  firstOf(keys: string[]): Put | undefined {
    for (const k of keys) {
      const w = this.get(k);
      if (w) return w;
    }
    return undefined;
  }

  /** Written keys must not have changed since `rev`. */
  cmps(rev: bigint): Cmp[] {
    return [...this.keys()].map((k) => compare(k, 'mod', '<', rev));
  }

  puts(): etcdserverpb.RequestOp[] {
    return [...this.values()].map((p) => p.op);
  }
}

/** The repeatable-read / read-committed STM (etcd's `stm`). */
class BaseStm implements STM {
  rset = new ReadSet();
  wset = new WriteSet();
  getOpts: GetOptions = {};

  constructor(
    protected readonly kv: TxnSender,
    protected readonly call: CallOpts,
    private readonly conflictsFn: (s: BaseStm) => Cmp[],
  ) {}

  async get(...keys: string[]): Promise<string> {
    const w = this.wset.firstOf(keys);
    if (w) return w.value;
    return value(await this.fetch(keys));
  }

  put(key: string, value: string, opts?: PutOptions): void {
    this.wset.set(key, { value, op: Op.put(key, value, opts) });
  }

  del(key: string): void {
    this.wset.set(key, { value: '', op: Op.delete(key) });
  }

  async rev(key: string): Promise<bigint> {
    const r = await this.fetch([key]);
    return r?.kvs[0]?.modRevision ?? 0n;
  }

  conflicts(): Cmp[] {
    return this.conflictsFn(this);
  }

  async commit(): Promise<etcdserverpb.TxnResponse | undefined> {
    const resp = await this.kv.txnRequest({ compare: this.conflicts(), success: this.wset.puts(), failure: [] }, this.call);
    return resp.succeeded ? resp : undefined;
  }

  /** Read `keys` in one Txn unless one of them is cached (then that answer, as etcd's fetch). */
  async fetch(keys: string[]): Promise<etcdserverpb.RangeResponse | undefined> {
    if (keys.length === 0) return undefined;
    for (const k of keys) {
      const cached = this.rset.get(k);
      if (cached) return cached;
    }
    const resp = await this.kv.txnRequest({ compare: [], success: keys.map((k) => Op.get(k, this.getOpts)), failure: [] }, this.call);
    this.rset.add(keys, resp);
    return resp.responses[0]?.responseRange;
  }

  reset(): void {
    this.rset = new ReadSet();
    this.wset = new WriteSet();
  }
}

/** The serializable levels (etcd's `stmSerializable`): reads pinned to the first read's revision. */
class SerializableStm extends BaseStm {
  private prefetched = new ReadSet();

  override async get(...keys: string[]): Promise<string> {
    const w = this.wset.firstOf(keys);
    if (w) return w.value;
    if (keys.length === 0) return '';
    const firstRead = this.rset.size === 0;
    for (const k of keys) {
      const p = this.prefetched.get(k);
      if (p) {
        this.prefetched.delete(k);
        this.rset.set(k, p);
      }
    }
    const resp = await this.fetch(keys);
    if (firstRead && resp?.header) this.getOpts = { revision: resp.header.revision, serializable: true };
    return value(resp);
  }

  override async rev(key: string): Promise<bigint> {
    await this.get(key);
    return super.rev(key);
  }

  override async commit(): Promise<etcdserverpb.TxnResponse | undefined> {
    const keys = [...this.rset.keys()];
    const resp = await this.kv.txnRequest(
      { compare: this.conflicts(), success: this.wset.puts(), failure: keys.map((k) => Op.get(k)) },
      this.call,
    );
    if (resp.succeeded) return resp;
    // The else branch read every key afresh: start the next run from those values.
    this.rset.add(keys, resp);
    this.prefetched = this.rset;
    this.getOpts = {};
    return undefined;
  }
}

function isKeyCurrent(k: string, r: etcdserverpb.RangeResponse): Cmp {
  return compare(k, 'mod', '=', r.kvs[0]?.modRevision ?? 0n);
}

function value(r: etcdserverpb.RangeResponse | undefined): string {
  const kv = r?.kvs[0];
  return kv ? kv.value.toString('utf8') : '';
}

function makeStm(kv: TxnSender, iso: Isolation, call: CallOpts): BaseStm {
  switch (iso) {
    case 'serializable-snapshot':
      return new SerializableStm(kv, call, (s) => [...s.rset.cmps(), ...s.wset.cmps(s.rset.first() + 1n)]);
    case 'serializable':
      return new SerializableStm(kv, call, (s) => s.rset.cmps());
    case 'repeatable-read': {
      const s = new BaseStm(kv, call, (x) => x.rset.cmps());
      s.getOpts = { serializable: true };
      return s;
    }
    case 'read-committed': {
      const s = new BaseStm(kv, call, () => []);
      s.getOpts = { serializable: true };
      return s;
    }
    default:
      throw new TypeError(`unknown STM isolation ${JSON.stringify(iso)}`);
  }
}

/**
 * Run `apply` in a software transaction on `kv` (a Client or a Namespace) until its writes
 * commit; resolves with the commit's TxnResponse. An error thrown by `apply` or by a call ends
 * it with that error (nothing written); so does `signal`.
 */
export async function stm(kv: TxnSender, apply: (s: STM) => unknown, opts: StmOptions = {}): Promise<etcdserverpb.TxnResponse> {
  const call: CallOpts = { timeoutMs: opts.timeoutMs, signal: opts.signal };
  const s = makeStm(kv, opts.isolation ?? 'serializable-snapshot', call);
  const prefetch = opts.prefetch ?? [];
  const run =
    prefetch.length > 0
      ? async (x: STM) => {
          await x.get(...prefetch);
          return apply(x);
        }
      : apply;
  for (;;) {
    if (opts.signal?.aborted) throw new CancelledError(status.CANCELLED, 'operation was canceled');
    s.reset();
    await run(s);
    const resp = await s.commit();
    if (resp) return resp;
  }
}

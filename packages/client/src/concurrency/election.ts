// Election: leader election over KV + Watch (etcd's concurrency.Election). Candidates put
// `<pfx>/<lease hex>` with their value; the key with the lowest create revision is the leader.
import { type etcdserverpb, mvccpb } from '@kv/api';
import { toBuffer, type Bytes } from '../bytes.js';
import { compare, Op } from '../kv.js';
import { abortReason, ElectionNoLeaderError, ElectionNotLeaderError } from './errors.js';
import { firstCreate, leaseHex, retryUnavailable, waitDeletes } from './key.js';
import type { Session } from './session.js';

export interface CampaignOptions {
  /** Gives up the campaign; the candidate key is then removed (resign). */
  signal?: AbortSignal;
}

export interface ObserveOptions {
  /** Ends the iteration (normally, without an error). */
  signal?: AbortSignal;
}

export class Election {
  private readonly pfx: Buffer;
  private leaderKey: Buffer | undefined;
  private leaderRev = 0n;
  private leaderSession: Session | undefined;
  private hdr: etcdserverpb.ResponseHeader | undefined;

  constructor(
    private readonly session: Session,
    prefix: Bytes,
  ) {
    this.pfx = Buffer.concat([toBuffer(prefix), Buffer.from('/')]);
  }

  /** An election whose leadership (key, create revision) this session already holds (etcd's ResumeElection). */
  static resume(session: Session, prefix: Bytes, leaderKey: Bytes, leaderRev: bigint): Election {
    const e = new Election(session, prefix);
    e.leaderKey = toBuffer(leaderKey);
    e.leaderRev = leaderRev;
    e.leaderSession = session;
    return e;
  }

  /**
   * Becomes a candidate with `value` and waits to be the leader. A signal abort resigns; a lost
   * session lease ends the wait with SessionExpiredError.
   */
  async campaign(value: Bytes, opts: CampaignOptions = {}): Promise<void> {
    const client = this.session.client;
    const lease = this.session.lease;
    const key = Buffer.concat([this.pfx, Buffer.from(leaseHex(lease))]);
    const val = toBuffer(value);
    const resp = await retryUnavailable(
      () =>
        client
          .txn()
          .if(compare(key, 'create', '=', 0))
          .then(Op.put(key, val, { lease }))
          .else(Op.get(key))
          .commit({ signal: opts.signal }),
      opts.signal,
    );
    this.leaderKey = key;
    this.leaderRev = resp.header!.revision;
    this.leaderSession = this.session;
    if (!resp.succeeded) {
      const kv = resp.responses[0]!.responseRange!.kvs[0]!;
      this.leaderRev = kv.createRevision;
      if (!kv.value.equals(val)) {
        try {
          await this.proclaim(val);
        } catch (err) {
          await this.resign().catch(() => undefined);
          throw err;
        }
      }
    }
    try {
      await waitDeletes(client, this.pfx, this.leaderRev - 1n, key, opts.signal);
    } catch (err) {
      if (opts.signal?.aborted) {
        await this.resign().catch(() => undefined);
        throw abortReason(opts.signal);
      }
      this.leaderSession = undefined;
      throw err;
    }
    this.hdr = resp.header;
  }

  /** The leader announces a new value without another election; ElectionNotLeaderError otherwise. */
  async proclaim(value: Bytes): Promise<void> {
    if (!this.leaderSession || !this.leaderKey) throw new ElectionNotLeaderError();
    const key = this.leaderKey;
    const lease = this.leaderSession.lease;
    const resp = await retryUnavailable(
      () =>
        this.session.client
          .txn()
          .if(compare(key, 'create', '=', this.leaderRev))
          .then(Op.put(key, value, { lease }))
          .commit(),
      undefined,
    );
    if (!resp.succeeded) {
      this.leaderKey = undefined;
      throw new ElectionNotLeaderError();
    }
    this.hdr = resp.header;
  }

  /** Gives up the leadership (or the candidacy); nothing when not a candidate. */
  async resign(): Promise<void> {
    if (!this.leaderSession || !this.leaderKey) return;
    const key = this.leaderKey;
    try {
      const resp = await retryUnavailable(
        () =>
          this.session.client
            .txn()
            .if(compare(key, 'create', '=', this.leaderRev))
            .then(Op.delete(key))
            .commit(),
        undefined,
      );
      this.hdr = resp.header;
    } finally {
      this.leaderKey = undefined;
      this.leaderSession = undefined;
    }
  }

  /** The current leader's key-value (first-created key); ElectionNoLeaderError when there is none. */
  async leader(): Promise<etcdserverpb.RangeResponse> {
    const resp = await this.session.client.get(this.pfx, { prefix: true, sortTarget: 'create', sortOrder: 'ascend', limit: 1 });
    if (resp.kvs.length === 0) throw new ElectionNoLeaderError();
    return resp;
  }

  /**
   * The current leader, then every new value of its key, then the next leader, and so on (etcd's
   * Observe: not every historical value, but always the latest). Each response carries one kv.
   * Ends when the signal aborts; throws when a read or watch fails.
   */
  async *observe(opts: ObserveOptions = {}): AsyncGenerator<etcdserverpb.RangeResponse> {
    const client = this.session.client;
    const signal = opts.signal;
    while (!signal?.aborted) {
      const resp = await client
        .txn()
        .then(firstCreate(this.pfx))
        .commit({ signal })
        .catch((err) => {
          if (signal?.aborted) return undefined;
          throw err;
        });
      if (!resp) return;
      let header = resp.header!;
      let kv: mvccpb.KeyValue | undefined = resp.responses[0]?.responseRange?.kvs[0];
      if (!kv) {
        // Wait for the first put under the prefix (deletes would make this spin).
        const w = client.watch(this.pfx, { prefix: true, startRevision: header.revision + 1n });
        const stop = () => w.cancel();
        signal?.addEventListener('abort', stop, { once: true });
        try {
          for await (const r of w) {
            const put = r.events.find((e) => e.type === mvccpb.Event_EventType.PUT);
            if (put?.kv) {
              kv = put.kv;
              header = { ...r.header!, revision: put.kv.modRevision };
              break;
            }
          }
        } finally {
          signal?.removeEventListener('abort', stop);
          w.cancel();
        }
        if (!kv) return;
      }
      yield { header, kvs: [kv], more: false, count: 1n };
      const w = client.watch(kv.key, { startRevision: header.revision + 1n });
      const stop = () => w.cancel();
      signal?.addEventListener('abort', stop, { once: true });
      try {
        watch: for await (const r of w) {
          for (const ev of r.events) {
            if (ev.type === mvccpb.Event_EventType.DELETE) break watch;
            yield { header: r.header!, kvs: [ev.kv!], more: false, count: 1n };
          }
        }
      } finally {
        signal?.removeEventListener('abort', stop);
        w.cancel();
      }
    }
  }

  /** The leader key when elected (or campaigning), else undefined. */
  get key(): string | undefined {
    return this.leaderKey?.toString();
  }

  /** The leader key's create revision. */
  get rev(): bigint {
    return this.leaderRev;
  }

  /** The response header of the last successful election request. */
  get header(): etcdserverpb.ResponseHeader | undefined {
    return this.hdr;
  }
}

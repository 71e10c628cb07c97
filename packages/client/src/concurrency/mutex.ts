// Mutex: a distributed lock over KV + Watch (etcd's concurrency.Mutex). Each session puts the key
// `<pfx>/<lease hex>` bound to its lease; the key with the lowest create revision under `<pfx>/`
// owns the lock, and every other waiter watches only the key created just before its own.
import type { etcdserverpb } from '@kv/api';
import { toBuffer, type Bytes } from '../bytes.js';
import { compare, Op } from '../kv.js';
import { abortReason, MutexLockedError } from './errors.js';
import { firstCreate, leaseHex, retryUnavailable, waitDeletes } from './key.js';
import type { Session } from './session.js';

export interface LockOptions {
  /** Gives up waiting; the waiter's key is then deleted again (etcd's Lock with a cancelled context). */
  signal?: AbortSignal;
}

export class Mutex {
  private readonly pfx: Buffer;
  private myKey: Buffer = Buffer.from([0]);
  private myRev = -1n;
  private hdr: etcdserverpb.ResponseHeader | undefined;

  constructor(
    private readonly session: Session,
    prefix: Bytes,
  ) {
    this.pfx = Buffer.concat([toBuffer(prefix), Buffer.from('/')]);
  }

  /** Put our key among the waiters (or find it again) and read the current owner, in one txn. */
  private async acquire(signal: AbortSignal | undefined): Promise<etcdserverpb.TxnResponse> {
    const client = this.session.client;
    const lease = this.session.lease;
    this.myKey = Buffer.concat([this.pfx, Buffer.from(leaseHex(lease))]);
    const key = this.myKey;
    // Safe to repeat: a repeated txn finds the key it wrote and takes the else branch.
    const resp = await retryUnavailable(
      () =>
        client
          .txn()
          .if(compare(key, 'create', '=', 0))
          .then(Op.put(key, '', { lease }), firstCreate(this.pfx))
          .else(Op.get(key), firstCreate(this.pfx))
          .commit({ signal }),
      signal,
    );
    this.myRev = resp.header!.revision;
    if (!resp.succeeded) this.myRev = resp.responses[0]!.responseRange!.kvs[0]!.createRevision;
    return resp;
  }

  private ownsAfter(resp: etcdserverpb.TxnResponse): boolean {
    const owner = resp.responses[1]?.responseRange?.kvs ?? [];
    return owner.length === 0 || owner[0]!.createRevision === this.myRev;
  }

  /**
   * Waits until this session owns the lock. Ends with SessionExpiredError if the session's lease
   * goes away while waiting, or with the signal's reason; in both cases the waiter key is removed.
   */
  async lock(opts: LockOptions = {}): Promise<void> {
    const resp = await this.acquire(opts.signal);
    if (this.ownsAfter(resp)) {
      this.hdr = resp.header;
      return;
    }
    try {
      this.hdr = await waitDeletes(this.session.client, this.pfx, this.myRev - 1n, this.myKey, opts.signal);
    } catch (err) {
      await this.unlock().catch(() => undefined);
      throw opts.signal?.aborted ? abortReason(opts.signal) : err;
    }
  }

  /** Takes the lock if it is free, else removes our key and throws MutexLockedError (etcd 3.5's TryLock). */
  async tryLock(opts: LockOptions = {}): Promise<void> {
    const resp = await this.acquire(opts.signal);
    if (this.ownsAfter(resp)) {
      this.hdr = resp.header;
      return;
    }
    await this.unlock();
    throw new MutexLockedError();
  }

  /** Deletes our key: releases the lock, or leaves the queue of waiters. */
  async unlock(): Promise<void> {
    const key = this.myKey;
    await retryUnavailable(() => this.session.client.delete(key), undefined);
    this.myKey = Buffer.from([0]);
    this.myRev = -1n;
  }

  /** A txn guard that holds while this session owns the lock: `client.txn().if(m.isOwner())...`. */
  isOwner(): etcdserverpb.Compare {
    return compare(this.myKey, 'create', '=', this.myRev);
  }

  /** The ownership key, `<pfx>/<lease hex>` (as a string, like etcd's Key()). */
  get key(): string {
    return this.myKey.toString();
  }

  /** The ownership key's bytes. */
  get keyBytes(): Buffer {
    return this.myKey;
  }

  /** The create revision of the ownership key (-1 when not held). */
  get revision(): bigint {
    return this.myRev;
  }

  /** The response header received on acquiring the lock. */
  get header(): etcdserverpb.ResponseHeader | undefined {
    return this.hdr;
  }
}

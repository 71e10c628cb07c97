// Leases: grant/revoke/time-to-live/list as unary calls, keep-alives over the LeaseKeepAlive
// bidirectional stream.
import { status, type ClientDuplexStream } from '@grpc/grpc-js';
import { ErrorText, etcdserverpb } from '@kv/api';
import { toBigInt, type Int64 } from './bytes.js';
import type { CallOpts, Connections } from './connection.js';
import { sleep } from './clock.js';
import { CancelledError, LeaseNotFoundError, shouldRefreshToken, toEtcdError, type EtcdError } from './errors.js';
import { AsyncQueue } from './queue.js';

export interface GrantOptions extends CallOpts {
  /** Ask for this lease id (0: the server picks one). */
  id?: Int64;
}

export interface TimeToLiveOptions extends CallOpts {
  /** Also list the keys attached to the lease. */
  keys?: boolean;
}

/** TTL assumed before the first keep-alive answer tells the real one (as etcd's Go client). */
const FIRST_TTL_SECONDS = 5n;

type KeepAliveStream = ClientDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>;

export class Lease {
  constructor(private readonly conns: Connections) {}

  /** Create a lease of `ttl` seconds. */
  grant(ttl: Int64, opts: GrantOptions = {}): Promise<etcdserverpb.LeaseGrantResponse> {
    const req = etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: toBigInt(ttl), ID: toBigInt(opts.id) });
    // Repeatable in etcd's client (retry.go): a retried grant may leave an extra lease, which expires.
    return this.conns.unary((c) => c.lease.leaseGrant.bind(c.lease), req, {
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      idempotent: true,
    });
  }

  /** Revoke a lease, deleting its keys. */
  revoke(id: Int64, opts: CallOpts = {}): Promise<etcdserverpb.LeaseRevokeResponse> {
    const req = etcdserverpb.LeaseRevokeRequest.fromPartial({ ID: toBigInt(id) });
    return this.conns.unary((c) => c.lease.leaseRevoke.bind(c.lease), req, { ...opts, idempotent: true });
  }

  /**
   * Remaining and granted TTL. etcd answers for a lease that does not exist (any more) with
   * TTL -1 and grantedTTL 0 rather than an error.
   */
  timeToLive(id: Int64, opts: TimeToLiveOptions = {}): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    const req = etcdserverpb.LeaseTimeToLiveRequest.fromPartial({ ID: toBigInt(id), keys: opts.keys ?? false });
    return this.conns.unary((c) => c.lease.leaseTimeToLive.bind(c.lease), req, { ...opts, idempotent: true });
  }

  /** Every live lease. */
  leases(opts: CallOpts = {}): Promise<etcdserverpb.LeaseLeasesResponse> {
    return this.conns.unary((c) => c.lease.leaseLeases.bind(c.lease), {}, { ...opts, idempotent: true });
  }

  /** Renew a lease once. Throws LeaseNotFoundError when it does not exist. */
  async keepAliveOnce(id: Int64, opts: CallOpts = {}): Promise<etcdserverpb.LeaseKeepAliveResponse> {
    const deadline = this.conns.deadlineFor(opts);
    const conn = await this.conns.connect(deadline, { signal: opts.signal });
    const md = await this.conns.metadata(conn, deadline);
    const stream: KeepAliveStream = conn.lease.leaseKeepAlive(md, deadline === Infinity ? {} : { deadline });
    try {
      const resp = await new Promise<etcdserverpb.LeaseKeepAliveResponse>((resolve, reject) => {
        const onAbort = () => reject(new CancelledError(status.CANCELLED, 'operation was canceled'));
        opts.signal?.addEventListener('abort', onAbort, { once: true });
        stream.once('data', (r: etcdserverpb.LeaseKeepAliveResponse) => resolve(r));
        stream.once('error', (e: unknown) => reject(toEtcdError(e)));
        stream.once('end', () => reject(new CancelledError(status.CANCELLED, 'keep-alive stream ended')));
        stream.write({ ID: toBigInt(id) });
      });
      if (resp.TTL <= 0n) throw new LeaseNotFoundError(status.NOT_FOUND, ErrorText.LeaseNotFound);
      return resp;
    } finally {
      stream.removeAllListeners();
      stream.on('error', () => undefined);
      stream.cancel();
    }
  }

  /**
   * Keep a lease alive until stopped: renews every TTL/3 seconds (every 500 ms while a renewal
   * is unanswered) and yields each answer. A stream that ends for any reason is opened again on
   * the next healthy endpoint. Iteration ends when the lease has expired or was revoked (the
   * server answers TTL <= 0, or no answer came within the TTL), or after stop().
   */
  keepAlive(id: Int64): LeaseKeepAlive {
    return new LeaseKeepAlive(this.conns, toBigInt(id));
  }
}

/** How often a keep-alive checks whether a renewal is due, and the wait before a new stream (etcd's retryConnWait). */
const KEEPALIVE_TICK_MS = 500;

/**
 * One lease kept alive, as etcd's clientv3 lessor does it (lease.go: sendKeepAliveLoop,
 * recvKeepAliveLoop, deadlineLoop):
 * - a renewal is sent whenever one is due: at once, then TTL/3 after each answer, and again every
 *   500 ms while no answer came (a member that took the request but cannot answer, e.g. one
 *   waiting for a new leader, is asked again);
 * - a stream that ends, with any status, is replaced by a new one after a short wait, on the next
 *   healthy endpoint (a dead member, or one without a leader, is skipped for a while);
 * - the keep-alive ends only when the lease is gone (an answer with TTL <= 0), when no answer came
 *   within the last TTL (the deadline; the lease may have expired), or at stop()/close().
 *
 * Invariant: `deadline` is the last answer's time plus its TTL (the first: creation plus
 * FIRST_TTL_SECONDS); the keep-alive never outlives it without a newer answer.
 */
export class LeaseKeepAlive implements AsyncIterable<etcdserverpb.LeaseKeepAliveResponse> {
  private readonly queue: AsyncQueue<etcdserverpb.LeaseKeepAliveResponse>;
  private readonly stopper = new AbortController();
  private stream: KeepAliveStream | undefined;
  private tickTimer: unknown;
  private expiryTimer: unknown;
  /** When the next renewal is due (clock ms); 0: now. */
  private nextKeepAlive = 0;
  /** Resolves when the keep-alive has finished (stopped, expired, revoked or the client closed). */
  readonly done: Promise<void>;

  constructor(
    private readonly conns: Connections,
    readonly id: bigint,
  ) {
    this.queue = new AsyncQueue(() => this.stop());
    this.armExpiry(FIRST_TTL_SECONDS);
    this.done = this.run();
  }

  stop(): void {
    if (this.stopper.signal.aborted) return;
    this.stopper.abort();
    this.cleanup();
    this.queue.end();
  }

  [Symbol.asyncIterator](): AsyncIterator<etcdserverpb.LeaseKeepAliveResponse> {
    return this.queue;
  }

  private get stopped(): boolean {
    return this.stopper.signal.aborted || this.conns.isClosed;
  }

  private cleanup(): void {
    const clock = this.conns.clock;
    clock.clearTimeout(this.tickTimer);
    clock.clearTimeout(this.expiryTimer);
    const s = this.stream;
    this.stream = undefined;
    if (s) {
      s.removeAllListeners();
      s.on('error', () => undefined);
      s.cancel();
    }
  }

  /** No answer within `ttl` seconds means the lease may be gone: the keep-alive ends. */
  private armExpiry(ttl: bigint): void {
    const clock = this.conns.clock;
    clock.clearTimeout(this.expiryTimer);
    this.expiryTimer = clock.setTimeout(() => this.stop(), Number(ttl) * 1000);
  }

  private async run(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (failures > 0) {
        await sleep(this.conns.clock, Math.min(50 * 2 ** Math.min(failures - 1, 5), KEEPALIVE_TICK_MS), this.stopper.signal);
        if (this.stopped) break;
      }
      let err: EtcdError | undefined;
      let answered = false;
      let sentToken: string | undefined;
      try {
        const conn = await this.conns.connect(Infinity, { signal: this.stopper.signal });
        // Always `hasleader`, whatever the client's requireLeader: etcd's lessor hard-codes it too.
        const md = await this.conns.metadata(conn, Infinity, true);
        sentToken = this.conns.currentToken;
        if (this.stopped) break;
        conn.sent++;
        const r = await this.session(conn.lease.leaseKeepAlive(md));
        err = r.err;
        answered = r.answered;
        if (err) this.conns.reportStreamError(conn, err);
      } catch (e) {
        err = toEtcdError(e);
      }
      if (this.stopped) break;
      // Any ending is retried (etcd's recvKeepAliveLoop stops only when its caller cancels); the
      // deadline ends a keep-alive that gets no answers. A rejected token is fetched again.
      if (shouldRefreshToken(err)) this.conns.dropToken(sentToken);
      failures = answered ? 1 : failures + 1;
    }
    this.cleanup();
    this.queue.end();
  }

  /** One stream's life; resolves with the error that ended it (undefined: ended cleanly). */
  private session(s: KeepAliveStream): Promise<{ err: EtcdError | undefined; answered: boolean }> {
    this.stream = s;
    const clock = this.conns.clock;
    let answered = false;
    return new Promise<EtcdError | undefined>((resolve) => {
      const tick = () => {
        if (this.stream !== s) return;
        if (clock.now() >= this.nextKeepAlive) s.write({ ID: this.id });
        this.tickTimer = clock.setTimeout(tick, KEEPALIVE_TICK_MS);
      };
      s.on('data', (r: etcdserverpb.LeaseKeepAliveResponse) => {
        if (r.ID !== this.id) return;
        if (r.TTL <= 0n) {
          // Expired or revoked.
          this.stop();
          resolve(undefined);
          return;
        }
        answered = true;
        this.nextKeepAlive = clock.now() + (Number(r.TTL) * 1000) / 3;
        this.armExpiry(r.TTL);
        this.queue.push(r);
      });
      s.on('error', (e: unknown) => resolve(toEtcdError(e)));
      s.on('end', () => resolve(undefined));
      this.stopper.signal.addEventListener('abort', () => resolve(new CancelledError(status.CANCELLED, 'stopped')), { once: true });
      tick();
    }).then((err) => {
      clock.clearTimeout(this.tickTimer);
      if (this.stream === s) {
        this.stream = undefined;
        s.removeAllListeners();
        s.on('error', () => undefined);
        s.cancel();
      }
      return { err, answered };
    });
  }
}

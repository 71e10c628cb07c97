// Session: a lease kept alive for as long as the session lives (etcd's concurrency.Session).
// Mutex and Election bind their keys to it, so a process that dies (or loses its cluster for
// longer than the TTL) gives up its locks and leaderships when the lease expires.
import type { Client } from '../client.js';
import { toBigInt, type Int64 } from '../bytes.js';
import type { LeaseKeepAlive } from '../lease.js';

/** etcd's defaultSessionTTL (seconds). */
export const DEFAULT_SESSION_TTL = 60;

export interface SessionOptions {
  /** Lease TTL in seconds for a new lease; <= 0 or absent means 60 (etcd's default). */
  ttl?: number;
  /** Use this existing lease instead of granting one (e.g. to reclaim a lock after a restart). */
  lease?: Int64;
  /** Aborts the grant while the session is being created. */
  signal?: AbortSignal;
}

export class Session {
  private orphaned = false;

  private constructor(
    /** The client the session's requests go through. */
    readonly client: Client,
    /** The session's lease id. */
    readonly lease: bigint,
    /** The TTL the session was created with (seconds). */
    readonly ttl: number,
    private readonly keepAlive: LeaseKeepAlive,
  ) {
    // The keep-alive's answers are not needed; drain them so they are not buffered.
    void (async () => {
      try {
        for await (const _ of keepAlive) {
          // eat answers until the keep-alive ends
        }
      } catch {
        // expired, revoked or failed: `done` resolves
      }
    })();
  }

  /** Grants a lease (or adopts `opts.lease`) and keeps it alive. */
  static async create(client: Client, opts: SessionOptions = {}): Promise<Session> {
    const ttl = opts.ttl !== undefined && opts.ttl > 0 ? opts.ttl : DEFAULT_SESSION_TTL;
    let id = toBigInt(opts.lease ?? 0);
    if (id === 0n) id = (await client.lease.grant(ttl, { signal: opts.signal })).ID;
    return new Session(client, id, ttl, client.lease.keepAlive(id));
  }

  /** Resolves when the lease is no longer refreshed: orphaned, closed, expired or revoked. */
  get done(): Promise<void> {
    return this.keepAlive.done;
  }

  /** Stops refreshing the lease without revoking it (it expires after its TTL). */
  orphan(): void {
    this.orphaned = true;
    this.keepAlive.stop();
  }

  /** Whether orphan() or close() was called. */
  get isOrphaned(): boolean {
    return this.orphaned;
  }

  /** Orphans the session and revokes its lease, which deletes every key bound to it. */
  async close(): Promise<void> {
    this.orphan();
    // If the revoke takes longer than the TTL, the lease has expired anyway (etcd's reasoning).
    await this.client.lease.revoke(this.lease, { timeoutMs: this.ttl * 1000 });
  }
}

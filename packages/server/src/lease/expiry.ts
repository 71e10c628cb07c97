// Lease expiry, all of it: the revoke pass (at most revokesPerPass expired leases proposed for
// revocation every passMs, etcd's leaseRevokeRate), the periodic checkpoint of remaining TTLs and
// the final one at a clean stop, promote/demote of the lessor on leader changes, and where a
// keep-alive or time-to-live is answered (the leader's lessor, the primary, answers; a follower
// forwards to it through the peer network).
//
// Invariants:
// - Only the leader's lessor is primary: promote on becoming leader (and after a snapshot install
//   on the leader), demote on losing leadership. Expiry only *proposes* revokes; the revoke itself
//   is applied from the log on every member.
// - A lease is proposed for revocation at most once at a time (`revoking`): a slow log never gets
//   a second revoke for the same lease from this member while the first is in flight.
import type { etcdserverpb } from '@kv/api';
import type { Logger } from 'pino';
import type { Response } from '../apply/applier.js';
import type { Consensus } from '../consensus/consensus.js';
import { RpcError } from '../errors.js';
import { sleep, type Clock, type Timer } from '../world/clock.js';
import type { PeerAddress, PeerNetwork } from '../world/network.js';
import type { Lessor } from './lessor.js';

/** Largest number of expired leases revoked per expiry pass (etcd: leaseRevokeRate 1000/s). */
export const revokesPerPass = 500;
export const expiryPassMs = 500;
/** Lease checkpoints (remaining TTLs) are persisted this often, and at a clean stop. */
export const checkpointIntervalMs = 5 * 60 * 1000;
/** How long a forwarded keep-alive or time-to-live may take. */
const forwardTimeoutMs = 5000;
/** Wait between two forwards of one keep-alive (etcd's LeaseRenew throttle). */
export const renewRetryMs = 50;

/** etcd's ReqTimeout: 5 s plus two election timeouts, the longest a keep-alive is forwarded for. */
export function defaultRenewTimeoutMs(electionTimeoutMs: number): number {
  return 5000 + 2 * electionTimeoutMs;
}

export interface LeaseExpiryOptions {
  clock: Clock;
  logger: Logger;
  /** The current lessor (replaced whole when a snapshot is installed). */
  lessor: () => Lessor;
  consensus: Pick<Consensus, 'isLeader' | 'leader' | 'waitLeader' | 'readBarrier'>;
  /** Sends a request through the log (revoke, checkpoint). */
  propose: (req: Partial<etcdserverpb.InternalRaftRequest>) => Promise<Response>;
  /** Where followers forward keep-alives and time-to-live requests. */
  network: Pick<PeerNetwork, 'renewLease' | 'leaseTimeToLive'>;
  /** The leader as the network addresses it, undefined while none is known. */
  leader: () => PeerAddress | undefined;
  /** The response header at the current revision. */
  header: () => etcdserverpb.ResponseHeader;
  /** Added to every lease's expiry on promotion (etcd: an election timeout). */
  electionTimeoutMs: number;
  /** How long a follower keeps forwarding one keep-alive (default defaultRenewTimeoutMs). */
  renewTimeoutMs?: number;
  revokesPerPass?: number;
  passMs?: number;
  checkpointMs?: number;
}

export class LeaseExpiry {
  private readonly revoking = new Set<bigint>();
  private readonly timers: Timer[] = [];
  private stopped = false;

  constructor(private readonly o: LeaseExpiryOptions) {}

  /** Starts the revoke pass and the checkpoint timer. */
  start(): void {
    const run = (fn: () => Promise<void>) => () => {
      fn().catch((err) => this.o.logger.error({ err }, 'background task failed'));
    };
    this.timers.push(
      this.o.clock.setInterval(
        run(() => this.revokeExpired()),
        this.o.passMs ?? expiryPassMs,
      ),
    );
    this.timers.push(
      this.o.clock.setInterval(
        run(() => this.checkpoint()),
        this.o.checkpointMs ?? checkpointIntervalMs,
      ),
    );
  }

  /**
   * Leadership changed. A new leader's leases expire after their remaining TTL (from the last
   * checkpoint) or their full TTL, plus an election timeout, as on an etcd leader change.
   */
  onLeaderChange(isLeader: boolean): void {
    if (isLeader) this.o.lessor().promote(this.o.electionTimeoutMs);
    else this.o.lessor().demote();
  }

  /** A snapshot install replaced the lessor: on the leader the new one is primary at once. */
  onLessorReplaced(): void {
    if (this.o.consensus.isLeader()) this.o.lessor().promote(this.o.electionTimeoutMs);
  }

  /** One revoke pass: proposes the oldest expired leases (at most revokesPerPass), each once at a time. */
  async revokeExpired(): Promise<void> {
    if (this.stopped) return;
    for (const l of this.o.lessor().expired(this.o.revokesPerPass ?? revokesPerPass)) {
      if (this.revoking.has(l.id)) continue;
      this.revoking.add(l.id);
      this.o
        .propose({ leaseRevoke: { ID: l.id } })
        .catch((err) => {
          if (!(err instanceof RpcError && err.etcdName === 'LeaseNotFound'))
            this.o.logger.warn({ err, lease: l.id.toString(16) }, 'lease revoke failed');
        })
        .finally(() => this.revoking.delete(l.id));
    }
  }

  /** Persists the remaining TTLs through the log (primary only; nothing to do elsewhere). */
  async checkpoint(): Promise<void> {
    const checkpoints = this.o.lessor().checkpoints();
    if (checkpoints.length > 0) await this.o.propose({ leaseCheckpoint: { checkpoints } });
  }

  /**
   * Keep-alive: resets a lease's expiry on the primary lessor, as etcd's LeaseRenew. On the leader
   * it is answered here. Elsewhere it is forwarded to the leader, and forwarded again (every 50 ms,
   * re-reading who leads) until one answers or the request timeout passes: right after the leader
   * dies its followers still name it for an election timeout, and the keep-alive must outlast
   * that, not fail. A `forwarded` renew (one a follower sent here) is answered from this member's
   * lessor only, or refused with NotLeader, so forwards never chain.
   */
  async renew(id: bigint, opts: { forwarded?: boolean } = {}): Promise<bigint> {
    if (opts.forwarded) {
      if (!this.o.consensus.isLeader()) throw new RpcError('NotLeader');
      return this.renewPrimary(id);
    }
    const clock = this.o.clock;
    const deadline = clock.now() + (this.o.renewTimeoutMs ?? defaultRenewTimeoutMs(this.o.electionTimeoutMs));
    let last: unknown;
    for (;;) {
      if (this.stopped) throw new RpcError('Stopped');
      try {
        // Right after a start or a leader change there may be no leader yet: wait for one, as etcd does.
        await this.o.consensus.waitLeader();
        if (this.o.consensus.isLeader()) return await this.renewPrimary(id);
        const left = deadline - clock.now();
        if (left <= 0) break;
        return await this.o.network.renewLease(this.leaderOrFail(), id, Math.min(left, forwardTimeoutMs));
      } catch (err) {
        if (err instanceof RpcError && (err.etcdName === 'LeaseNotFound' || err.etcdName === 'Stopped')) throw err;
        last = err;
      }
      if (clock.now() + renewRetryMs >= deadline) break;
      await sleep(clock, renewRetryMs);
    }
    // As etcd: no leader known until the end is NoLeader, any other failure to get an answer in
    // time is a timeout; both are Unavailable, so the client retries (elsewhere).
    throw new RpcError(last instanceof RpcError && last.etcdName === 'NoLeader' ? 'NoLeader' : 'Timeout');
  }

  /** The leader's side of a renew: after the read barrier, the primary lessor resets the expiry. */
  private async renewPrimary(id: bigint): Promise<bigint> {
    await this.o.consensus.readBarrier();
    const lessor = this.o.lessor();
    const checkpointed = (lessor.lookup(id)?.remainingTTL ?? 0n) > 0n;
    const ttl = lessor.renew(id);
    // As etcd's Renew: clear a checkpointed remaining TTL on every member too, or a member that
    // is promoted later would expire this freshly renewed lease after the stale remainder.
    if (checkpointed) await this.o.propose({ leaseCheckpoint: { checkpoints: [{ ID: id, remainingTTL: 0n }] } });
    return ttl;
  }

  /** Time-to-live, answered by the primary lessor. */
  /** `token`: the caller's auth token, forwarded with the request to the leader. */
  async timeToLive(req: etcdserverpb.LeaseTimeToLiveRequest, token?: string): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    await this.o.consensus.waitLeader();
    if (!this.o.consensus.isLeader()) {
      const r = await this.o.network.leaseTimeToLive(this.leaderOrFail(), req, forwardTimeoutMs, token);
      return { ...r, header: this.o.header() };
    }
    await this.o.consensus.readBarrier();
    const l = this.o.lessor().lookup(req.ID);
    // etcd answers an unknown (revoked, expired) lease with TTL -1, not an error.
    if (!l) return { header: this.o.header(), ID: req.ID, TTL: -1n, grantedTTL: 0n, keys: [] };
    return {
      header: this.o.header(),
      ID: req.ID,
      TTL: l.remainingSeconds(this.o.clock.now()),
      grantedTTL: l.ttl,
      keys: req.keys ? [...l.keys].sort().map((k) => Buffer.from(k, 'latin1')) : [],
    };
  }

  private leaderOrFail(): PeerAddress {
    const lead = this.o.leader();
    if (!lead) throw new RpcError('NoLeader');
    return lead;
  }

  /**
   * Stops the timers; on the leader first persists the remaining TTLs, but does not hold the stop
   * up for longer than `timeoutMs` if there is no quorum.
   */
  async stop(timeoutMs: number): Promise<void> {
    if (this.stopped) return;
    if (this.o.consensus.isLeader()) {
      let timer: Timer | undefined;
      await Promise.race([
        this.checkpoint(),
        new Promise<void>((_, reject) => {
          timer = this.o.clock.setTimeout(() => reject(new Error('timed out')), timeoutMs);
        }),
      ])
        .catch((err) => this.o.logger.warn({ err }, 'final lease checkpoint failed'))
        .finally(() => timer?.clear());
    }
    this.stopped = true;
    for (const t of this.timers) t.clear();
  }
}

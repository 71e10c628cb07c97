// The lessor and lease expiry on a manual clock: when a lease is proposed for revocation, how a
// leader change moves expiry, the revoke rate, and TTLs carried over by checkpoints.
import { etcdserverpb } from '@kv/api';
import { describe, expect, it } from 'vitest';
import type { Response } from '../apply/applier.js';
import { silentLogger } from '../logger.js';
import { ManualClock, settle } from '../testutil/manual_clock.js';
import type { PeerAddress } from '../world/network.js';
import { RpcError } from '../errors.js';
import { defaultRenewTimeoutMs, LeaseExpiry } from './expiry.js';
import { Lessor, type LeaseBucket } from './lessor.js';

class MapBucket implements LeaseBucket {
  readonly records = new Map<string, Buffer>();
  put(key: Buffer, value: Buffer): void {
    this.records.set(key.toString('hex'), value);
  }
  del(key: Buffer): void {
    this.records.delete(key.toString('hex'));
  }
}

const electionMs = 1000;

/** A lessor and its expiry on a manual clock, with what they propose recorded (and applied). */
function setup(
  o: {
    leader?: boolean;
    revokesPerPass?: number;
    /** Answers a forwarded keep-alive (default: TTL 42 from anyone). */
    forward?: (to: PeerAddress, id: bigint) => Promise<bigint>;
  } = {},
) {
  const clock = new ManualClock();
  const bucket = new MapBucket();
  let lessor = new Lessor({ now: () => clock.now(), minTTL: 1n });
  let leader = o.leader ?? true;
  /** Whom a follower forwards to; undefined: no leader known. */
  let leaderAddr: PeerAddress | undefined = { id: 2n, peerUrls: [], clientUrls: ['http://127.0.0.1:1'] };
  const proposed: Partial<etcdserverpb.InternalRaftRequest>[] = [];
  const forwarded: { to: PeerAddress; id: bigint }[] = [];
  const expiry = new LeaseExpiry({
    clock,
    logger: silentLogger(),
    lessor: () => lessor,
    consensus: {
      isLeader: () => leader,
      leader: () => (leader ? 1n : (leaderAddr?.id ?? 0n)),
      waitLeader: async () => undefined,
      readBarrier: async () => undefined,
    },
    propose: async (req) => {
      proposed.push(req);
      // Applied as the log would: revokes delete the lease, checkpoints record remaining TTLs.
      if (req.leaseRevoke) await lessor.revoke(req.leaseRevoke.ID, { deleteRange: async () => 0 }, bucket);
      for (const c of req.leaseCheckpoint?.checkpoints ?? []) lessor.checkpoint(c.ID, c.remainingTTL, bucket);
      return {} as Response;
    },
    network: {
      renewLease: async (to, id) => {
        forwarded.push({ to, id });
        return o.forward ? o.forward(to, id) : 42n;
      },
      leaseTimeToLive: async () => {
        throw new Error('not used');
      },
    },
    leader: () => (leader ? undefined : leaderAddr),
    header: () => ({ clusterId: 1n, memberId: 1n, revision: 1n, raftTerm: 1n }),
    electionTimeoutMs: electionMs,
    revokesPerPass: o.revokesPerPass,
  });
  return {
    clock,
    bucket,
    expiry,
    proposed,
    forwarded,
    get lessor() {
      return lessor;
    },
    /** Followers now name this member as the leader. */
    setLeaderAddr(a: PeerAddress | undefined) {
      leaderAddr = a;
    },
    setLeader(v: boolean) {
      leader = v;
      expiry.onLeaderChange(v);
    },
    /** A restart: a new lessor from what the bucket holds. */
    restart() {
      lessor = new Lessor({ now: () => clock.now(), minTTL: 1n });
      lessor.restore(s.bucket.records.values());
    },
  };
}
let s: ReturnType<typeof setup>;

const revokes = (p: Partial<etcdserverpb.InternalRaftRequest>[]) => p.filter((r) => r.leaseRevoke).map((r) => r.leaseRevoke!.ID);

describe('LeaseExpiry', () => {
  it('proposes a revoke once a lease outlived its TTL, not before', async () => {
    s = setup();
    s.setLeader(true);
    s.expiry.start();
    s.lessor.grant(7n, 5n, s.bucket);
    await s.clock.advance(4_500);
    expect(revokes(s.proposed)).toEqual([]);
    await s.clock.advance(1_000); // the pass at 5.0 s finds it expired
    expect(revokes(s.proposed)).toEqual([7n]);
    expect(s.lessor.lookup(7n)).toBeUndefined();
    await s.expiry.stop(electionMs);
  });

  it('a new leader gives every lease its TTL plus an election timeout', async () => {
    s = setup({ leader: false });
    s.lessor.grant(7n, 5n, s.bucket); // granted on a follower: no expiry yet
    s.expiry.start();
    await s.clock.advance(60_000);
    expect(revokes(s.proposed)).toEqual([]);
    s.setLeader(true); // at 60 s: expires at 60 + 5 + 1 s
    await s.clock.advance(5_500);
    expect(revokes(s.proposed)).toEqual([]);
    await s.clock.advance(1_000);
    expect(revokes(s.proposed)).toEqual([7n]);
    await s.expiry.stop(electionMs);
  });

  it('a demoted lessor lets nothing expire, and a follower forwards keep-alives to the leader', async () => {
    s = setup();
    s.setLeader(true);
    s.lessor.grant(7n, 2n, s.bucket);
    s.expiry.start();
    s.setLeader(false);
    await s.clock.advance(30_000);
    expect(revokes(s.proposed)).toEqual([]);
    expect(await s.expiry.renew(7n)).toBe(42n);
    expect(s.forwarded.map((f) => [f.to.id, f.id])).toEqual([[2n, 7n]]);
    await s.expiry.stop(electionMs);
  });

  it('revokes at most revokesPerPass leases per pass, oldest first', async () => {
    s = setup({ revokesPerPass: 3 });
    s.setLeader(true);
    for (let i = 1n; i <= 7n; i++) s.lessor.grant(i, 1n, s.bucket);
    s.expiry.start();
    await s.clock.advance(1_000); // first pass finding them expired (passes every 500 ms)
    expect(revokes(s.proposed)).toEqual([1n, 2n, 3n]);
    await s.clock.advance(500);
    expect(revokes(s.proposed)).toEqual([1n, 2n, 3n, 4n, 5n, 6n]);
    await s.clock.advance(500);
    expect(revokes(s.proposed)).toHaveLength(7);
    await s.expiry.stop(electionMs);
  });

  it('checkpoints remaining TTLs, and a restarted leader counts from them', async () => {
    s = setup();
    s.setLeader(true);
    s.lessor.grant(7n, 100n, s.bucket);
    s.expiry.start();
    await s.clock.advance(40_000);
    await s.expiry.stop(electionMs); // the final checkpoint: 60 s left
    const cp = s.proposed.find((r) => r.leaseCheckpoint)!;
    expect(cp.leaseCheckpoint!.checkpoints).toEqual([{ ID: 7n, remainingTTL: 60n }]);
    s.restart();
    expect(s.lessor.lookup(7n)!.remainingTTL).toBe(60n);
    s.setLeader(true); // expires 60 s + an election timeout from now
    expect(s.lessor.lookup(7n)!.remainingSeconds(s.clock.now())).toBe(61n);
  });

  it('a keep-alive after a checkpoint clears it on every member (a later leader gives the full TTL)', async () => {
    s = setup();
    s.setLeader(true);
    s.lessor.grant(7n, 10n, s.bucket);
    await s.clock.advance(8_000);
    await s.expiry.checkpoint(); // 2 s left, replicated
    expect(s.lessor.lookup(7n)!.remainingTTL).toBe(2n);
    s.proposed.length = 0;
    expect(await s.expiry.renew(7n)).toBe(10n);
    // As etcd's Renew: the clearing goes through the log, so followers forget the 2 s too.
    expect(s.proposed).toEqual([{ leaseCheckpoint: { checkpoints: [{ ID: 7n, remainingTTL: 0n }] } }]);
    expect(s.lessor.lookup(7n)!.remainingTTL).toBe(0n);
    await s.expiry.renew(7n); // nothing checkpointed any more: no proposal
    expect(s.proposed.length).toBe(1);
    s.setLeader(false);
    s.setLeader(true); // promoted again: full TTL plus an election timeout
    expect(s.lessor.lookup(7n)!.remainingSeconds(s.clock.now())).toBe(11n);
  });

  it('answers time-to-live from the primary lessor, -1 for an unknown lease', async () => {
    s = setup();
    s.setLeader(true);
    s.lessor.grant(7n, 10n, s.bucket);
    await s.clock.advance(3_000);
    const r = await s.expiry.timeToLive(etcdserverpb.LeaseTimeToLiveRequest.fromPartial({ ID: 7n }));
    expect([r.TTL, r.grantedTTL]).toEqual([7n, 10n]);
    const gone = await s.expiry.timeToLive(etcdserverpb.LeaseTimeToLiveRequest.fromPartial({ ID: 8n }));
    expect(gone.TTL).toBe(-1n);
  });

  it('a follower keeps forwarding a keep-alive until a leader answers (the old leader died)', async () => {
    // The old leader (2) refuses connections; followers name it until the election is over.
    s = setup({
      leader: false,
      forward: async (to) => {
        if (to.id === 2n) throw Object.assign(new Error('No connection established'), { code: 14 });
        return 5n;
      },
    });
    let result: bigint | Error | undefined;
    s.expiry.renew(7n).then(
      (v) => (result = v),
      (e: Error) => (result = e),
    );
    await settle(); // the first forward has failed and the retry timer is set
    await s.clock.advance(1_000); // an election timeout of failed forwards, one every 50 ms
    expect(result).toBeUndefined();
    const tries = s.forwarded.length;
    expect(tries).toBeGreaterThan(10);
    s.setLeaderAddr({ id: 3n, peerUrls: [], clientUrls: ['http://127.0.0.1:3'] }); // elected
    await s.clock.advance(100);
    expect(result).toBe(5n);
    expect(s.forwarded.slice(tries).map((f) => f.to.id)).toEqual([3n]);
  });

  it("a keep-alive no leader answers in time fails with etcd's request timeout; a vanished lease at once", async () => {
    s = setup({
      leader: false,
      forward: async () => {
        throw Object.assign(new Error('No connection established'), { code: 14 });
      },
    });
    let result: unknown;
    s.expiry.renew(7n).catch((e: unknown) => (result = e));
    await settle();
    await s.clock.advance(defaultRenewTimeoutMs(electionMs) - 100);
    expect(result).toBeUndefined();
    await s.clock.advance(200);
    expect(result).toBeInstanceOf(RpcError);
    expect((result as RpcError).etcdName).toBe('Timeout');

    s = setup({ leader: false, forward: async () => Promise.reject(new RpcError('LeaseNotFound')) });
    await expect(s.expiry.renew(7n)).rejects.toMatchObject({ etcdName: 'LeaseNotFound' });
    expect(s.forwarded).toHaveLength(1);
  });

  it('a forwarded keep-alive is answered by the primary lessor only, never forwarded on', async () => {
    s = setup({ leader: false });
    s.lessor.grant(7n, 5n, s.bucket);
    await expect(s.expiry.renew(7n, { forwarded: true })).rejects.toMatchObject({ etcdName: 'NotLeader' });
    expect(s.forwarded).toEqual([]);
    s.setLeader(true);
    expect(await s.expiry.renew(7n, { forwarded: true })).toBe(5n);
  });
});

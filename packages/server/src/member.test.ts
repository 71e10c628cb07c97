// A member built from a world of test parts — a manual clock, a seeded Random, a data dir in a
// temp dir, a network that records what it is given — the way the whole-cluster simulation builds
// one: it elects itself when its clock says so, applies writes, expires a lease on its clock
// alone, answers through its PeerHandler, and restarts from its disk.
import { etcdserverpb } from '@kv/api';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { resolveConfig } from './config.js';
import { silentLogger } from './logger.js';
import { Member } from './member.js';
import { ManualClock } from './testutil/manual_clock.js';
import { seededWorldRandom } from './testutil/random.js';
import { dataDirDisk } from './world/disk.js';
import type { MemberWorld } from './world/index.js';
import type { PeerAddress, PeerHandler, PeerNetwork } from './world/network.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kv-member-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A network of one member: nothing to send to; it records the peers and the handler it got. */
class RecordingNetwork implements PeerNetwork {
  handler?: PeerHandler;
  peers: readonly PeerAddress[] = [];
  sent = 0;
  stopped = false;
  send(msgs: unknown[]): void {
    this.sent += msgs.length;
  }
  sendSnapshot(): void {
    this.sent++;
  }
  setPeers(peers: readonly PeerAddress[]): void {
    this.peers = peers;
  }
  renewLease(): Promise<bigint> {
    return Promise.reject(new Error('a member of one never forwards'));
  }
  leaseTimeToLive(): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    return Promise.reject(new Error('a member of one never forwards'));
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
}

/** Bounded wait for the member's real disk I/O; time on the member's clock does not move. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`${what}: not reached`);
}

function world(clock: ManualClock, network: RecordingNetwork): MemberWorld {
  return {
    clock,
    random: seededWorldRandom(1),
    disk: dataDirDisk(dir),
    network: (self, handler) => {
      expect(self.memberId).not.toBe(0n);
      network.handler = handler;
      return network;
    },
  };
}

const b = (s: string) => Buffer.from(s);

describe('Member on an injected world', () => {
  it('runs on its clock, expires a lease on it, and restarts from its disk', async () => {
    const config = resolveConfig({ name: 'one', dataDir: dir, unsafeNoFsync: true });
    const clock = new ManualClock();
    const net = new RecordingNetwork();
    const m = await Member.open({ config, logger: silentLogger(), world: world(clock, net), onFatal: (err) => expect.fail(String(err)) });
    expect(net.handler).toBeDefined();
    expect(net.peers).toEqual([]); // a cluster of one: no peers
    await m.start();
    // Its bootstrap entry applied, it campaigns once its election timeout has passed on its clock.
    await until('bootstrap applied', () => m.consensus.appliedIndex() >= 1n);
    await clock.advance(2 * config.electionTimeoutMs);
    await until('leader', () => m.consensus.isLeader());

    await m.propose({ put: etcdserverpb.PutRequest.fromPartial({ key: b('k'), value: b('v') }) });
    const grant = (await m.propose({ leaseGrant: { ID: 7n, TTL: 5n } })) as etcdserverpb.LeaseGrantResponse;
    expect(grant.TTL).toBe(5n);
    await m.propose({ put: etcdserverpb.PutRequest.fromPartial({ key: b('leased'), value: b('v'), lease: 7n }) });
    // A keep-alive through the PeerHandler (what a follower's forward reaches) renews it.
    expect(await net.handler!.renewLease(7n)).toBe(5n);
    await clock.advance(4_000);
    expect(m.lessor.lookup(7n)).toBeDefined();
    // Past its TTL (plus a revoke pass), the member revokes it through its log: the key goes.
    await clock.advance(1_500);
    await until('lease revoked', () => m.lessor.lookup(7n) === undefined);
    const leased = await m.store.rangeAt(b('leased'), undefined, m.store.currentRev(), 0n, {});
    expect(leased.kvs).toEqual([]);
    const rev = m.store.currentRev();
    await m.stop();
    expect(net.stopped).toBe(true);

    // The same disk again: the data and the revision are back.
    const clock2 = new ManualClock(1_800_000_000_000);
    const m2 = await Member.open({
      config,
      logger: silentLogger(),
      world: world(clock2, new RecordingNetwork()),
      onFatal: (err) => expect.fail(String(err)),
    });
    expect(m2.memberId).toBe(m.memberId);
    expect(m2.store.currentRev()).toBe(rev);
    const k = await m2.store.rangeAt(b('k'), undefined, m2.store.currentRev(), 0n, {});
    expect(k.kvs[0]?.value.toString()).toBe('v');
    await m2.stop();
  });

  it("a joined member restarted before it applied anything fetches the member list again (real ids, not the founders')", async () => {
    const config = resolveConfig({
      name: 'two-c1',
      dataDir: dir,
      unsafeNoFsync: true,
      initialClusterState: 'existing',
      initialAdvertisePeerUrls: ['http://127.0.0.1:2382'],
      initialCluster: [
        { name: 'one-c4', peerUrls: ['http://127.0.0.1:2381'] },
        { name: 'two-c1', peerUrls: ['http://127.0.0.1:2382'] },
      ],
    });
    // The members now at those URLs were added later: their ids are not --initial-cluster's.
    const members = [
      { id: 0x4286n, name: 'one-c4', peerURLs: ['http://127.0.0.1:2381'], clientURLs: ['http://127.0.0.1:2379'], isLearner: false },
      { id: 0x9842n, name: 'two-c1', peerURLs: ['http://127.0.0.1:2382'], clientURLs: [], isLearner: false },
    ];
    let fetches = 0;
    let reachable = true;
    const joining = (net: RecordingNetwork): MemberWorld => ({
      ...world(new ManualClock(), net),
      fetchCluster: async (urls) => {
        fetches++;
        expect(urls).toEqual(['http://127.0.0.1:2381']);
        if (!reachable) throw new Error('connect ECONNREFUSED');
        return { clusterId: 0x77n, members };
      },
    });
    const net1 = new RecordingNetwork();
    const m = await Member.open({ config, logger: silentLogger(), world: joining(net1), onFatal: (err) => expect.fail(String(err)) });
    expect(m.memberId).toBe(0x9842n);
    expect(net1.peers.map((p) => p.id)).toEqual([0x4286n]);
    await m.stop(); // killed before any snapshot or entry arrived: nothing applied

    const net2 = new RecordingNetwork();
    const again = await Member.open({ config, logger: silentLogger(), world: joining(net2), onFatal: (err) => expect.fail(String(err)) });
    expect(fetches).toBe(2);
    expect(again.memberId).toBe(0x9842n);
    expect(net2.peers.map((p) => p.id)).toEqual([0x4286n]);
    await again.stop();

    // No peer answers: it still starts (with --initial-cluster's members) and says so.
    reachable = false;
    const net3 = new RecordingNetwork();
    const third = await Member.open({ config, logger: silentLogger(), world: joining(net3), onFatal: (err) => expect.fail(String(err)) });
    expect(fetches).toBe(3);
    expect(net3.peers.length).toBe(1);
    await third.stop();
  });

  it('refuses to join a cluster when its world cannot fetch the member list', async () => {
    const config = resolveConfig({
      name: 'two',
      dataDir: dir,
      initialClusterState: 'existing',
      initialAdvertisePeerUrls: ['http://127.0.0.1:2382'],
      initialCluster: [
        { name: 'one', peerUrls: ['http://127.0.0.1:2381'] },
        { name: 'two', peerUrls: ['http://127.0.0.1:2382'] },
      ],
    });
    const open = Member.open({ config, logger: silentLogger(), world: world(new ManualClock(), new RecordingNetwork()) });
    await expect(open).rejects.toThrow(/cannot join a running cluster/);
    // The data dir lock was given back: opening it again is not refused as in use.
    await expect(Member.open({ config, logger: silentLogger(), world: world(new ManualClock(), new RecordingNetwork()) })).rejects.toThrow(
      /cannot join/,
    );
  });
});

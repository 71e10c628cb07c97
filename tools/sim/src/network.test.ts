import { raftpb, type etcdserverpb } from '@kv/api';
import type { PeerHandler, PeerNetwork } from '@kv/server';
import { describe, expect, it } from 'vitest';
import { SimNetwork } from './network.js';
import { SimRng } from './rng.js';
import { Scheduler, type SimClock } from './scheduler.js';

/** A member's receiving side that records what arrives (the test's observer, not a stand-in for the network). */
class Recorder implements PeerHandler {
  msgs: raftpb.Message[] = [];
  snapshots: { msg: raftpb.Message; data: Buffer }[] = [];
  unreachable: bigint[] = [];
  statuses: [bigint, boolean][] = [];
  renewals: bigint[] = [];
  onMessages(msgs: raftpb.Message[]): void {
    this.msgs.push(...msgs);
  }
  async onSnapshot(msg: raftpb.Message, data: AsyncIterable<Buffer>): Promise<void> {
    const parts: Buffer[] = [];
    for await (const c of data) parts.push(c);
    this.snapshots.push({ msg, data: Buffer.concat(parts) });
  }
  onUnreachable(id: bigint): void {
    this.unreachable.push(id);
  }
  onSnapshotStatus(id: bigint, ok: boolean): void {
    this.statuses.push([id, ok]);
  }
  onRemoved(): void {}
  async renewLease(id: bigint): Promise<bigint> {
    this.renewals.push(id);
    return 7n;
  }
  async promoteMember(): Promise<etcdserverpb.MemberPromoteResponse> {
    return { header: undefined, members: [] };
  }
  async leaseTimeToLive(req: etcdserverpb.LeaseTimeToLiveRequest): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    return { header: undefined, ID: req.ID, TTL: 3n, grantedTTL: 5n, keys: [] };
  }
}

const msg = (from: bigint, to: bigint, index: bigint): raftpb.Message =>
  raftpb.Message.fromPartial({ type: raftpb.MessageType.MsgApp, from, to, term: 1n, index });

function setup(lossRate = 0, duplicateRate = 0) {
  const s = new Scheduler();
  const net = new SimNetwork(s, new SimRng(3), { minDelayMs: 1, maxDelayMs: 5, lossRate, duplicateRate, spikeRate: 0, spikeDelayMs: 0 });
  const clocks: SimClock[] = [];
  const handlers: Recorder[] = [];
  const nets: PeerNetwork[] = [];
  for (const id of [1n, 2n, 3n]) {
    const c = s.clock(`m${id}`);
    const h = new Recorder();
    clocks.push(c);
    handlers.push(h);
    nets.push(net.factory(c)({ memberId: id, clusterId: 9n }, h));
  }
  return { s, net, clocks, handlers, nets };
}

describe('SimNetwork', () => {
  it('delivers copies of messages after a delay, possibly reordered', async () => {
    const { s, handlers, nets } = setup();
    const sent = msg(1n, 2n, 5n);
    nets[0].send([sent, msg(1n, 2n, 6n)]);
    expect(handlers[1].msgs).toEqual([]);
    await s.runUntil(100);
    expect(handlers[1].msgs.map((m) => m.index).sort()).toEqual([5n, 6n]);
    expect(handlers[1].msgs.find((m) => m.index === 5n)).not.toBe(sent);
  });

  it('drops across partitions and one-way cuts, and reports the peer unreachable', async () => {
    const { s, net, handlers, nets } = setup();
    const all = ['m1', 'm2', 'm3'];
    net.partition([['m1'], ['m2', 'm3']], all);
    nets[0].send([msg(1n, 2n, 1n)]);
    nets[1].send([msg(2n, 3n, 1n)]);
    await s.runUntil(50);
    expect(handlers[1].msgs).toEqual([]);
    expect(handlers[2].msgs.length).toBe(1);
    expect(handlers[0].unreachable).toEqual([2n]);
    net.heal();
    net.cutOneWay('m1', 'm2');
    nets[0].send([msg(1n, 2n, 2n)]);
    nets[1].send([msg(2n, 1n, 2n)]);
    await s.runUntil(100);
    expect(handlers[1].msgs).toEqual([]);
    expect(handlers[0].msgs.length).toBe(1);
  });

  it('loses a message in flight when the link is cut before it arrives', async () => {
    const { s, net, handlers, nets } = setup();
    nets[0].send([msg(1n, 2n, 1n)]);
    net.partition([['m1'], ['m2', 'm3']], ['m1', 'm2', 'm3']);
    await s.runUntil(50);
    expect(handlers[1].msgs).toEqual([]);
  });

  it('delivers nothing to a crashed member, and waits for a paused one', async () => {
    const { s, clocks, handlers, nets } = setup();
    clocks[1].kill();
    clocks[2].pause();
    nets[0].send([msg(1n, 2n, 1n), msg(1n, 3n, 1n)]);
    await s.runUntil(50);
    expect(handlers[1].msgs).toEqual([]);
    expect(handlers[2].msgs).toEqual([]);
    clocks[2].resume();
    await s.runUntil(60);
    expect(handlers[2].msgs.length).toBe(1);
  });

  it('duplicates and loses at the configured rates', async () => {
    const { s, handlers, nets } = setup(0.2, 0.2);
    for (let i = 1n; i <= 500n; i++) nets[0].send([msg(1n, 2n, i)]);
    await s.runUntil(100);
    const got = handlers[1].msgs.length;
    const unique = new Set(handlers[1].msgs.map((m) => m.index)).size;
    expect(unique).toBeGreaterThan(300);
    expect(unique).toBeLessThan(480);
    expect(got).toBeGreaterThan(unique);
  });

  it("streams a snapshot to the target's handler and reports the outcome to the sender", async () => {
    const { s, net, handlers, nets } = setup();
    const snap = raftpb.Message.fromPartial({
      type: raftpb.MessageType.MsgSnap,
      from: 1n,
      to: 2n,
      term: 2n,
      snapshot: { data: Buffer.alloc(0), metadata: { index: 10n, term: 2n } },
    });
    async function* data(): AsyncGenerator<Buffer> {
      yield Buffer.from('abc');
      yield Buffer.from('def');
    }
    nets[0].sendSnapshot(snap, data);
    await s.runUntil(100);
    expect(handlers[1].snapshots.map((x) => x.data.toString())).toEqual(['abcdef']);
    expect(handlers[1].snapshots[0].msg.snapshot?.metadata?.index).toBe(10n);
    expect(handlers[0].statuses).toEqual([[2n, true]]);
    net.partition([['m1'], ['m2', 'm3']], ['m1', 'm2', 'm3']);
    nets[0].sendSnapshot(snap, data);
    await s.runUntil(200);
    expect(handlers[1].snapshots.length).toBe(1);
    expect(handlers[0].statuses).toEqual([
      [2n, true],
      [2n, false],
    ]);
  });

  it('reports a failed snapshot when the receiver crashes before it has the state', async () => {
    const { s, clocks, handlers, nets } = setup();
    handlers[1].onSnapshot = () => new Promise<void>(() => undefined); // its disk work dies with it
    const snap = raftpb.Message.fromPartial({
      type: raftpb.MessageType.MsgSnap,
      from: 1n,
      to: 2n,
      term: 2n,
      snapshot: { data: Buffer.alloc(0), metadata: { index: 10n, term: 2n } },
    });
    async function* data(): AsyncGenerator<Buffer> {
      yield Buffer.from('x');
    }
    nets[0].sendSnapshot(snap, data);
    await s.runUntil(50);
    expect(handlers[0].statuses).toEqual([]);
    clocks[1].kill();
    await s.runUntil(100);
    expect(handlers[0].statuses).toEqual([[2n, false]]);
  });

  it("forwards lease calls to the leader's handler, and times out across a partition", async () => {
    const { s, net, handlers, nets } = setup();
    const leader = { id: 3n, peerUrls: [], clientUrls: [] };
    const ok = nets[0].renewLease(leader, 42n, 1000);
    const ttl = nets[1].leaseTimeToLive(leader, { ID: 42n, keys: false }, 1000);
    await s.runUntil(100);
    await expect(ok).resolves.toBe(7n);
    await expect(ttl).resolves.toMatchObject({ TTL: 3n });
    expect(handlers[2].renewals).toEqual([42n]);
    net.cutOneWay('m3', 'm1'); // the request arrives, the answer does not
    const lost = nets[0].renewLease(leader, 43n, 1000);
    let err: unknown;
    lost.catch((e: unknown) => (err = e));
    await s.runUntil(600);
    expect(err).toBeUndefined();
    await s.runUntil(1200);
    expect(handlers[2].renewals).toEqual([42n, 43n]);
    expect(String(err)).toMatch(/timed out/);
  });
});

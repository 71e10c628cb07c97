// The simulated peer network: an in-process fabric that gives every member incarnation a
// PeerNetwork (the same interface kvd's TCP transport implements) and delivers through the
// scheduler. Messages are encoded and decoded as on the wire (no object is shared between
// members); each one is delayed by a seeded amount (so messages reorder), may be lost or
// duplicated (all but forwarded proposals), and is dropped on a cut link or to a member that is
// down. Links are directional: a symmetric partition cuts both directions, a one-way fault one.
//
// Invariants:
// - nothing reaches a member incarnation that has crashed (its clock is dead) or stopped its
//   network; a delivery to a paused member waits until it resumes;
// - a link cut at delivery time drops the message even if it was sent before the cut (in flight);
// - the sender hears onUnreachable for messages dropped because the target is down or cut off,
//   and exactly one onSnapshotStatus per sendSnapshot (unless it crashed meanwhile), a failure
//   when the receiver crashed before it answered.
import { raftpb, type etcdserverpb } from '@kv/api';
import { RpcError, type NetworkFactory, type PeerAddress, type PeerHandler, type PeerNetwork } from '@kv/server';
import type { SimRng } from './rng.js';
import type { Scheduler, SimClock } from './scheduler.js';

export interface NetworkOptions {
  /** One-way delay of a message: uniform in [minDelayMs, maxDelayMs]. */
  minDelayMs: number;
  maxDelayMs: number;
  /** Probability that a message is lost (outside bursts). */
  lossRate: number;
  /** Probability that a message is delivered twice. */
  duplicateRate: number;
  /** Probability that a message is held back by up to `spikeDelayMs` (reorders across batches). */
  spikeRate: number;
  spikeDelayMs: number;
}

export const defaultNetworkOptions: NetworkOptions = {
  minDelayMs: 1,
  maxDelayMs: 8,
  lossRate: 0.01,
  duplicateRate: 0.01,
  spikeRate: 0.02,
  spikeDelayMs: 150,
};

/** One member incarnation on the fabric. */
class Endpoint implements PeerNetwork {
  stopped = false;
  peers: readonly PeerAddress[] = [];
  private lastUnreachable = new Map<bigint, number>();

  constructor(
    private readonly net: SimNetwork,
    readonly id: bigint,
    readonly name: string,
    readonly clock: SimClock,
    readonly handler: PeerHandler,
  ) {}

  get up(): boolean {
    return !this.stopped && this.clock.alive;
  }

  send(msgs: raftpb.Message[]): void {
    if (!this.up) return;
    for (const m of msgs) this.net.transmit(this, m);
  }

  sendSnapshot(msg: raftpb.Message, data: () => AsyncIterable<Buffer>): void {
    if (!this.up) return;
    this.net.transmitSnapshot(this, msg, data);
  }

  setPeers(peers: readonly PeerAddress[]): void {
    this.peers = [...peers];
  }

  renewLease(leader: PeerAddress, id: bigint, timeoutMs: number): Promise<bigint> {
    return this.net.call(this, leader.id, 'renewLease', (h) => h.renewLease(id), timeoutMs);
  }

  leaseTimeToLive(
    leader: PeerAddress,
    req: etcdserverpb.LeaseTimeToLiveRequest,
    timeoutMs: number,
  ): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    return this.net.call(this, leader.id, 'leaseTimeToLive', (h) => h.leaseTimeToLive(req), timeoutMs);
  }

  promoteMember(
    leader: PeerAddress,
    req: etcdserverpb.MemberPromoteRequest,
    timeoutMs: number,
  ): Promise<etcdserverpb.MemberPromoteResponse> {
    return this.net.call(this, leader.id, 'promoteMember', (h) => h.promoteMember(req), timeoutMs);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.net.unregister(this);
  }

  /** Tells this member that `to` cannot be reached (at most once per 100 ms per peer, as a transport would). */
  unreachable(to: bigint): void {
    const now = this.clock.now();
    const last = this.lastUnreachable.get(to);
    if (last !== undefined && now - last < 100) return;
    this.lastUnreachable.set(to, now);
    this.clock.post(`unreachable ${this.name}`, () => this.up && this.handler.onUnreachable(to));
  }
}

export class SimNetwork {
  private readonly endpoints = new Map<bigint, Endpoint>();
  private readonly names = new Map<bigint, string>();
  /** Cut links, "from>to" by member name. */
  private readonly cut = new Set<string>();
  private burstLoss = 0;
  private burstUntil = 0;
  /** While calm, nothing is lost, duplicated or delayed by a spike (the start-up read probe). */
  private calm = false;
  /** Members whose links are slow (congestion, TCP retransmission backoff): extra delay up to ms. */
  private readonly slowLinks = new Map<string, { extraMs: number; until: number }>();
  /** Messages delivered, dropped, duplicated (for the run's summary). */
  readonly stats = { delivered: 0, dropped: 0, duplicated: 0, snapshots: 0 };

  constructor(
    private readonly sched: Scheduler,
    private readonly rng: SimRng,
    private readonly o: NetworkOptions = defaultNetworkOptions,
  ) {}

  /** The NetworkFactory for one member incarnation, whose timeline is `clock`. */
  factory(clock: SimClock): NetworkFactory {
    return (self, handler) => {
      const ep = new Endpoint(this, self.memberId, clock.owner, clock, handler);
      this.endpoints.set(self.memberId, ep);
      this.names.set(self.memberId, clock.owner);
      return ep;
    };
  }

  unregister(ep: Endpoint): void {
    if (this.endpoints.get(ep.id) === ep) this.endpoints.delete(ep.id);
  }

  nameOf(id: bigint): string {
    return this.names.get(id) ?? id.toString(16);
  }

  // --- faults ---

  /** Cuts every link between different groups (names); members in no group are cut from all. */
  partition(groups: readonly (readonly string[])[], all: readonly string[]): void {
    this.cut.clear();
    const side = new Map<string, number>();
    for (const [i, g] of groups.entries()) for (const n of g) side.set(n, i);
    for (const a of all) for (const b of all) if (a !== b && side.get(a) !== side.get(b)) this.cut.add(`${a}>${b}`);
    this.sched.trace(`net partition ${groups.map((g) => `[${g.join(',')}]`).join(' ')}`);
  }

  /** Cuts the link from → to only (to → from still works). */
  cutOneWay(from: string, to: string): void {
    this.cut.add(`${from}>${to}`);
    this.sched.trace(`net cut ${from}>${to}`);
  }

  /** Loss probability `p` on every link until virtual time now + ms. */
  lossBurst(p: number, ms: number): void {
    this.burstLoss = p;
    this.burstUntil = this.sched.now() + ms;
    this.sched.trace(`net loss ${p} for ${ms}ms`);
  }

  /**
   * Every message to or from `name` is held up by up to extraMs more for the next ms: messages
   * queued for a member while it is down or slow reach whichever incarnation is there when they
   * arrive (a transport's queue is flushed to the reconnected peer).
   */
  slow(name: string, extraMs: number, ms: number): void {
    this.slowLinks.set(name, { extraMs, until: this.sched.now() + ms });
    this.sched.trace(`net slow ${name} +${extraMs}ms for ${ms}ms`);
  }

  heal(): void {
    this.cut.clear();
    this.slowLinks.clear();
    this.burstLoss = 0;
    this.sched.trace('net heal');
  }

  /** Whether messages from → to get through (by name). */
  linked(from: string, to: string): boolean {
    return !this.cut.has(`${from}>${to}`);
  }

  /** Turns the weather's loss, duplication and delay spikes off (true) or back on. */
  setCalm(on: boolean): void {
    this.calm = on;
  }

  private lossRate(): number {
    if (this.calm) return 0;
    return this.sched.now() < this.burstUntil ? Math.max(this.burstLoss, this.o.lossRate) : this.o.lossRate;
  }

  private delay(from?: string, to?: string): number {
    const d = this.rng.between(this.o.minDelayMs * 1000, this.o.maxDelayMs * 1000) / 1000;
    let extra = !this.calm && this.rng.chance(this.o.spikeRate) ? this.rng.int(this.o.spikeDelayMs) : 0;
    for (const n of [from, to]) {
      const s = n === undefined ? undefined : this.slowLinks.get(n);
      if (s && this.sched.now() < s.until) extra += this.rng.int(s.extraMs);
    }
    return d + extra;
  }

  // --- delivery ---

  /** Runs fn on the current incarnation of `to` if it is up and linked from `fromName`, when it is not paused. */
  private reach(fromName: string, to: bigint, label: string, fn: (ep: Endpoint) => void, onFail?: () => void): void {
    const ep = this.endpoints.get(to);
    if (!ep || !ep.up || !this.linked(fromName, ep.name)) {
      onFail?.();
      return;
    }
    if (ep.clock.paused) ep.clock.post(label, () => ep.up && fn(ep));
    else fn(ep);
  }

  transmit(from: Endpoint, m: raftpb.Message): void {
    const toName = this.nameOf(m.to);
    const target = this.endpoints.get(m.to);
    if (!target || !target.up || !this.linked(from.name, toName)) {
      this.stats.dropped++;
      from.unreachable(m.to);
      return;
    }
    if (this.rng.chance(this.lossRate())) {
      this.stats.dropped++;
      return;
    }
    const bytes = raftpb.Message.encode(m).finish();
    // A forwarded proposal (MsgProp) is never duplicated: kv's transport (TCP streams that never
    // resend) cannot, and raft does not deduplicate proposals (nor does etcd), so a second copy
    // would apply a client's write twice — outside kv's model (seed 10304 of 3 members showed it).
    const dup = !this.calm && this.rng.chance(this.o.duplicateRate) && m.type !== raftpb.MessageType.MsgProp;
    const copies = dup ? 2 : 1;
    if (copies === 2) this.stats.duplicated++;
    const label = `msg ${from.name}>${toName} ${raftpb.messageTypeToJSON(m.type)} t${m.term} i${m.index} n${m.entries.length}`;
    for (let c = 0; c < copies; c++) {
      this.sched.at(this.delay(from.name, toName), label, () => {
        this.reach(
          from.name,
          m.to,
          label,
          (ep) => {
            this.stats.delivered++;
            this.sched.trace(label);
            ep.handler.onMessages([raftpb.Message.decode(bytes)]);
          },
          () => this.stats.dropped++,
        );
      });
    }
  }

  transmitSnapshot(from: Endpoint, msg: raftpb.Message, data: () => AsyncIterable<Buffer>): void {
    const toName = this.nameOf(msg.to);
    const label = `snapshot ${from.name}>${toName} i${msg.snapshot?.metadata?.index ?? 0n}`;
    const status = (ok: boolean) => {
      from.clock.post(`${label} status`, () => {
        if (!from.up) return;
        this.sched.trace(`${label} ${ok ? 'ok' : 'failed'}`);
        if (!ok) from.handler.onUnreachable(msg.to);
        from.handler.onSnapshotStatus(msg.to, ok);
      });
    };
    const head = raftpb.Message.encode(msg).finish();
    // The sender streams its state (read on its own timeline), the receiver gets it later.
    from.clock.post(`${label} read`, () => {
      void (async () => {
        const chunks: Buffer[] = [];
        try {
          for await (const c of data()) chunks.push(Buffer.from(c));
        } catch {
          status(false);
          return;
        }
        const bytes = chunks.reduce((n, c) => n + c.length, 0);
        // 1 ms per 64 KiB on top of the link delay.
        this.sched.at(this.delay() + bytes / 65536, label, () => {
          this.reach(
            from.name,
            msg.to,
            label,
            (ep) => {
              this.stats.snapshots++;
              this.sched.trace(`${label} deliver ${bytes}B`);
              async function* stream(): AsyncGenerator<Buffer> {
                for (const c of chunks) yield c;
              }
              // The stream breaks if the receiver dies before it answers (its disk work dies with
              // it): the sender then hears of a failure, as over a reset connection.
              let settled = false;
              const settle = (ok: boolean, what: string) => {
                if (settled) return;
                settled = true;
                unhook();
                this.sched.at(this.delay(), `${label} ${what}`, () => status(ok && this.linked(ep.name, from.name)));
              };
              const unhook = ep.clock.onKill(() => settle(false, 'reset'));
              ep.handler.onSnapshot(raftpb.Message.decode(head), stream()).then(
                () => settle(true, 'ack'),
                () => settle(false, 'nack'),
              );
            },
            () => status(false),
          );
        });
      })();
    });
  }

  /**
   * A request from `from` to member `to`'s handler and its answer back, each way delayed and
   * subject to the links; rejects with Timeout after timeoutMs on the caller's clock.
   */
  call<T>(from: Endpoint, to: bigint, what: string, fn: (h: PeerHandler) => Promise<T>, timeoutMs: number): Promise<T> {
    const label = `${what} ${from.name}>${this.nameOf(to)}`;
    return new Promise<T>((resolve, reject) => {
      let done = false;
      const finish = (f: () => void) => {
        if (done) return;
        done = true;
        timer.clear();
        f();
      };
      const timer = from.clock.setTimeout(() => finish(() => reject(new RpcError('Timeout'))), timeoutMs);
      if (!from.up) return;
      this.sched.at(this.delay(), label, () => {
        this.reach(from.name, to, label, (ep) => {
          this.sched.trace(label);
          const back = (f: () => void) =>
            this.sched.at(this.delay(), `${label} reply`, () => {
              if (from.up && this.linked(ep.name, from.name)) from.clock.post(`${label} reply`, () => finish(f));
            });
          fn(ep.handler).then(
            (v) => back(() => resolve(v)),
            (err: unknown) => back(() => reject(err)),
          );
        });
      });
    });
  }
}

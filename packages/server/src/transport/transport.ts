// Transport: raft messages between the members of one cluster over HTTP/2.
//
// Sending: one Peer per remote member (queue, long-lived message stream, reconnects, snapshots).
// Receiving: Inbound, fed connections by the peer listener. The transport never blocks its
// caller; every outcome it cannot deliver is reported through the handler.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { encodeToBuffer, raftpb } from '@kv/api';
import type { Logger } from 'pino';
import { Backoff, realTimers, type BackoffOptions, type Timers } from './backoff.js';
import { defaultMaxFrameBytes } from './framing.js';
import { Inbound } from './inbound.js';
import { Peer, type PeerContext } from './peer.js';
import { peerClientTlsOptions, type PeerTls } from './tls.js';
import type { PeerTraffic, TransportHandler } from './types.js';
import { idHex } from './wire.js';

export interface TransportOptions {
  memberId: bigint;
  clusterId: bigint;
  handler: TransportHandler;
  logger: Logger;
  /** Peer TLS: used to dial https peer URLs (the listener side is configured on the listener). */
  tls?: PeerTls;
  /** Timers for backoff, dial timeouts and pings (default: real, unref'd). */
  timers?: Timers;
  /** Monotonic milliseconds, the time base of activeSince (default performance.now). */
  now?: () => number;
  /** Reconnect backoff (default 100 ms doubling to 5 s, equal jitter from Math.random). */
  backoff?: BackoffOptions;
  /** Cap on one frame's payload, both directions (default 64 MiB). */
  maxFrameBytes?: number;
  /** Per-peer queue bound in messages (default 4096, etcd's stream buffer) ... */
  maxQueuedMessages?: number;
  /** ... and in bytes (default 64 MiB). Beyond either, sends are dropped and reported. */
  maxQueuedBytes?: number;
  /** How long a connection attempt may take until the peer accepts the stream (default 5 s). */
  dialTimeoutMs?: number;
  /** Ping interval on outgoing sessions; an unanswered ping at the next tick is a failure (default 5 s). */
  pingIntervalMs?: number;
  /** Incoming sessions silent this long (no ping, no data) are closed (default 3 × pingIntervalMs). */
  idleTimeoutMs?: number;
  /** Receives each answered ping's round trip to a peer, in seconds (etcd_network_peer_round_trip_time_seconds). */
  onRtt?: (peer: bigint, seconds: number) => void;
}

function parsePeerUrls(id: bigint, urls: string[]): URL[] {
  if (urls.length === 0) throw new Error(`peer ${idHex(id)} has no URLs`);
  return urls.map((raw) => {
    const u = new URL(raw);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`peer URL ${raw} must be http or https`);
    return u;
  });
}

export class Transport {
  private readonly peers = new Map<bigint, Peer>();
  private readonly removed = new Set<bigint>();
  private readonly inbound: Inbound;
  private readonly ctx: PeerContext;
  private stopped = false;
  /** Per peer id, from the first byte to or from it; kept after the peer is removed (counters never go back). */
  private readonly traffic = new Map<bigint, PeerTraffic>();
  private readonly trafficOf = (id: bigint): PeerTraffic => {
    let t = this.traffic.get(id);
    if (!t) this.traffic.set(id, (t = { sentBytes: 0, receivedBytes: 0, sentFailures: 0 }));
    return t;
  };

  constructor(private readonly o: TransportOptions) {
    const timers = o.timers ?? realTimers;
    const pingIntervalMs = o.pingIntervalMs ?? 5_000;
    const maxFrameBytes = o.maxFrameBytes ?? defaultMaxFrameBytes;
    const logger = o.logger.child({ component: 'transport', 'local-member-id': idHex(o.memberId) });
    this.ctx = {
      memberId: o.memberId,
      clusterId: o.clusterId,
      logger,
      handler: o.handler,
      timers,
      tls: o.tls ? peerClientTlsOptions(o.tls) : undefined,
      maxFrameBytes,
      maxQueuedMessages: o.maxQueuedMessages ?? 4096,
      maxQueuedBytes: o.maxQueuedBytes ?? 64 * 1024 * 1024,
      dialTimeoutMs: o.dialTimeoutMs ?? 5_000,
      pingIntervalMs,
      now: o.now ?? (() => performance.now()),
      traffic: this.trafficOf,
      onRtt: o.onRtt,
    };
    this.inbound = new Inbound({
      memberId: o.memberId,
      clusterId: o.clusterId,
      logger,
      handler: o.handler,
      timers,
      maxFrameBytes,
      idleTimeoutMs: o.idleTimeoutMs ?? 3 * pingIntervalMs,
      isKnown: (id) => this.peers.has(id),
      isRemoved: (id) => this.removed.has(id),
      traffic: this.trafficOf,
    });
  }

  /** The HTTP/2 side of the peer listener: hand every HTTP/2 connection here. */
  handleConnection(conn: Duplex): void {
    if (this.stopped) conn.destroy();
    else this.inbound.handleConnection(conn);
  }

  /**
   * The HTTP/1 side of the peer listener: answers raft paths (which need HTTP/2) and returns true;
   * returns false for anything else (/version, /members), which the caller serves.
   */
  handleHttp1(req: IncomingMessage, res: ServerResponse): boolean {
    const path = (req.url ?? '/').split('?')[0];
    if (path !== '/raft' && !path.startsWith('/raft/')) return false;
    res.writeHead(426, { 'Content-Type': 'text/plain; charset=utf-8', Upgrade: 'h2c', Connection: 'Upgrade' });
    res.end('raft peer traffic needs HTTP/2\n');
    return true;
  }

  /** Starts talking to a member (and accepting its streams). Adding a known member updates it. */
  addPeer(id: bigint, urls: string[]): void {
    if (this.stopped) return;
    if (id === this.o.memberId) throw new Error(`cannot add the local member ${idHex(id)} as a peer`);
    const parsed = parsePeerUrls(id, urls);
    const existing = this.peers.get(id);
    if (existing) {
      existing.setUrls(parsed);
      return;
    }
    this.removed.delete(id);
    const backoff = new Backoff(this.o.backoff);
    this.peers.set(id, new Peer(id, parsed, this.ctx, backoff));
    this.ctx.logger.info({ 'remote-peer-id': idHex(id), 'remote-peer-urls': urls }, 'added remote peer');
  }

  updatePeer(id: bigint, urls: string[]): void {
    const p = this.peers.get(id);
    if (!p) throw new Error(`unknown peer ${idHex(id)}`);
    p.setUrls(parsePeerUrls(id, urls));
    this.ctx.logger.info({ 'remote-peer-id': idHex(id), 'remote-peer-urls': urls }, 'updated remote peer');
  }

  /** Stops talking to a member; its requests are answered "removed member" from now on. */
  removePeer(id: bigint): void {
    const p = this.peers.get(id);
    this.removed.add(id);
    this.inbound.dropSender(id);
    if (!p) return;
    this.peers.delete(id);
    p.stop();
    this.ctx.logger.info({ 'remote-peer-id': idHex(id) }, 'removed remote peer');
  }

  /** True while the message stream to the peer is established. */
  isActive(id: bigint): boolean {
    return this.peers.get(id)?.active ?? false;
  }

  /**
   * Since when (on the `now` time base) the message stream to the peer has been up without a
   * break; undefined while it is down or the peer is unknown (etcd's Transport.ActiveSince, whose
   * zero time is this undefined). Strict reconfiguration checks read it.
   */
  /** Every peer's traffic counters so far, by member id (the member's metrics read them). */
  peerTraffic(): ReadonlyMap<bigint, PeerTraffic> {
    return this.traffic;
  }

  activeSince(id: bigint): number | undefined {
    return this.peers.get(id)?.activeSince;
  }

  /**
   * Queues messages for their peers and returns at once. Everything queued in one event-loop turn
   * leaves as one batch per peer. A message that cannot be queued (peer down, queue full) is
   * dropped and the peer reported unreachable once per call.
   */
  send(msgs: raftpb.Message[]): void {
    if (this.stopped) return;
    let dropped: Set<bigint> | undefined;
    for (const m of msgs) {
      const p = this.peers.get(m.to);
      if (!p) {
        if (m.to !== 0n) this.ctx.logger.debug({ to: idHex(m.to) }, 'ignored message to an unknown peer');
        continue;
      }
      let bytes: Uint8Array;
      try {
        bytes = encodeToBuffer(raftpb.Message, m);
      } catch (err) {
        // Only a value outside its protobuf type fails (raft's bounds should make this
        // impossible). A lost message is something raft recovers from; a dead member is not.
        this.ctx.logger.error(
          { to: idHex(m.to), type: raftpb.messageTypeToJSON(m.type), err: err instanceof Error ? err.message : String(err) },
          'dropped a raft message that cannot be encoded',
        );
        (dropped ??= new Set()).add(m.to);
        continue;
      }
      if (!p.enqueue(bytes)) {
        this.trafficOf(m.to).sentFailures++;
        (dropped ??= new Set()).add(m.to);
      }
    }
    if (dropped) for (const id of dropped) this.report(() => this.o.handler.onUnreachable(id));
  }

  /**
   * Streams a snapshot to msg.to on a connection of its own (so heartbeats never wait behind it).
   * msg is the MsgSnap (metadata in msg.snapshot); data yields the snapshot's bytes. Ends with
   * onSnapshotStatus(to, ok), and on failure onUnreachable(to) too.
   */
  sendSnapshot(msg: raftpb.Message, data: () => AsyncIterable<Buffer>): void {
    const to = msg.to;
    const p = this.peers.get(to);
    const index = (msg.snapshot?.metadata?.index ?? 0n).toString();
    const log = this.ctx.logger.child({ 'remote-peer-id': idHex(to), 'snapshot-index': index });
    if (this.stopped) return;
    if (!p) {
      log.warn('cannot send snapshot to an unknown peer');
      setImmediate(() => this.report(() => this.o.handler.onSnapshotStatus(to, false)));
      return;
    }
    log.info('sending database snapshot');
    void p.sendSnapshot(msg, data).then((r) => {
      if (p.stopped || this.stopped) return;
      if (r.ok) {
        log.info({ bytes: r.bytes }, 'sent database snapshot');
      } else {
        log.warn({ reason: r.reason, bytes: r.bytes }, 'failed to send database snapshot');
        this.report(() => this.o.handler.onUnreachable(to));
      }
      this.report(() => this.o.handler.onSnapshotStatus(to, r.ok));
    });
  }

  private report(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.ctx.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'transport handler failed');
    }
  }

  /** Closes every session and stream; the handler hears nothing more. */
  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const p of this.peers.values()) p.stop();
    this.peers.clear();
    this.inbound.stop();
    // Let the sessions' close events run before callers tear down what they depend on.
    await new Promise((r) => setImmediate(r));
  }
}

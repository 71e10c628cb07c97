// kvd's peer network: the TCP/TLS transport (transport/) for raft messages and snapshots, and
// gRPC calls to the leader's client URLs (cluster/leader_forward.ts) for the lease and promote
// requests only the leader answers. It also carries kvd's peer-isolation test hook.
import type { etcdserverpb } from '@kv/api';
import type { Logger } from 'pino';
import { type ForwardTls, LeaderForwarder } from '../cluster/leader_forward.js';
import { Transport, type PeerTls } from '../transport/index.js';
import type { Clock } from './clock.js';
import type { NetworkFactory, PeerAddress, PeerHandler, PeerNetwork } from './network.js';

export interface TcpNetworkOptions {
  logger: Logger;
  /** Peer TLS (dialing https peer URLs). */
  tls?: PeerTls;
  /** Cap on one frame's payload, both directions. */
  maxFrameBytes: number;
  /**
   * Deadlines of the forwarded gRPC calls, and the time base of activeSince. The transport itself
   * keeps real timers.
   */
  clock: Clock;
  /** Receives each answered ping's round trip to a peer, in seconds (the member's metrics). */
  onRtt?: (peer: bigint, seconds: number) => void;
  /** Client-port TLS for requests forwarded to the leader's https client URL (leader_forward.ts). */
  forwardTls?: () => ForwardTls | undefined;
}

/**
 * Makes the one network of one member (kvd runs one member). The transport it builds is what the
 * peer listeners hand their connections to (`transport`, set once the factory ran).
 */
export class TcpNetwork {
  private transport_?: Transport;
  private isolated_ = false;
  /** When the isolation test hook was last lifted (clock.now): no peer counts active before it. */
  private restoredAt = Number.NEGATIVE_INFINITY;

  constructor(private readonly o: TcpNetworkOptions) {}

  /** The transport, once the member made its network. */
  get transport(): Transport {
    if (!this.transport_) throw new Error('the peer network has not been made yet');
    return this.transport_;
  }

  /**
   * Test hook: drop every raft message and snapshot this member sends or receives, as if it were
   * cut off from the others by the network (kvd toggles it on SIGUSR2 when KVD_TEST_HOOKS=1).
   */
  setIsolation(on: boolean): void {
    if (this.isolated_ && !on) this.restoredAt = this.o.clock.now();
    this.isolated_ = on;
    this.o.logger.warn({ isolated: on }, on ? 'test hook: dropping all peer traffic' : 'test hook: peer traffic restored');
  }

  get isolated(): boolean {
    return this.isolated_;
  }

  readonly factory: NetworkFactory = (self, handler) => {
    if (this.transport_) throw new Error('a TcpNetwork makes one member its network');
    const transport = new Transport({
      memberId: self.memberId,
      clusterId: self.clusterId,
      tls: this.o.tls,
      logger: this.o.logger,
      handler: {
        onMessages: (msgs) => {
          if (!this.isolated_) handler.onMessages(msgs);
        },
        onUnreachable: (id) => handler.onUnreachable(id),
        onSnapshotStatus: (id, ok) => handler.onSnapshotStatus(id, ok),
        onSnapshot: async (msg, data) => {
          if (this.isolated_) throw new Error('peer traffic is dropped (test hook)');
          await handler.onSnapshot(msg, data);
        },
        onRemoved: () => handler.onRemoved(),
      },
      maxFrameBytes: this.o.maxFrameBytes,
      now: () => this.o.clock.now(),
      onRtt: this.o.onRtt,
    });
    this.transport_ = transport;
    // While isolated no peer is reachable; once lifted, a stream that outlived the isolation
    // counts from the moment traffic flowed again (as a real partition would have broken it).
    const activeSince = (id: bigint): number | undefined => {
      if (this.isolated_) return undefined;
      const t = transport.activeSince(id);
      return t === undefined ? undefined : Math.max(t, this.restoredAt);
    };
    return new TcpPeerNetwork(transport, handler, new LeaderForwarder(this.o.clock, this.o.forwardTls), () => this.isolated_, activeSince);
  };
}

class TcpPeerNetwork implements PeerNetwork {
  /** Peer URLs as last given to the transport, by id. */
  private readonly peers = new Map<bigint, string>();

  constructor(
    private readonly transport: Transport,
    private readonly handler: PeerHandler,
    private readonly forwarder: LeaderForwarder,
    private readonly isolated: () => boolean,
    readonly activeSince: (id: bigint) => number | undefined,
  ) {}

  send(msgs: Parameters<PeerNetwork['send']>[0]): void {
    if (!this.isolated()) this.transport.send(msgs);
    else for (const to of new Set(msgs.map((x) => x.to))) this.handler.onUnreachable(to);
  }

  sendSnapshot(...[msg, data]: Parameters<PeerNetwork['sendSnapshot']>): void {
    if (!this.isolated()) this.transport.sendSnapshot(msg, data);
    else this.handler.onSnapshotStatus(msg.to, false);
  }

  setPeers(peers: readonly PeerAddress[]): void {
    const want = new Map<bigint, string[]>();
    for (const p of peers) if (p.peerUrls.length > 0) want.set(p.id, p.peerUrls);
    for (const [id, urls] of want) {
      const known = this.peers.get(id);
      if (known === undefined) this.transport.addPeer(id, urls);
      else if (known !== urls.join(',')) this.transport.updatePeer(id, urls);
      this.peers.set(id, urls.join(','));
    }
    for (const id of [...this.peers.keys()]) {
      if (!want.has(id)) {
        this.transport.removePeer(id);
        this.peers.delete(id);
      }
    }
  }

  renewLease(leader: PeerAddress, id: bigint, timeoutMs: number): Promise<bigint> {
    return this.forwarder.renew(leader.clientUrls, id, timeoutMs);
  }

  leaseTimeToLive(
    leader: PeerAddress,
    req: etcdserverpb.LeaseTimeToLiveRequest,
    timeoutMs: number,
    token?: string,
  ): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    return this.forwarder.timeToLive(leader.clientUrls, req, timeoutMs, token);
  }

  promoteMember(
    leader: PeerAddress,
    req: etcdserverpb.MemberPromoteRequest,
    timeoutMs: number,
    token?: string,
  ): Promise<etcdserverpb.MemberPromoteResponse> {
    return this.forwarder.promote(leader.clientUrls, req, timeoutMs, token);
  }

  async stop(): Promise<void> {
    this.forwarder.close();
    await this.transport.stop();
  }
}

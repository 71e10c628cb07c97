// The peer network, as a member sees it. kvd's is the TCP/TLS transport (transport/); the
// whole-cluster simulation's is an in-process fabric with loss, delay, duplication, reordering
// and partitions. Either is made for one member once its ids are known, around a handler that
// takes what peers send.
import type { etcdserverpb, raftpb } from '@kv/api';

/** What a member does with what its peers send (and what it answers them). */
export interface PeerHandler {
  /** Raft messages from peers (any order, possibly duplicated or lost on the way). */
  onMessages(msgs: raftpb.Message[]): void;
  /** A snapshot message and its state stream; resolves once the state is received and durable. */
  onSnapshot(msg: raftpb.Message, data: AsyncIterable<Buffer>): Promise<void>;
  /** A peer could not be reached (raft slows its replication down). */
  onUnreachable(id: bigint): void;
  /** A snapshot sent to `id` was received whole (true) or failed (false). */
  onSnapshotStatus(id: bigint, ok: boolean): void;
  /** A peer said this member was removed from the cluster. */
  onRemoved(): void;
  /**
   * Lease calls a follower forwards to the leader (the leader's lessor is the primary). A renew
   * is answered from this member's lessor only (NotLeader when it is not the primary), never
   * forwarded on.
   */
  renewLease(id: bigint): Promise<bigint>;
  leaseTimeToLive(req: etcdserverpb.LeaseTimeToLiveRequest): Promise<etcdserverpb.LeaseTimeToLiveResponse>;
  /** MemberPromote a follower forwards to the leader (only the leader knows how far a learner got). */
  promoteMember(req: etcdserverpb.MemberPromoteRequest): Promise<etcdserverpb.MemberPromoteResponse>;
}

/** A peer as the network addresses it: its id, its peer URLs and its client URLs. */
export interface PeerAddress {
  id: bigint;
  peerUrls: string[];
  clientUrls: string[];
}

/** What a member sends through. */
export interface PeerNetwork {
  send(msgs: raftpb.Message[]): void;
  /** Streams `data()` to msg.to; the outcome comes back through onSnapshotStatus on the sender. */
  sendSnapshot(msg: raftpb.Message, data: () => AsyncIterable<Buffer>): void;
  /** The peers to reach (every member but this one), replaced whole on every membership change. */
  setPeers(peers: readonly PeerAddress[]): void;
  /** Forwards a keep-alive to the leader; resolves with the lease's TTL (seconds). */
  renewLease(leader: PeerAddress, id: bigint, timeoutMs: number): Promise<bigint>;
  /** `token`: the caller's auth token, sent along so the leader checks the same user. */
  leaseTimeToLive(
    leader: PeerAddress,
    req: etcdserverpb.LeaseTimeToLiveRequest,
    timeoutMs: number,
    token?: string,
  ): Promise<etcdserverpb.LeaseTimeToLiveResponse>;
  /**
   * Forwards MemberPromote to the leader. Optional: a network without it answers a follower's
   * MemberPromote with NotLeader (etcd's answer when no leader can be asked).
   */
  promoteMember?(
    leader: PeerAddress,
    req: etcdserverpb.MemberPromoteRequest,
    timeoutMs: number,
    token?: string,
  ): Promise<etcdserverpb.MemberPromoteResponse>;
  /**
   * Since when (the member's clock, `Clock.now`) this member has been connected to peer `id`
   * without a break; undefined while it is not. Optional: a network without it cannot tell, and
   * the strict reconfiguration check then counts every peer as connected long enough
   * (cluster/reconfig_check.ts).
   */
  activeSince?(id: bigint): number | undefined;
  stop(): Promise<void>;
}

/** Makes a member's network once its ids are known (bootstrap decides them). */
export type NetworkFactory = (self: { memberId: bigint; clusterId: bigint }, handler: PeerHandler) => PeerNetwork;

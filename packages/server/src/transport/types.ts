// The transport's contract with the raft node that uses it.
import type { raftpb } from '@kv/api';

export interface TransportHandler {
  /**
   * A batch from one peer, in the order it was sent. Already checked: cluster id, known sender,
   * every message `from` the sender and `to` this member. Called synchronously off the socket.
   */
  onMessages(msgs: raftpb.Message[]): void;
  /**
   * An incoming snapshot: msg is the MsgSnap (its snapshot carries the metadata), data the
   * snapshot's bytes as they arrive. Consume data to its end, install, step msg into raft, then
   * resolve; the sender learns success only then. data throws if the transfer breaks off, so a
   * truncated snapshot is never seen as whole. Rejecting reports failure to the sender.
   */
  onSnapshot(msg: raftpb.Message, data: AsyncIterable<Buffer>): Promise<void>;
  /** raft's ReportUnreachable: messages to this peer were dropped or may have been lost. */
  onUnreachable(peerId: bigint): void;
  /** raft's ReportSnapshot: a sendSnapshot to this peer finished (ok) or failed. */
  onSnapshotStatus(peerId: bigint, ok: boolean): void;
  /** A peer answered that this member was removed from the cluster (etcd shuts down then). */
  onRemoved?(peerId: bigint): void;
}

/**
 * Bytes and failures to and from one peer, counted by the transport with plain increments and
 * read by the member's metrics at scrape time (etcd_network_peer_*). Never reset.
 */
export interface PeerTraffic {
  sentBytes: number;
  receivedBytes: number;
  /** Messages dropped instead of sent (queue full, too large, peer in backoff). */
  sentFailures: number;
}

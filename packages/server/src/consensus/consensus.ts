// What the services need from consensus, implemented by RaftConsensus (@kv/raft + @kv/wal) for
// clusters of any size, one member included. Services and the member's parts reach consensus only
// through this interface.
import type { etcdserverpb, raftpb } from '@kv/api';
import type { ApplyResult } from '../apply/applier.js';

export interface Consensus {
  /** Orders the request in the log and resolves with its result once applied and durable. */
  propose(req: etcdserverpb.InternalRaftRequest): Promise<ApplyResult>;
  /** Orders a membership change (cc.id names its waiter) and resolves once it is applied here. */
  proposeConfChange(cc: raftpb.ConfChange): Promise<ApplyResult>;
  /** Resolves when this member may serve a linearizable read (ReadIndex, then wait for apply). */
  readBarrier(): Promise<void>;
  /** Current leader's member id (0 = none). */
  leader(): bigint;
  /** Whether this member leads. */
  isLeader(): boolean;
  /** Resolves once some member leads; NoLeader after two election timeouts without one. */
  waitLeader(): Promise<void>;
  /** On the leader: whether learner `id` is caught up enough to be promoted (etcd's 90% rule); elsewhere false. */
  learnerReady(id: bigint): boolean;
  /**
   * Transfers leadership to `to` and resolves once `to` leads; rejects with etcd's
   * 'etcdserver: request timed out, leader transfer took too long' after timeoutMs.
   */
  moveLeader(to: bigint, timeoutMs: number): Promise<void>;
  term(): bigint;
  commitIndex(): bigint;
  appliedIndex(): bigint;
  start(): Promise<void>;
  /** Stops accepting proposals and waits for the ones in flight. */
  stop(): Promise<void>;
}

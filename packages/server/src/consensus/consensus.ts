// What the services need from consensus, implemented by RaftConsensus (@kv/raft + @kv/wal) for
// clusters of any size, one member included.
import type { etcdserverpb } from '@kv/api';
import type { ApplyResult } from '../apply/applier.js';

export interface Consensus {
  /** Orders the request in the log and resolves with its result once applied and durable. */
  propose(req: etcdserverpb.InternalRaftRequest): Promise<ApplyResult>;
  /** Resolves when this member may serve a linearizable read (ReadIndex, then wait for apply). */
  readBarrier(): Promise<void>;
  /** Current leader's member id (0 = none). */
  leader(): bigint;
  term(): bigint;
  commitIndex(): bigint;
  appliedIndex(): bigint;
  start(): Promise<void>;
  /** Stops accepting proposals and waits for the ones in flight. */
  stop(): Promise<void>;
}

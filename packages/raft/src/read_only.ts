// Leader-side bookkeeping for ReadIndex (thesis §6.4): a read request remembers the commit index
// at arrival and is released once a quorum acknowledged a heartbeat carrying its context, proving
// the leader was still the leader when the commit index was recorded.

import type { raftpb } from '@kv/api';
import { ReadOnlyOption } from './state.js';

/**
 * Result of a read-index request, delivered in Ready.readStates. Once the application has applied
 * through `index`, a read issued before the request may be served locally (linearizably).
 */
export interface ReadState {
  index: bigint;
  /** The context given to readIndex(), echoing which request this answers. */
  requestCtx: Buffer;
}

/** One pending request: the original message, the commit index when it arrived, and who acked. */
export interface ReadIndexStatus {
  req: raftpb.Message;
  index: bigint;
  /** Voters that acknowledged a heartbeat carrying this request's context (the leader included). */
  acks: Map<bigint, boolean>;
}

// Contexts are arbitrary bytes; latin1 maps each byte to one code unit, so keys are injective.
function key(ctx: Buffer): string {
  return ctx.toString('latin1');
}

export class ReadOnly {
  readonly option: ReadOnlyOption;
  /** Pending requests by context. Invariant: the keys are exactly the elements of queue. */
  private readonly pending = new Map<string, ReadIndexStatus>();
  /** Contexts in arrival order; a quorum ack of one releases it and everything before it. */
  private queue: string[] = [];

  constructor(option: ReadOnlyOption) {
    this.option = option;
  }

  /**
   * Registers request m (its context is m.entries[0].Data) at commit index `index`.
   *
   * Requests are keyed by context alone, as in etcd's raft. Invariant (the caller's duty): a
   * context names one read request of one requester, never reused by another requester or by a
   * later start of the same one (kv's server builds contexts from the member id, a per-start
   * nonce and a sequence number). Under it, a context already pending can only be the same
   * request sent again (a retry after a lost message): it keeps the commit index recorded at its
   * first arrival, which is safe since the request was made before that arrival, and it is
   * answered once ('retry'). A pending context from another sender breaks the invariant; it cannot
   * share the pending entry (the recorded index predates its arrival, so answering it with that
   * index could return a stale read) and there is no way to refuse it, so it is not queued
   * ('conflict', logged by raft): its sender gets no answer and must retry after its own timeout.
   */
  addRequest(index: bigint, m: raftpb.Message): 'added' | 'retry' | 'conflict' {
    const k = key(m.entries[0].Data);
    const held = this.pending.get(k);
    if (held !== undefined) return held.req.from === m.from ? 'retry' : 'conflict';
    this.pending.set(k, { index, req: m, acks: new Map() });
    this.queue.push(k);
    return 'added';
  }

  /** Records an ack of context `ctx` by node id; returns the acks so far (undefined if unknown). */
  recvAck(id: bigint, ctx: Buffer): Map<bigint, boolean> | undefined {
    const rs = this.pending.get(key(ctx));
    if (rs === undefined) return undefined;
    rs.acks.set(id, true);
    return rs.acks;
  }

  /**
   * The request with context m.context reached a quorum: dequeue and return it together with every
   * request queued before it (their confirmation is implied, as they arrived earlier).
   */
  advance(m: raftpb.Message): ReadIndexStatus[] {
    const ctx = key(m.context);
    const pos = this.queue.indexOf(ctx);
    if (pos < 0) return [];
    const released = this.queue.slice(0, pos + 1);
    this.queue = this.queue.slice(pos + 1);
    const out: ReadIndexStatus[] = [];
    for (const k of released) {
      const rs = this.pending.get(k);
      if (rs === undefined) throw new Error('cannot find corresponding read state from pending map');
      this.pending.delete(k);
      out.push(rs);
    }
    return out;
  }

  /** Context of the newest pending request (attached to heartbeats), or undefined. */
  lastPendingRequestCtx(): Buffer | undefined {
    if (this.queue.length === 0) return undefined;
    return Buffer.from(this.queue[this.queue.length - 1], 'latin1');
  }

  /** Number of requests awaiting confirmation. */
  pendingCount(): number {
    return this.queue.length;
  }
}

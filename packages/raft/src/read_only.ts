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

  /** Registers request m (its context is m.entries[0].Data) at commit index `index`. */
  addRequest(index: bigint, m: raftpb.Message): void {
    const k = key(m.entries[0].Data);
    if (this.pending.has(k)) return;
    this.pending.set(k, { index, req: m, acks: new Map() });
    this.queue.push(k);
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

// The contexts that name ReadIndex rounds. The leader's read-only queue keys pending requests by
// context alone (as etcd's raft does) and answers a request with the commit index it recorded when
// that context first arrived, so a context must never be shared:
// - between members: the leader ignores a context it already holds, so the second member's round
//   would be dropped and wait for a retry;
// - between two starts of one member: an answer to a round of the previous run, still in flight,
//   would release a new round with an index recorded before the new round began (a stale read).
//
// A context is therefore the full 64-bit member id, a nonce drawn once per start, and a sequence
// number within the start (24 bytes, big-endian):
//
//   | member id (8) | start nonce (8) | sequence (8) |
//
// Invariant: two contexts produced by ReadContexts are equal only if they come from the same
// instance with the same sequence number (ids differ between members; the nonce makes two starts
// of one member collide with probability 2^-64 per pair of starts).
export const readContextBytes = 24;

/** Where a consensus takes its ReadIndex contexts from (ReadContexts in production). */
export interface ReadContextSource {
  next(): Buffer;
}

export class ReadContexts implements ReadContextSource {
  private readonly prefix: Buffer;
  private seq = 0n;

  /** `nonce`: 8 bytes, fresh for each start (the member draws them from its world's Random). */
  constructor(memberId: bigint, nonce: Buffer) {
    if (nonce.length !== 8) throw new RangeError(`read context nonce must be 8 bytes, got ${nonce.length}`);
    this.prefix = Buffer.alloc(16);
    this.prefix.writeBigUInt64BE(memberId & 0xffff_ffff_ffff_ffffn, 0);
    nonce.copy(this.prefix, 8);
  }

  /** The next context; never returns the same bytes twice. */
  next(): Buffer {
    this.seq += 1n;
    const ctx = Buffer.alloc(readContextBytes);
    this.prefix.copy(ctx, 0);
    ctx.writeBigUInt64BE(this.seq, 16);
    return ctx;
  }
}

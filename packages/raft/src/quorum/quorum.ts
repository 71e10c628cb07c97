// Shared vocabulary of the quorum module: log indexes, the "acked index" lookup and vote outcomes.

/** A raft log position (uint64 in etcd; bigint here). */
export type Index = bigint;

/**
 * The largest uint64. An empty majority config reports this as its committed index, so that in
 * a joint config the empty half never constrains the other half (min(x, ∞) = x).
 */
export const MaxIndex: Index = (1n << 64n) - 1n;

/** Formats an index the way the data-driven tests print it: ∞ for MaxIndex. */
export function indexString(i: Index): string {
  return i === MaxIndex ? '∞' : i.toString();
}

/** Looks up the index a voter has acknowledged (persisted); undefined when nothing is known. */
export interface AckedIndexer {
  ackedIndex(voterId: bigint): Index | undefined;
}

/** An AckedIndexer backed by a plain map of voter id to index. */
export function mapAckIndexer(m: ReadonlyMap<bigint, Index>): AckedIndexer {
  return { ackedIndex: (id) => m.get(id) };
}

/** The outcome of an election, as far as it can be told from the votes seen so far. */
export enum VoteResult {
  /** Neither "yes" nor "no" has a quorum yet; the result depends on votes still missing. */
  VotePending = 1,
  /** A quorum voted "no" (or enough did that "yes" can no longer reach a quorum). */
  VoteLost = 2,
  /** A quorum voted "yes". */
  VoteWon = 3,
}

/** "VotePending" | "VoteLost" | "VoteWon". */
export function voteResultString(r: VoteResult): string {
  return VoteResult[r] ?? `VoteResult(${r as number})`;
}

/** Ascending comparator for bigints (Array.prototype.sort compares strings by default). */
export function compareBigint(a: bigint, b: bigint): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The elements of a set of ids, sorted ascending. */
export function sortedIds(ids: Iterable<bigint>): bigint[] {
  return [...ids].sort(compareBigint);
}

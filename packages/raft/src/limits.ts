// The largest term and log index raft works with.
//
// Terms and indexes are uint64 on the wire, but raft itself needs room above them: a candidate
// campaigns at term + 1, a leader appends at lastIndex + 1. A value at the very end of uint64
// (as a forged message can carry) would make the next step produce 2^64, which no encoder
// accepts, so the member would die on its next message or WAL write, and again after every
// restart. The bound is int64's maximum, 2^63 − 1: far beyond any real cluster (one election per
// millisecond would take 292 million years to get there), it keeps every term and index
// representable as a signed 64-bit integer (as etcd's API reports revisions, and as many clients
// read raft_term and raft_index), and anything at or below it leaves room for + 1.
//
// Invariant: every term and index raft holds, persists or sends is <= maxTerm / maxIndex.
// Checked at the edges: the transport refuses larger values from the network, the WAL refuses
// to write (and to read back) larger values, and raft never campaigns past maxTerm.

/** Largest term raft adopts, campaigns for, persists or sends: 2^63 − 1. */
export const maxTerm = (1n << 63n) - 1n;
/** Largest log index (and commit index) raft accepts: 2^63 − 1. */
export const maxIndex = (1n << 63n) - 1n;

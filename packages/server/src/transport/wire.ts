// What both ends of the peer transport agree on: paths, headers, ids as text, rejection texts.

/** The long-lived message stream (one per sender → receiver pair). */
export const streamPath = '/raft/stream';
/** One snapshot transfer per request, on its own connection. */
export const snapshotPath = '/raft/snapshot';

/** Headers every request carries (the names etcd's rafthttp uses, lower-cased for HTTP/2). */
export const headerClusterId = 'x-etcd-cluster-id';
export const headerFrom = 'x-server-from';
export const headerTo = 'x-raft-to';

/** Response bodies of rejections, as etcd's rafthttp words them. */
export const RejectText = {
  ClusterIdMismatch: 'cluster ID mismatch',
  InvalidFrom: 'invalid from',
  RemovedMember: 'removed member',
  SenderNotFound: 'error sender not found',
  ToMismatch: 'to field mismatch',
  WrongMessageType: 'wrong raft message type',
  /** Ours: a MsgSnap whose fields fail checkPeerMessage (etcd has no such check). */
  InvalidMessage: 'invalid raft message',
} as const;

/** A member or cluster id as etcd prints it: lower-case hex, no padding. */
export function idHex(id: bigint): string {
  return id.toString(16);
}

/** Parses idHex's form; undefined for anything else (empty, too long, not hex). */
export function parseIdHex(s: string | string[] | undefined): bigint | undefined {
  if (typeof s !== 'string' || !/^[0-9a-fA-F]{1,16}$/.test(s)) return undefined;
  return BigInt('0x' + s);
}

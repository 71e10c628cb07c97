// Member and cluster ids, derived as etcd derives them so that the same --initial-cluster and
// --initial-cluster-token give the same ids in kv and in etcd.
import { createHash } from 'node:crypto';

/** etcd's member id: first 8 bytes (big-endian) of sha1(sorted peer URLs joined + cluster token). */
export function computeMemberId(peerUrls: string[], clusterToken: string, nowUnixSeconds?: number): bigint {
  // A member added at runtime also hashes the time (etcd's NewMember with `now`), so re-adding
  // the same URLs later gives a new id.
  const b = [...peerUrls].sort().join('') + clusterToken + (nowUnixSeconds === undefined ? '' : String(Math.floor(nowUnixSeconds)));
  return createHash('sha1').update(b).digest().readBigUInt64BE(0);
}

/** etcd's cluster id: first 8 bytes of sha1 over the sorted member ids, each 8 bytes big-endian. */
export function computeClusterId(memberIds: bigint[]): bigint {
  const sorted = [...memberIds].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const buf = Buffer.alloc(8 * sorted.length);
  sorted.forEach((id, i) => {
    buf.writeBigUInt64BE(id, 8 * i);
  });
  return createHash('sha1').update(buf).digest().readBigUInt64BE(0);
}

/** Ids print as etcd prints them: lower-case hex without leading zeros. */
export function idHex(id: bigint): string {
  return id.toString(16);
}

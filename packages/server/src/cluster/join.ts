// Joining a running cluster (--initial-cluster-state existing), as etcd does: ask the other
// members named in --initial-cluster for the cluster's id and member list over their peer
// ports (GET /members), and find this member in it by its peer URLs — it must have been added
// with MemberAdd first.
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { type PeerTls, peerDialTls } from '../transport/tls.js';
import { decodeMember, encodeMember, type MemberRecord } from './membership.js';

export interface RemoteCluster {
  clusterId: bigint;
  members: MemberRecord[];
}

/** The peer-port answer to GET /members: the cluster id header and the members as JSON lines. */
export function membersResponse(clusterId: bigint, members: MemberRecord[]): { headers: Record<string, string>; body: string } {
  return {
    headers: { 'Content-Type': 'application/json', 'X-Etcd-Cluster-ID': clusterId.toString(16) },
    body: `[${members.map((m) => encodeMember(m).toString()).join(',')}]`,
  };
}

function splitMembers(body: string): MemberRecord[] {
  // A JSON array of etcd member objects; ids are uint64, so each object is decoded by
  // decodeMember (which reads the id without going through a JS number).
  const out: MemberRecord[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < body.length; i++) {
    const c = body[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
      continue;
    }
    if (c === '"') inString = true;
    else if (c === '{') {
      if (depth++ === 0) start = i;
    } else if (c === '}') {
      if (--depth === 0) out.push(decodeMember(Buffer.from(body.slice(start, i + 1))));
    }
  }
  return out;
}

/** GET <url>/members over http, or https presenting this member's peer certificate. */
function getMembers(url: string, tls: PeerTls | undefined, timeoutMs: number): Promise<RemoteCluster> {
  const target = new URL('/members', url);
  return new Promise((resolve, reject) => {
    const options = { timeout: timeoutMs, ...(target.protocol === 'https:' && tls ? peerDialTls(tls) : {}) };
    const req = (target.protocol === 'https:' ? httpsGet : httpGet)(target, options, (res) => {
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        // A member list is small; a peer streaming without end is not a member list.
        if (size > maxMembersBody) req.destroy(new Error('member list answer too large'));
        else chunks.push(c);
      });
      res.on('end', () => {
        if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}`));
        const id = res.headers['x-etcd-cluster-id'];
        if (typeof id !== 'string' || !/^[0-9a-f]{1,16}$/i.test(id)) return reject(new Error('no cluster id in the answer'));
        try {
          resolve({ clusterId: BigInt(`0x${id}`), members: splitMembers(Buffer.concat(chunks).toString('utf8')) });
        } catch (err) {
          reject(err);
        }
      });
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on('error', reject);
  });
}

const maxMembersBody = 16 * 1024 * 1024;

/**
 * Asks each URL in turn; the first good answer wins. https peers are dialed with the member's
 * peer TLS (its certificate as the client certificate, its trusted CA), as the peer transport is.
 */
export function peerClusterFetcher(tls: PeerTls | undefined): (peerUrls: string[], timeoutMs: number) => Promise<RemoteCluster> {
  return async (peerUrls, timeoutMs) => {
    const errors: string[] = [];
    for (const url of peerUrls) {
      try {
        return await getMembers(url, tls, timeoutMs);
      } catch (err) {
        errors.push(`${url}: ${(err as Error).message}`);
      }
    }
    throw new Error(`could not fetch the cluster's members from any peer (${errors.join('; ')})`);
  };
}

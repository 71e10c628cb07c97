// Joining a running cluster (--initial-cluster-state existing), as etcd does: ask the other
// members named in --initial-cluster for the cluster's id and member list over their peer
// ports (GET /members), and find this member in it by its peer URLs — it must have been added
// with MemberAdd first.
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

/** Asks each URL in turn; the first good answer wins. */
export async function fetchCluster(peerUrls: string[], timeoutMs: number): Promise<RemoteCluster> {
  const errors: string[] = [];
  for (const url of peerUrls) {
    try {
      const res = await fetch(new URL('/members', url), { signal: AbortSignal.timeout(timeoutMs) });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const id = res.headers.get('x-etcd-cluster-id');
      if (!id) throw new Error('no cluster id in the answer');
      return { clusterId: BigInt(`0x${id}`), members: splitMembers(await res.text()) };
    } catch (err) {
      errors.push(`${url}: ${(err as Error).message}`);
    }
  }
  throw new Error(`could not fetch the cluster's members from any peer (${errors.join('; ')})`);
}

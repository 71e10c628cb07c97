import { Client } from '@kv/client';
import { startLocalCluster, startMember } from '../index.js';

/** One member inside this process: free loopback ports, a temporary data dir, no logs. */
export async function oneMember(): Promise<string> {
  const member = await startMember({ name: 'embedded' });
  const client = new Client({ endpoints: member.endpoints });
  try {
    await member.ready; // it leads itself and has published its name and client URLs
    await client.put('greeting', 'hello');
    const r = await client.get('greeting');
    return r.kvs[0]!.value.toString();
  } finally {
    client.close();
    await member.stop(); // also removes the temporary data dir
  }
}

/** A whole local cluster of three: a write through one member is read back from every member. */
export async function threeMembers(): Promise<{ leader: string; values: string[] }> {
  const cluster = await startLocalCluster({ size: 3, config: { heartbeatIntervalMs: 50, electionTimeoutMs: 500 } });
  const client = new Client({ endpoints: cluster.endpoints });
  try {
    await cluster.ready;
    await client.put('shared', 'seen by all');
    const values: string[] = [];
    for (const m of cluster.members) {
      // A linearizable read through each member: it waits until that member has applied the write.
      const one = new Client({ endpoints: m.endpoints });
      try {
        values.push((await one.get('shared')).kvs[0]!.value.toString());
      } finally {
        one.close();
      }
    }
    return { leader: cluster.leader()!.name, values };
  } finally {
    client.close();
    await cluster.stop();
  }
}

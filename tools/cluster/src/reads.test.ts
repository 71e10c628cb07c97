// Linearizable reads spread over every member of a real three-member kvd cluster at once: each
// member runs many ReadIndex rounds concurrently, all answered by the one leader. When members
// numbered their rounds alike (1, 2, 3... from every start), the leader dropped the rounds whose
// context another member had pending and those reads waited out the request timeout.
import { Client } from '@kv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './index.js';

/** kvd's request timeout with the launcher's flags (5 s + 2 election timeouts of 1 s). */
const serverRequestTimeoutMs = 7_000;
/** Each read must finish well inside the server's request timeout: a dropped round cannot. */
const readTimeoutMs = 4_000;
const readersPerMember = 64;
const waves = 6;

describe('kvd cluster of three: linearizable reads through all members at once', () => {
  let cluster: Cluster;
  const clients: Client[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ server: 'kvd', size: 3, readyTimeoutMs: 30_000, stopTimeoutMs: 5_000 });
    for (const m of cluster.members) clients.push(new Client({ endpoints: [m.endpoint], requestTimeoutMs: 10_000 }));
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  });

  it('answers every read, each within a fraction of the request timeout', async () => {
    expect(readTimeoutMs).toBeLessThan(serverRequestTimeoutMs);
    await clients[0].put('reads/k', 'v0', { timeoutMs: 10_000 });
    const failures: string[] = [];
    let served = 0;
    for (let w = 0; w < waves; w++) {
      // A write between waves: every later read must see it (linearizable, from any member).
      const value = `v${w}`;
      await clients[w % 3].put('reads/k', value, { timeoutMs: 10_000 });
      await Promise.all(
        clients.flatMap((c, i) =>
          Array.from({ length: readersPerMember }, async () => {
            try {
              const r = await c.get('reads/k', { timeoutMs: readTimeoutMs });
              const got = r.kvs[0]?.value.toString();
              if (got !== value) failures.push(`member ${i + 1}, wave ${w}: read ${got}, want ${value}`);
              else served++;
            } catch (err) {
              failures.push(`member ${i + 1}, wave ${w}: ${(err as Error).message}`);
            }
          }),
        ),
      );
    }
    expect(failures.slice(0, 5), `${failures.length} of ${waves * 3 * readersPerMember} reads failed`).toEqual([]);
    expect(served).toBe(waves * 3 * readersPerMember);
  }, 120_000);
});

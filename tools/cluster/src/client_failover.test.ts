// @kv/client on a real three-member cluster (kvd, and etcd 3.4 as the oracle): one client with
// all three endpoints runs a loop of puts and linearizable gets while a member — the leader,
// then a follower — is killed with SIGKILL and restarted. Reads must never fail (they are
// retried); a put may fail only when it was in flight to the killed member (it may or may not
// have been applied: the client cannot know, so it does not repeat it). Requests are spread over
// all members (the client's per-endpoint counters), and the restarted member gets traffic again.
import { Client, DeadlineExceededError, ServerTimeoutError, UnavailableError, type EtcdError } from '@kv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, SERVER_KINDS, startCluster, unavailableReason } from './index.js';
import { agreedLeader } from './leader.js';

/** Failures a put may end with when its member died under it: the outcome is unknown. */
function ambiguous(e: unknown): boolean {
  if (e instanceof UnavailableError) return true; // connection dropped after the request was sent
  if (e instanceof ServerTimeoutError) return true; // "request timed out" (maybe applied)
  return e instanceof DeadlineExceededError;
}

for (const server of SERVER_KINDS) {
  const skip = unavailableReason(server);
  describe.skipIf(skip !== undefined)(`@kv/client on a ${server} cluster of three with a member killed`, () => {
    let cluster: Cluster;
    let client: Client;
    const single: Client[] = [];

    beforeAll(async () => {
      cluster = await startCluster({ server, size: 3, readyTimeoutMs: 30_000, stopTimeoutMs: 5_000 });
      client = new Client({
        endpoints: [...cluster.endpoints],
        requestTimeoutMs: 20_000,
        dialTimeoutMs: 1_000,
        unhealthyBackoffMs: 500,
      });
      for (const m of cluster.members) single.push(new Client({ endpoints: [m.endpoint], requestTimeoutMs: 5_000 }));
    }, 60_000);

    afterAll(async () => {
      client?.close();
      for (const c of single) c.close();
      await cluster?.stop();
    });

    it('keeps serving puts and linearizable gets through a leader and a follower kill, spread over all members', async () => {
      const written = new Map<string, string>();
      const maybe = new Map<string, string>();
      const failures: string[] = [];
      let i = 0;
      /** `n` rounds of put + get through the one client; bounded in time by the calls' deadlines. */
      const loop = async (n: number) => {
        for (let k = 0; k < n; k++, i++) {
          const key = `fo/${String(i).padStart(5, '0')}`;
          const value = `v${i}`;
          try {
            await client.put(key, value);
            written.set(key, value);
          } catch (e) {
            if (!ambiguous(e)) failures.push(`put ${key}: ${(e as EtcdError).constructor.name} ${(e as Error).message}`);
            maybe.set(key, value);
            continue;
          }
          try {
            const r = await client.get(key);
            const got = r.kvs[0]?.value.toString();
            if (got !== value) failures.push(`get ${key}: ${got}, want ${value}`);
          } catch (e) {
            failures.push(`get ${key}: ${(e as EtcdError).constructor.name} ${(e as Error).message}`);
          }
        }
      };
      const sent = () => client.endpointStats().map((s) => s.sent);

      await loop(30);
      const warm = sent();
      // Round robin: every member took a share of the first 60 calls.
      expect(
        warm.every((n) => n >= 10),
        `requests per member ${warm}`,
      ).toBe(true);

      for (const role of ['leader', 'follower'] as const) {
        const { index: lead } = await agreedLeader(single, 30_000);
        const victim = role === 'leader' ? lead : (lead + 1) % 3;
        const member = cluster.members[victim]!;
        const run = loop(200);
        await new Promise((r) => setTimeout(r, 300));
        member.kill('SIGKILL');
        await member.exited();
        await run;
        const beforeRestart = sent()[victim]!;
        await member.restart();
        await agreedLeader(single, 30_000);
        // Back in the rotation once its backoff is over (a few seconds at most; bounded here).
        const t0 = Date.now();
        do await loop(10);
        while (sent()[victim]! === beforeRestart && Date.now() - t0 < 60_000);
        expect(sent()[victim]!, `${role} ${member.name} got no requests after its restart`).toBeGreaterThan(beforeRestart);
      }

      expect(failures.slice(0, 5), `${failures.length} failures`).toEqual([]);
      // Only a put in flight at each kill can be in doubt.
      expect(maybe.size).toBeLessThanOrEqual(4);
      expect(written.size + maybe.size).toBe(i);
      // Every acknowledged put is there, from any member.
      const all = await client.getPrefix('fo/');
      const have = new Map(all.kvs.map((kv) => [kv.key.toString(), kv.value.toString()]));
      for (const [k, v] of written) expect(have.get(k), k).toBe(v);
      for (const [k, v] of maybe) if (have.has(k)) expect(have.get(k)).toBe(v);
      const final = sent();
      console.info(`${server}: ${i} put+get rounds, ${maybe.size} puts in doubt, requests per member ${final}`);
      expect(
        final.every((n) => n >= 30),
        `requests per member ${final}`,
      ).toBe(true);
    }, 240_000);
  });
}

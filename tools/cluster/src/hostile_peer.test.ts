// Issue 5: forged raft messages sent to the peer port of a real three-member kvd cluster under
// real member ids (a heartbeat at term 2^64 − 1 used to make every member exit, and exit again on
// every restart). Every member must stay up, keep one leader at a sane term, serve writes, log
// why it refused, and still start after a restart.
import { Client } from '@kv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attackAll, attacks, discover, garbage, sendRaw, type ClusterView } from './hostile_peer.js';
import { startCluster, type Cluster } from './index.js';
import { agreedLeader } from './leader.js';
import { until } from './until.js';

describe('kvd cluster of three against a hostile peer', () => {
  let cluster: Cluster;
  let view: ClusterView;
  const clients: Client[] = [];

  beforeAll(async () => {
    cluster = await startCluster({ server: 'kvd', size: 3, readyTimeoutMs: 30_000, stopTimeoutMs: 5_000 });
    for (const m of cluster.members) clients.push(new Client({ endpoints: [m.endpoint], requestTimeoutMs: 10_000 }));
    view = await discover(cluster.endpoints[0]!);
  }, 60_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await cluster?.stop();
  });

  /** Every member names the same leader; returns its term. */
  const oneLeader = async () => (await agreedLeader(clients)).term;

  const allRunning = () => {
    for (const m of cluster.members) expect(m.running, `${m.name} is running (log:\n${m.logTail(20)})`).toBe(true);
  };

  for (const attack of Object.keys(attacks)) {
    it(`${attack}: refused and logged by every member, which keeps serving`, async () => {
      const before = cluster.members.map((m) => m.logTail(100_000).split('refused a raft message from a peer').length);
      const results = await attackAll(view, attack);
      // The forged sender passes the header checks (it is a real member id) ...
      expect(results.map((r) => r.result.status)).toEqual([200, 200, 200]);
      // ... and every receiver says why it dropped the messages.
      await until('a refusal in every log', async () =>
        cluster.members.every((m, i) => m.logTail(100_000).split('refused a raft message from a peer').length > before[i]!)
          ? true
          : undefined,
      );
      allRunning();
      const term = await oneLeader();
      expect(term).toBeLessThan(1000n);
      for (const [i, c] of clients.entries()) await c.put(`hostile/${attack}/${i}`, 'ok', { timeoutMs: 10_000 });
      allRunning();
    }, 60_000);
  }

  it('names the cause in the log: the heartbeat term and the bound', async () => {
    // Its own attack, so the test does not rely on the ones above having run.
    await attackAll(view, 'max-term-heartbeat');
    await until('the cause in the log', async () =>
      cluster.members[0]!.logTail(100_000).includes('message term 18446744073709551615 exceeds the maximum 9223372036854775807')
        ? true
        : undefined,
    );
  }, 60_000);

  it('garbage on the peer port (HTTP/1 and HTTP/2 side) is answered or dropped; the member serves on', async () => {
    const target = cluster.members[1]!;
    for (const [name, bytes] of Object.entries(garbage)) {
      const how = await sendRaw(target.peerUrl, bytes());
      // A partial request is waited for (until node's headersTimeout), as by any HTTP server;
      // everything else gets an answer or a close.
      if (name !== 'a truncated http/1 request') expect(how, name).not.toBe('still open: ');
    }
    allRunning();
    const res = await fetch(`${target.peerUrl}/members`);
    expect(res.status).toBe(200);
    expect(((await res.json()) as unknown[]).length).toBe(3);
    await clients[1]!.put('hostile/after-garbage', 'ok', { timeoutMs: 10_000 });
  }, 60_000);

  it('every member starts again after a restart, with its data', async () => {
    // Its own writes, so the test does not rely on what the ones above wrote.
    for (const [i, c] of clients.entries()) await c.put(`restart/${i}`, `v${i}`, { timeoutMs: 10_000 });
    for (const m of cluster.members) await m.restart();
    allRunning();
    await oneLeader();
    for (const c of clients) {
      const r = await c.get('restart/', { prefix: true });
      expect(r.kvs.map((kv) => kv.value.toString())).toEqual(clients.map((_, i) => `v${i}`));
    }
    await clients[0]!.put('hostile/after-restart', 'ok', { timeoutMs: 10_000 });
  }, 90_000);
});

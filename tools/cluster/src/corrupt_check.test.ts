// --experimental-initial-corrupt-check on real kvd members: a member whose backend differs from
// its peers' (here: one value changed behind raft's back, with the backend's own integrity digest
// kept consistent, as a bug in one member's apply would leave it) refuses to start; a member whose
// data agrees starts as usual.
import { Client } from '@kv/client';
import { Backend, bytesToRev } from '@kv/mvcc';
import { mvccpb } from '@kv/api';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './index.js';

/** Rewrites the value of the newest revision of `key` in a stopped member's backend. */
async function rewriteBehindRaft(dataDir: string, key: string, value: string): Promise<void> {
  const be = await Backend.open(join(dataDir, 'member', 'db'));
  try {
    let hit: [Buffer, Buffer] | undefined;
    for await (const [k, v] of be.entries('key')) {
      if (mvccpb.KeyValue.decode(v).key.toString() === key) hit = [k, v];
    }
    if (!hit) throw new Error(`no revision of ${key}`);
    const kv = mvccpb.KeyValue.decode(hit[1]);
    const tx = be.newBatch();
    tx.del('key', hit[0], hit[1]);
    tx.put('key', hit[0], Buffer.from(mvccpb.KeyValue.encode({ ...kv, value: Buffer.from(value) }).finish()));
    await be.commit(tx, { sync: true });
    expect(bytesToRev(hit[0]).main).toBeGreaterThan(1n);
  } finally {
    await be.close();
  }
}

describe('initial corruption check (kvd, three members)', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({
      server: 'kvd',
      size: 3,
      extraArgs: ['--experimental-initial-corrupt-check'],
      readyTimeoutMs: 30_000,
      stopTimeoutMs: 5_000,
    });
    const client = new Client({ endpoints: [...cluster.endpoints], requestTimeoutMs: 10_000 });
    try {
      for (let i = 0; i < 50; i++) await client.put(`k/${i}`, `v${i}`);
      // Every member has applied everything before they are stopped.
      for (const ep of cluster.endpoints) {
        const one = new Client({ endpoints: [ep], requestTimeoutMs: 10_000 });
        await one.get('k/49');
        one.close();
      }
    } finally {
      client.close();
    }
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('a member whose data agrees with its peers starts and serves', async () => {
    await cluster.members[1].restart();
    expect(cluster.members[1].logTail(60)).toMatch(/initial corruption check passed/);
  }, 60_000);

  it('a member whose data differs refuses to start, naming the peers that disagree', async () => {
    const m = cluster.members[2];
    await m.stop();
    await rewriteBehindRaft(m.dataDir, 'k/7', 'tampered');
    await m.restart({ waitHealthy: false });
    const timeout = new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000).unref());
    const exit = await Promise.race([m.exited(), timeout]);
    expect(exit, m.logTail(30)).not.toBe('running');
    expect(m.logTail(30)).toMatch(/found data inconsistency with peers at revision \d+: [0-9a-f]+ \(hash \d+, ours \d+\)/);
  }, 60_000);
});

// --experimental-corrupt-check-time: the leader compares HashKV with its peers every second; a
// member whose backend was changed behind raft (and restarted without the initial check) makes it
// raise CORRUPT (member 0, as etcd 3.4) through raft: every member lists the alarm, refuses writes
// with `etcdserver: corrupt cluster`, serves reads, and answers /health false.
describe('periodic corruption check (kvd, three members)', () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({
      server: 'kvd',
      size: 3,
      extraArgs: ['--experimental-corrupt-check-time=1s'],
      readyTimeoutMs: 30_000,
      stopTimeoutMs: 5_000,
    });
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  it('raises CORRUPT when a member hashes differently; writes are refused everywhere', async () => {
    const client = new Client({ endpoints: [...cluster.endpoints], requestTimeoutMs: 10_000 });
    try {
      for (let i = 0; i < 20; i++) await client.put(`p/${i}`, `v${i}`);
      for (const ep of cluster.endpoints) {
        const one = new Client({ endpoints: [ep], requestTimeoutMs: 10_000 });
        await one.get('p/19');
        one.close();
      }
      // Passes run and find nothing while the data agrees.
      await new Promise((r) => setTimeout(r, 2500));
      expect((await client.maintenance.alarms()).alarms).toEqual([]);

      const m = cluster.members[2];
      await m.stop();
      await rewriteBehindRaft(m.dataDir, 'p/7', 'tampered');
      await m.restart({ waitHealthy: false });
      const deadline = Date.now() + 60_000;
      let alarms: { memberID: bigint; alarm: number }[] = [];
      while (Date.now() < deadline) {
        try {
          alarms = (await client.maintenance.alarms()).alarms;
        } catch {
          // the restarted member may not answer yet
        }
        if (alarms.length > 0) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      expect(alarms).toEqual([{ memberID: 0n, alarm: 2 }]); // CORRUPT, member 0
      await expect(client.put('after', 'x')).rejects.toThrow('etcdserver: corrupt cluster');
      expect((await client.get('p/1')).kvs[0]?.value.toString()).toBe('v1');
      const health = await fetch(`http://${cluster.endpoints[0]}/health`);
      expect([health.status, JSON.parse(await health.text()).reason]).toEqual([503, 'ALARM CORRUPT']);
    } finally {
      client.close();
    }
  }, 120_000);
});

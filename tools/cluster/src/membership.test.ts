// Membership changes on a real kvd cluster while writes continue: add a learner and start it
// (--initial-cluster-state existing), promote it, update its peer URLs, remove a member.
import { Client } from '@kv/client';
import { startServer, withFreshPorts, type RunningServer } from '@kv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './index.js';
import { until } from './until.js';

describe('membership changes while writes continue', () => {
  const token = `kv-membership-${process.pid}`;
  let cluster: Cluster;
  let client: Client;
  const extras: RunningServer[] = [];
  let writing = true;
  let written = 0;
  let writer: Promise<void>;

  beforeAll(async () => {
    cluster = await startCluster({ server: 'kvd', size: 3, token, readyTimeoutMs: 30_000, stopTimeoutMs: 5_000 });
    client = new Client({ endpoints: [...cluster.endpoints], requestTimeoutMs: 10_000 });
    // A steady stream of writes during every change below; each must succeed.
    writer = (async () => {
      while (writing) {
        await client.put(`stream/${written}`, `${written}`);
        written++;
      }
    })();
  }, 60_000);

  afterAll(async () => {
    writing = false;
    await writer.catch(() => undefined);
    for (const p of extras) await p.stop().catch(() => undefined);
    client?.close();
    await cluster?.stop();
  });

  /**
   * Adds `name` as a learner and starts it (--initial-cluster-state existing); resolves once it
   * has a write proposed after its addition was applied. Each test adds its own member, so no
   * test relies on what another one added.
   */
  const startLearner = (name: string) =>
    withFreshPorts(2, async ([cport, pport], release) => {
      const peerUrl = `http://127.0.0.1:${pport}`;
      // --strict-reconfig-check (on): an add waits until every voter's peer stream has been up
      // for 5 s, which may not be so right after the cluster started ('unhealthy cluster').
      const added = await until('member add accepted', () => client.cluster.memberAdd([peerUrl], { isLearner: true }));
      const id = added.member!.ID;
      expect(added.member!.isLearner).toBe(true);
      // The joining member asks the members named here for the member list and finds itself in it.
      const initialCluster = [...cluster.members.map((m) => `${m.name}=${m.peerUrl}`), `${name}=${peerUrl}`].join(',');
      const learner = new Client({ endpoints: [`127.0.0.1:${cport}`] });
      // Ready once it has a write proposed after the conf change was applied (the one in flight
      // now may precede it): then it has applied its own addition too.
      const before = written + 1;
      await release();
      try {
        const server = await startServer('kvd', {
          name,
          clientPort: cport,
          peerPort: pport,
          initialCluster,
          initialClusterState: 'existing',
          token,
          stopTimeoutMs: 5_000,
          readyTimeoutMs: 30_000,
          probe: () => async () => {
            const r = await learner.get(`stream/${before}`, { serializable: true });
            return r.kvs.length === 1 ? { ready: true } : { ready: false, reason: `stream/${before} not there yet` };
          },
        });
        extras.push(server);
        return { id, server, learner, clientUrl: server.clientUrl };
      } catch (e) {
        // startServer stopped it; its error carries the log tail, so withFreshPorts sees a lost
        // port (EADDRINUSE) and starts over on fresh ones.
        learner.close();
        await client.cluster.memberRemove(id).catch(() => undefined);
        throw e;
      }
    });

  it('adds a learner, which joins, catches up, and is promoted', async () => {
    const { id, learner, clientUrl } = await startLearner('m4');
    try {
      // A learner answers serializable reads only (etcd's rule).
      await expect(learner.get('stream/0', { timeoutMs: 5_000 })).rejects.toThrow(/rpc not supported for learner/);
      await until('promotion', async () => (await client.cluster.memberPromote(id)) && true);
      // MemberList is served from the member's own applied state (serializable, as in etcd 3.4):
      // the member that answers may apply the promotion a moment after the leader did.
      const m4 = await until('the promotion applied where MemberList is served', async () => {
        const found = (await client.cluster.memberList()).members.find((m) => m.ID === id);
        return found && !found.isLearner ? found : undefined;
      });
      expect(m4.isLearner).toBe(false);
      expect(m4.name).toBe('m4');
      expect(m4.clientURLs).toEqual([clientUrl]);
      // Now a voter: it serves linearizable reads.
      expect((await learner.get('stream/0')).kvs).toHaveLength(1);
    } finally {
      learner.close();
    }
  }, 90_000);

  it('updates a member and removes one, the cluster serving throughout', async () => {
    const { id, server, learner } = await startLearner('m5');
    learner.close();
    const ml = await client.cluster.memberList();
    const m1 = ml.members.find((m) => m.name === 'm1')!;
    await client.cluster.memberUpdate(m1.ID, m1.peerURLs);
    await client.cluster.memberRemove(id);
    // Serializable MemberList (see above): the answering member may apply the removal a moment later.
    await until('the removal applied where MemberList is served', async () => {
      const ids = (await client.cluster.memberList()).members.map((m) => m.ID);
      return ids.includes(id) ? undefined : true;
    });
    // The removed member stops by itself.
    await until('removed member exits', async () => (server.running ? undefined : true));
    const n = written;
    await until('writes continue', async () => (written > n + 5 ? true : undefined));
  }, 90_000);
});

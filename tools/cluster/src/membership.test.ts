// Membership changes on a real kvd cluster while writes continue: add a learner and start it
// (--initial-cluster-state existing), promote it, update its peer URLs, remove a member.
import { Client } from '@kv/client';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverBinary } from './binaries.js';
import { startCluster, type Cluster } from './index.js';
import { until } from './until.js';
import { freePort } from './ports.js';


describe('membership changes while writes continue', () => {
  const token = `kv-membership-${process.pid}`;
  let cluster: Cluster;
  let client: Client;
  let extra: ChildProcess | undefined;
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
    if (extra && extra.exitCode === null && extra.pid) process.kill(extra.pid, 'SIGKILL');
    client?.close();
    await cluster?.stop();
  });

  it('adds a learner, which joins, catches up, and is promoted', async () => {
    const [cport, pport] = [await freePort(), await freePort()];
    const peerUrl = `http://127.0.0.1:${pport}`;
    const clientUrl = `http://127.0.0.1:${cport}`;
    const added = await client.cluster.memberAdd([peerUrl], { isLearner: true });
    const id = added.member!.ID;
    expect(added.member!.isLearner).toBe(true);
    const initialCluster = [...cluster.members.map((m) => `${m.name}=${m.peerUrl}`), `m4=${peerUrl}`].join(',');
    extra = spawn(process.execPath, [serverBinary('kvd'), '--name', 'm4', '--data-dir', join(cluster.baseDir, 'm4'),
      '--listen-client-urls', clientUrl, '--advertise-client-urls', clientUrl,
      '--listen-peer-urls', peerUrl, '--initial-advertise-peer-urls', peerUrl,
      '--initial-cluster', initialCluster, '--initial-cluster-state', 'existing', '--initial-cluster-token', token], { stdio: 'ignore' });
    const learner = new Client({ endpoints: [`127.0.0.1:${cport}`] });
    try {
      // A write proposed after the conf change was applied (the one in flight now may precede it):
      // once the learner has it, it has applied its own addition too.
      const before = written + 1;
      await until('learner has the data', async () => {
        const r = await learner.get(`stream/${before}`, { serializable: true });
        return r.kvs.length === 1 ? true : undefined;
      });
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
    const ml = await client.cluster.memberList();
    const m1 = ml.members.find((m) => m.name === 'm1')!;
    await client.cluster.memberUpdate(m1.ID, m1.peerURLs);
    const m4 = ml.members.find((m) => m.name === 'm4')!;
    await client.cluster.memberRemove(m4.ID);
    // Serializable MemberList (see above): the answering member may apply the removal a moment later.
    await until('the removal applied where MemberList is served', async () => {
      const names = (await client.cluster.memberList()).members.map((m) => m.name).sort();
      return names.join(',') === 'm1,m2,m3' ? true : undefined;
    });
    // The removed member stops by itself.
    await until('removed member exits', async () => (extra!.exitCode !== null || extra!.signalCode !== null ? true : undefined));
    const n = written;
    await until('writes continue', async () => (written > n + 5 ? true : undefined));
  }, 60_000);
});

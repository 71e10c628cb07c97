// --force-new-cluster on a real three-member cluster: keys written (past a snapshot), every member
// stopped, one restarted with the flag. It must come back as the leader of a cluster of one with
// every key, take writes, and stay a cluster of one when restarted without the flag. Run against
// kvd and, where installed, real etcd 3.4 — the same steps, the same expectations.
import { Client } from '@kv/client';
import { ManagedProcess, healthProbe } from '@kv/testkit';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { type Cluster, SERVER_KINDS, startCluster, unavailableReason } from './index.js';
import { until } from './until.js';

const keys = 120;

for (const server of SERVER_KINDS) {
  const skip = unavailableReason(server);
  describe.skipIf(skip !== undefined)(`${server}: --force-new-cluster`, () => {
    let cluster: Cluster | undefined;
    let forced: ManagedProcess | undefined;
    const clients: Client[] = [];
    afterEach(async () => {
      for (const c of clients.splice(0)) c.close();
      await forced?.stop();
      await forced?.closeLog();
      await cluster?.stop();
      cluster = forced = undefined;
    });

    it('restarts one member of three as a one-member cluster with all its keys', async () => {
      // A small snapshot count: the log the forced member reads starts from a snapshot.
      cluster = await startCluster({
        server,
        size: 3,
        extraArgs: ['--snapshot-count', '50'],
        readyTimeoutMs: 30_000,
        stopTimeoutMs: 5_000,
      });
      const all = new Client({ endpoints: [...cluster.endpoints], requestTimeoutMs: 10_000 });
      clients.push(all);
      for (let i = 0; i < keys; i++) await all.put(`fnc/${String(i).padStart(4, '0')}`, `v${i}`);
      const before = (await all.cluster.memberList()).members;
      expect(before).toHaveLength(3);
      const target = cluster.members[1]!;
      const targetId = before.find((m) => m.name === target.name)!.ID;
      all.close();
      for (const m of cluster.members) await m.stop();

      // The same command line plus --force-new-cluster (the launcher's member keeps its own).
      forced = new ManagedProcess({
        name: `${server} ${target.name} forced`,
        bin: target.command[0]!,
        args: [...target.command.slice(1), '--force-new-cluster'],
        logFile: join(cluster.baseDir, `${target.name}.forced.log`),
        stopTimeoutMs: 5_000,
      });
      forced.start();
      await forced.waitReady(healthProbe(target.clientUrl), { timeoutMs: 30_000 });
      const one = new Client({ endpoints: [target.endpoint], requestTimeoutMs: 10_000 });
      clients.push(one);
      const list = await until('a member list of one', async () => {
        const ms = (await one.cluster.memberList()).members;
        return ms.length === 1 ? ms : undefined;
      });
      expect(list[0]!.ID).toBe(targetId);
      expect(list[0]!.name).toBe(target.name);
      expect(list[0]!.peerURLs).toEqual([target.peerUrl]);
      const status = await one.maintenance.status();
      expect(status.leader).toBe(targetId);
      const got = await one.getPrefix('fnc/');
      expect(got.kvs.map((kv) => kv.value.toString())).toEqual(Array.from({ length: keys }, (_, i) => `v${i}`));
      await one.put('fnc/after-force', 'yes');

      // Without the flag again: still a cluster of one, with everything.
      await forced.stop();
      await target.restart({ timeoutMs: 30_000 });
      const again = await until('a member list of one after a plain restart', async () => {
        const ms = (await one.cluster.memberList()).members;
        return ms.length === 1 ? ms : undefined;
      });
      expect(again[0]!.ID).toBe(targetId);
      await one.put('fnc/after-restart', 'yes');
      expect((await one.getPrefix('fnc/')).kvs).toHaveLength(keys + 2);
    }, 120_000);
  });
}

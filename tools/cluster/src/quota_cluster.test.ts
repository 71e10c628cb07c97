// --quota-backend-bytes on three real members, kvd beside etcd 3.4 with the same flags, driven by
// etcdctl through every endpoint: filling the backend past the quota raises NOSPACE through raft;
// then every member refuses puts and lease grants with `etcdserver: mvcc: database space exceeded`
// and serves reads and deletes, lists the alarm, keeps it across a restart; after
// del --prefix + compact --physical + defrag --cluster + alarm disarm every member takes puts again
// and the backend is smaller on disk. The refusal texts and exit codes are compared between kvd
// and etcd; sizes and the number of members that raised the alarm are not (they differ by design).
import { Client } from '@kv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster, unavailableReason } from './index.js';
import { etcdctl } from './testdata/auth_kit.js';
import { until } from './until.js';

const quota = 8 * 1024 * 1024;
const noSpace = 'etcdserver: mvcc: database space exceeded';

/** etcdctl through `endpoints` (auth_kit's: stdout trimmed, or its `Error:` lines; transient errors asked again). */
const ctl = (endpoints: string, args: string[]) => etcdctl(endpoints.split(','), undefined, args);
const failed = (a: string) => a.startsWith('Error:') || a.startsWith('exit ');

async function dbSizes(endpoints: readonly string[]): Promise<number[]> {
  const a = await ctl(endpoints.join(','), ['endpoint', 'status', '-w', 'json']);
  expect(failed(a), a).toBe(false);
  return (JSON.parse(a) as { Status: { dbSize: number } }[]).map((s) => s.Status.dbSize);
}

const transcripts: Record<string, Record<string, string>> = {};

for (const server of ['kvd', 'etcd'] as const) {
  const skip = unavailableReason(server);
  describe.skipIf(skip !== undefined)(`${server}: NOSPACE on three members, and the way back`, () => {
    let cluster: Cluster;
    const t: Record<string, string> = {};
    transcripts[server] = t;
    const note = (step: string, a: string) => {
      t[step] = failed(a) ? a : 'ok';
    };

    beforeAll(async () => {
      cluster = await startCluster({
        server,
        size: 3,
        extraArgs: [`--quota-backend-bytes=${quota}`],
        readyTimeoutMs: 60_000,
        stopTimeoutMs: 5_000,
      });
    }, 120_000);

    afterAll(async () => {
      await cluster?.stop();
    });

    it('fills past the quota: NOSPACE raised, writes refused on every member, reads and deletes served, alarm kept across a restart', async () => {
      const client = new Client({ endpoints: [...cluster.endpoints], requestTimeoutMs: 20_000 });
      const value = Buffer.alloc(64 * 1024, 7);
      let refused = '';
      try {
        // Bounded: 8 MiB of 64 KiB values is ~130 puts; stop at the first refusal.
        for (let i = 0; i < 1000 && refused === ''; i += 4) {
          const batch = [0, 1, 2, 3].map((j) =>
            client.put(`q/${i + j}`, value).then(
              () => '',
              (e: unknown) => String((e as Error).message),
            ),
          );
          refused = (await Promise.all(batch)).find((m) => m !== '') ?? '';
        }
      } finally {
        client.close();
      }
      expect(refused).toContain(noSpace);
      for (const [i, ep] of cluster.endpoints.entries()) {
        const alarms = await until(`${ep} lists NOSPACE`, async () => {
          const a = await ctl(ep, ['alarm', 'list']);
          return /alarm:NOSPACE/.test(a) ? a : undefined;
        });
        for (const line of alarms.trim().split('\n')) expect(JSON.stringify(line)).toMatch(/^"memberID:\d+ alarm:NOSPACE *"$/);
        const put = await ctl(ep, ['put', 'x', 'y']);
        expect(put).toContain(noSpace);
        note(`put via ${i}`, put);
        const grant = await ctl(ep, ['lease', 'grant', '30']);
        expect(grant).toContain(noSpace);
        note(`lease grant via ${i}`, grant);
        const get = await ctl(ep, ['get', 'q/0', '--print-value-only']);
        expect(failed(get), get).toBe(false);
        expect(get.length).toBe(64 * 1024);
        note(`get via ${i}`, get);
      }
      const del = await ctl(cluster.endpoints[1]!, ['del', 'q/1']);
      expect(del).toBe('1');
      note('delete', del);
      // A restarted member still lists the alarm (it is in the replicated state) and refuses.
      const m = cluster.members[2]!;
      await m.restart({ waitHealthy: false }); // /health is false while NOSPACE is raised
      const after = await until(
        'the restarted member lists NOSPACE',
        async () => {
          const a = await ctl(m.endpoint, ['alarm', 'list']);
          return /alarm:NOSPACE/.test(a) ? a : undefined;
        },
        60_000,
      );
      expect(after).toMatch(/alarm:NOSPACE/);
      const put = await ctl(m.endpoint, ['put', 'x', 'y']);
      expect(put).toContain(noSpace);
      note('put after restart', put);
    }, 300_000);

    it('del --prefix, compact --physical, defrag --cluster, alarm disarm: every member takes puts again, the backend is smaller', async () => {
      const all = cluster.endpoints.join(',');
      const before = await dbSizes(cluster.endpoints);
      note('del prefix', await ctl(all, ['del', 'q/', '--prefix']));
      const st = JSON.parse(await ctl(cluster.endpoints[0]!, ['get', 'x', '-w', 'json'])) as { header: { revision: number } };
      const compact = await ctl(all, ['compact', String(st.header.revision), '--physical']);
      expect(failed(compact), compact).toBe(false);
      note('compact', compact);
      const defrag = await ctl(all, ['defrag', '--cluster']);
      expect(failed(defrag), defrag).toBe(false);
      note('defrag', defrag);
      // A member's LevelDB may still be finishing the compaction defrag started: sizes asked again, bounded.
      const sizes = await until(
        'every backend smaller after the defrag',
        async () => {
          const now = await dbSizes(cluster.endpoints);
          return now.every((s, i) => s < before[i]!) ? now : undefined;
        },
        30_000,
        500,
      ).catch(() => dbSizes(cluster.endpoints));
      for (const [i, s] of sizes.entries()) expect(s, `member ${i}: ${before[i]} → ${s}`).toBeLessThan(before[i]!);
      const disarm = await ctl(all, ['alarm', 'disarm']);
      expect(failed(disarm), disarm).toBe(false);
      note('disarm', disarm);
      for (const [i, ep] of cluster.endpoints.entries()) {
        const put = await until(`${ep} takes a put`, async () => {
          const a = await ctl(ep, ['put', `after/${i}`, 'ok']);
          return failed(a) ? undefined : a;
        });
        expect(put).toBe('OK');
        note(`put after disarm via ${i}`, put);
        expect(await ctl(ep, ['alarm', 'list']), `alarms after the disarm via ${i}`).toBe('');
      }
    }, 300_000);
  });
}

describe.skipIf(unavailableReason('kvd') !== undefined || unavailableReason('etcd') !== undefined)('kvd and etcd', () => {
  it('answer every step with the same exit code and error text', () => {
    expect(Object.keys(transcripts.kvd ?? {})).not.toEqual([]);
    expect(transcripts.kvd).toEqual(transcripts.etcd);
  });
});

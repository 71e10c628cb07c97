// --quota-backend-bytes on three real members, kvd beside etcd 3.4 with the same flags, driven by
// etcdctl through every endpoint: filling the backend past the quota raises NOSPACE through raft;
// then every member refuses puts and lease grants with `etcdserver: mvcc: database space exceeded`
// and serves reads and deletes, lists the alarm, keeps it across a restart; after
// del --prefix + compact --physical + defrag --cluster + alarm disarm every member takes puts again
// and the backend is smaller on disk. The refusal texts and exit codes are compared between kvd
// and etcd; sizes and the number of members that raised the alarm are not (they differ by design).
import { Client } from '@kv/client';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster, unavailableReason } from './index.js';
import { until } from './until.js';

const run = promisify(execFile);
const quota = 8 * 1024 * 1024;
const noSpace = 'etcdserver: mvcc: database space exceeded';

interface Answer {
  code: number;
  out: string;
  err: string;
}

async function etcdctl(endpoints: string, args: string[]): Promise<Answer> {
  try {
    const { stdout, stderr } = await run('etcdctl', ['--endpoints', endpoints, '--command-timeout', '20s', ...args], {
      timeout: 60_000,
      env: { ...process.env, ETCDCTL_API: '3' },
    });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof x.code === 'number' ? x.code : -1, out: x.stdout ?? '', err: x.stderr ?? String(e) };
  }
}

/** The error line etcdctl printed (its retry warnings, JSON log lines, dropped). */
function errorLine(a: Answer): string {
  return a.err
    .split('\n')
    .filter((l) => l.startsWith('Error:'))
    .join('\n');
}

async function dbSizes(endpoints: readonly string[]): Promise<number[]> {
  const a = await etcdctl(endpoints.join(','), ['endpoint', 'status', '-w', 'json']);
  expect(a.code, a.err).toBe(0);
  return (JSON.parse(a.out) as { Status: { dbSize: number } }[]).map((s) => s.Status.dbSize);
}

const transcripts: Record<string, Record<string, string>> = {};

for (const server of ['kvd', 'etcd'] as const) {
  const skip = unavailableReason(server);
  describe.skipIf(skip !== undefined)(`${server}: NOSPACE on three members, and the way back`, () => {
    let cluster: Cluster;
    const t: Record<string, string> = {};
    transcripts[server] = t;
    const note = (step: string, a: Answer) => {
      t[step] = `${a.code} ${errorLine(a)}`;
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
          const a = await etcdctl(ep, ['alarm', 'list']);
          return a.code === 0 && /alarm:NOSPACE/.test(a.out) ? a.out : undefined;
        });
        for (const line of alarms.trim().split('\n')) expect(JSON.stringify(line)).toMatch(/^"memberID:\d+ alarm:NOSPACE *"$/);
        const put = await etcdctl(ep, ['put', 'x', 'y']);
        expect(errorLine(put)).toContain(noSpace);
        note(`put via ${i}`, put);
        const grant = await etcdctl(ep, ['lease', 'grant', '30']);
        expect(errorLine(grant)).toContain(noSpace);
        note(`lease grant via ${i}`, grant);
        const get = await etcdctl(ep, ['get', 'q/0', '--print-value-only']);
        expect(get.code, get.err).toBe(0);
        expect(get.out.length).toBe(64 * 1024 + 1);
        note(`get via ${i}`, get);
      }
      const del = await etcdctl(cluster.endpoints[1]!, ['del', 'q/1']);
      expect(del.out).toBe('1\n');
      note('delete', del);
      // A restarted member still lists the alarm (it is in the replicated state) and refuses.
      const m = cluster.members[2]!;
      await m.restart({ waitHealthy: false }); // /health is false while NOSPACE is raised
      const after = await until(
        'the restarted member lists NOSPACE',
        async () => {
          const a = await etcdctl(m.endpoint, ['alarm', 'list']);
          return a.code === 0 && /alarm:NOSPACE/.test(a.out) ? a : undefined;
        },
        60_000,
      );
      expect(after.out).toMatch(/alarm:NOSPACE/);
      const put = await etcdctl(m.endpoint, ['put', 'x', 'y']);
      expect(errorLine(put)).toContain(noSpace);
      note('put after restart', put);
    }, 300_000);

    it('del --prefix, compact --physical, defrag --cluster, alarm disarm: every member takes puts again, the backend is smaller', async () => {
      const all = cluster.endpoints.join(',');
      const before = await dbSizes(cluster.endpoints);
      note('del prefix', await etcdctl(all, ['del', 'q/', '--prefix']));
      const st = JSON.parse((await etcdctl(cluster.endpoints[0]!, ['get', 'x', '-w', 'json'])).out) as { header: { revision: number } };
      const compact = await etcdctl(all, ['compact', String(st.header.revision), '--physical']);
      expect(compact.code, compact.err).toBe(0);
      note('compact', compact);
      const defrag = await etcdctl(all, ['defrag', '--cluster']);
      expect(defrag.code, defrag.err).toBe(0);
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
      const disarm = await etcdctl(all, ['alarm', 'disarm']);
      expect(disarm.code, disarm.err).toBe(0);
      note('disarm', disarm);
      for (const [i, ep] of cluster.endpoints.entries()) {
        const put = await until(`${ep} takes a put`, async () => {
          const a = await etcdctl(ep, ['put', `after/${i}`, 'ok']);
          return a.code === 0 ? a : undefined;
        });
        expect(put.out).toBe('OK\n');
        note(`put after disarm via ${i}`, put);
        const left = await etcdctl(ep, ['alarm', 'list']);
        expect(left.out, `alarms after the disarm via ${i}: ${left.err}`).toBe('');
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

// A damaged data dir: kvd refuses to start, naming what is missing, or serves everything — never
// a silent subset. Each case writes to a real single-member kvd, stops it, damages its data dir
// (damage.ts) and starts it again.
import { Client } from '@kv/client';
import { afterEach, describe, expect, it } from 'vitest';
import { damageDataDir, type Damage } from './damage.js';
import { startCluster, type Cluster } from './index.js';

const clusters: Cluster[] = [];
afterEach(async () => {
  for (const c of clusters.splice(0)) await c.stop();
});

/** A single member with `puts` keys written, stopped cleanly. */
async function written(puts: number, extraArgs: string[]): Promise<Cluster> {
  const c = await startCluster({ server: 'kvd', size: 1, extraArgs, readyTimeoutMs: 30_000, stopTimeoutMs: 5_000 });
  clusters.push(c);
  const client = new Client({ endpoints: [...c.endpoints], requestTimeoutMs: 10_000 });
  try {
    for (let i = 0; i < puts; i += 50) {
      await Promise.all(
        Array.from({ length: Math.min(50, puts - i) }, (_, j) => client.put(`k/${String(i + j).padStart(4, '0')}`, 'x'.repeat(100))),
      );
    }
  } finally {
    client.close();
  }
  await c.members[0].stop();
  return c;
}

/** Starts the member again and expects it to exit with an error; returns its output. */
async function refusesToStart(c: Cluster): Promise<string> {
  const m = c.members[0];
  await m.restart({ waitHealthy: false });
  const timeout = new Promise<'running'>((r) => setTimeout(() => r('running'), 30_000).unref());
  const exit = await Promise.race([m.exited(), timeout]);
  expect(exit, `kvd kept running on a damaged data dir:\n${m.logTail(20)}`).not.toBe('running');
  expect((exit as { code: number | null }).code).not.toBe(0);
  return m.logTail(40);
}

async function keyCount(c: Cluster): Promise<number> {
  const client = new Client({ endpoints: [...c.endpoints], requestTimeoutMs: 10_000 });
  try {
    return Number((await client.get('k/', { prefix: true, countOnly: true })).count);
  } finally {
    client.close();
  }
}

describe('a damaged data dir (kvd)', () => {
  const snapshotting = ['--snapshot-count', '100'];

  it.each<[Damage, RegExp]>([
    ['remove-backend', /is damaged: the backend \(.*member\/db\) is missing, but the newest snapshot is at index \d+/],
    ['empty-backend-log', /is damaged: the backend holds entries only up to index \d+, but the newest snapshot is at index \d+/],
    ['halve-backend-log', /is damaged: the backend holds entries only up to index \d+, but the newest snapshot is at index \d+/],
  ])(
    'with snapshots, %s: refuses to start and says what is lost',
    async (damage, message) => {
      const c = await written(300, snapshotting);
      await damageDataDir(c.members[0].dataDir, damage);
      const out = await refusesToStart(c);
      expect(out).toMatch(message);
      expect(out).toMatch(/kvd will not serve part of its data/);
    },
    90_000,
  );

  it('one flipped byte in the backend’s log: refuses to start (integrity check), every time', async () => {
    const c = await written(1000, []);
    await damageDataDir(c.members[0].dataDir, 'flip-backend-log');
    expect(await refusesToStart(c)).toMatch(/integrity check failed: .* records are missing/);
    expect(await refusesToStart(c)).toMatch(/integrity check failed/);
  }, 90_000);

  it('a corrupt newest snapshot file: falls back to an older one, says so at warn, serves every key', async () => {
    const c = await written(300, snapshotting);
    await damageDataDir(c.members[0].dataDir, 'corrupt-newest-snap');
    await c.members[0].restart();
    expect(c.members[0].logTail(80)).toMatch(/"level":"warn".*snap: corrupted snapshot file/);
    expect(await keyCount(c)).toBe(300);
  }, 90_000);

  it('no backend and no snapshot yet: rebuilds it from the WAL, says so, serves every key', async () => {
    const c = await written(300, []);
    await damageDataDir(c.members[0].dataDir, 'remove-backend');
    await c.members[0].restart();
    expect(c.members[0].logTail(80)).toMatch(/"level":"warn".*the backend is missing; rebuilding it from the WAL/);
    expect(await keyCount(c)).toBe(300);
  }, 90_000);
});

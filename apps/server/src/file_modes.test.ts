// kvd keeps its data dir private, as etcd does: directories 0700, files 0600, for what it
// creates (WAL, snapshots, LevelDB's files) and for what an earlier run left behind.
import { Client, Op } from '@kv/client';
import { startServer, type RunningServer } from '@kv/testkit';
import { chmodSync, lstatSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

/** Every entry under `dir` whose mode lets group or others in, as "mode path". */
function loose(dir: string): string[] {
  const out: string[] = [];
  const visit = (p: string) => {
    const st = lstatSync(p);
    if ((st.mode & 0o077) !== 0) out.push(`${(st.mode & 0o777).toString(8)} ${p}`);
    if (st.isDirectory()) for (const n of readdirSync(p)) visit(join(p, n));
  };
  visit(dir);
  return out;
}

describe('data dir file modes', () => {
  let server: RunningServer | undefined;
  afterAll(async () => {
    await server?.stop();
  });

  it('has no group or world access anywhere, after writes, a snapshot, a defragment and a restart', async () => {
    server = await startServer('kvd', { name: 'modes', extraArgs: ['--snapshot-count', '50'] });
    const client = new Client({ endpoints: [server.endpoint] });
    try {
      for (let i = 0; i < 120; i++) await client.put(`k${i}`, 'v'.repeat(100));
      await client
        .txn()
        .then(...Array.from({ length: 64 }, (_, i) => Op.put(`t${i}`, 'x')))
        .commit();
      await client.maintenance.defragment(); // LevelDB writes new table files
      expect(loose(server.dataDir)).toEqual([]);

      // What an earlier run (or an operator) left loose is tightened at start.
      const db = join(server.dataDir, 'member', 'db');
      chmodSync(db, 0o755);
      chmodSync(join(db, 'CURRENT'), 0o644);
      await server.restart();
      await client.put('after', 'restart');
      expect(loose(server.dataDir)).toEqual([]);
      expect(readdirSync(join(server.dataDir, 'member', 'snap')).length).toBeGreaterThan(0);
    } finally {
      client.close();
    }
  }, 60_000);
});

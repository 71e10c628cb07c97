// kvd as a process: starts with etcd's flags, serves, refuses a second process on its data dir,
// stops cleanly on SIGTERM, and keeps its data across the restart.
import { statSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, killAll, startKvd, startMember, waitHealthy } from './testutil.js';

afterAll(killAll);

describe('kvd process', () => {
  it('serves, locks its data dir, stops on SIGTERM', async () => {
    const m = await startMember('p1');
    try {
      expect(statSync(m.dataDir).mode & 0o777).toBe(0o700);
      const version = (await (await fetch(`http://127.0.0.1:${m.port}/version`)).json()) as Record<string, string>;
      expect(version.etcdcluster).toBe('3.4.0');

      // A second process on the same data dir must refuse (on other ports).
      const [c2, p2] = [await freePort(), await freePort()];
      const peer = m.args[m.args.indexOf('--initial-advertise-peer-urls') + 1];
      const b = startKvd(['--name', 'p1', '--data-dir', m.dataDir, '--listen-client-urls', `http://127.0.0.1:${c2}`,
        '--listen-peer-urls', `http://127.0.0.1:${p2}`, '--initial-advertise-peer-urls', peer, '--initial-cluster', `p1=${peer}`]);
      expect(await b.exited).not.toBe(0);
      expect(b.stderr()).toMatch(/in use by another process/);

      m.member.proc.kill('SIGTERM');
      expect(await m.member.exited).toBe(0);
      expect(m.member.stderr()).toMatch(/member stopped/);

      // Restart on the same data dir works (the lock was released).
      const c = startKvd(m.args);
      await waitHealthy(m.port);
      c.proc.kill('SIGINT');
      expect(await c.exited).toBe(0);
    } finally {
      m.cleanup();
    }
  }, 60_000);

  it('exits with a clear error on bad flags', async () => {
    const r = startKvd(['--max-txn-ops', 'many']);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/invalid value "many" for flag -max-txn-ops/);
  });
});

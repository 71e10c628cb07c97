import { existsSync } from 'node:fs';
import { afterAll, describe, expect, it } from 'vitest';
import { Member } from './cluster.js';
import { etcdBin, serverSpec } from './config.js';
import { runEtcdctl } from './etcdctl.js';
import { freePorts } from '@kv/testkit';

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe('freePorts', () => {
  it('returns distinct loopback ports', async () => {
    const ports = await freePorts(3);
    expect(new Set(ports).size).toBe(3);
    for (const p of ports) expect(p).toBeGreaterThan(0);
  });
});

describe('Member (real etcd)', () => {
  let m: Member | undefined;
  afterAll(async () => {
    await m?.destroy();
  });

  it('starts, keeps data across restart, and cleans up', async () => {
    m = await Member.start(serverSpec('etcd', etcdBin));
    expect(m.endpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(existsSync(m.dataDir)).toBe(true);
    const firstPid = m.pid;
    expect(alive(firstPid)).toBe(true);

    expect((await runEtcdctl(m.endpoint, ['put', 'k', 'v'])).stdout).toBe('OK\n');
    await m.restart();
    expect(alive(firstPid)).toBe(false);
    expect(m.pid).not.toBe(firstPid);
    expect((await runEtcdctl(m.endpoint, ['get', 'k', '--print-value-only'])).stdout).toBe('v\n');

    const pid = m.pid;
    const root = m.root;
    await m.destroy();
    expect(alive(pid)).toBe(false);
    expect(existsSync(root)).toBe(false);
    expect(m.running).toBe(false);
  }, 120_000);

  it('reports a server that cannot start, with its log', async () => {
    await expect(Member.start(serverSpec('etcd', etcdBin), { extraArgs: ['--no-such-flag'], startTimeoutMs: 10_000 })).rejects.toThrow(
      /exited while starting/,
    );
  }, 60_000);
});

// Starts real processes: etcd at size 3 (kill, restart, stop), kvd at size 1, and kvd at size 3,
// which either forms (once kvd replicates) or fails with every member's log tail.
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { unavailableReason } from './binaries.js';
import { ClusterStartError, startCluster, type Cluster } from './cluster.js';

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

/** Poll `check` every 100 ms for at most `ms`. */
async function eventually(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const until = Date.now() + ms;
  while (Date.now() < until) {
    if (await check()) return true;
    await new Promise((r) => setTimeout(r, 100));
  }
  return check();
}

let running: Cluster[] = [];
afterEach(async () => {
  await Promise.all(running.map((c) => c.stop()));
  running = [];
});
async function start(...args: Parameters<typeof startCluster>): Promise<Cluster> {
  const c = await startCluster(...args);
  running.push(c);
  return c;
}

const etcdSkip = unavailableReason('etcd');
const kvdSkip = unavailableReason('kvd');
if (etcdSkip) console.warn(`skipping etcd launcher tests: ${etcdSkip}`);
if (kvdSkip) console.warn(`skipping kvd launcher tests: ${kvdSkip}`);

describe.skipIf(etcdSkip !== undefined)('etcd cluster of 3', () => {
  it('becomes healthy, survives a killed member, restarts it and stops cleanly', async () => {
    const c = await start({ server: 'etcd', size: 3 });
    expect(c.members.map((m) => m.name)).toEqual(['m1', 'm2', 'm3']);
    const ports = new Set(c.members.flatMap((m) => [m.clientUrl, m.peerUrl]));
    expect(ports.size).toBe(6);
    expect(c.endpoints).toEqual(c.members.map((m) => m.endpoint));
    for (const m of c.members) expect((await m.health()).healthy).toBe(true);

    const [m1, m2, m3] = c.members as [(typeof c.members)[0], (typeof c.members)[0], (typeof c.members)[0]];
    const oldPid = m1.pid;
    expect(m1.kill('SIGKILL')).toBe(true);
    expect(await m1.exited()).toEqual({ code: null, signal: 'SIGKILL' });
    expect(m1.running).toBe(false);
    // Two of three keep a quorum: both stay (or become again) healthy.
    expect(await eventually(async () => (await m2.health()).healthy && (await m3.health()).healthy, 20_000)).toBe(true);

    await m1.restart();
    expect(m1.pid).not.toBe(oldPid);
    await c.waitHealthy(20_000);

    const pids = c.members.map((m) => m.pid);
    await c.stop();
    for (const pid of pids) expect(alive(pid)).toBe(false);
    for (const m of c.members) expect(m.exitStatus).toBeDefined();
    expect(existsSync(c.baseDir)).toBe(false);
  }, 90_000);
});

describe.skipIf(kvdSkip !== undefined)('kvd', () => {
  it('runs a single member', async () => {
    const c = await start({ server: 'kvd', size: 1 });
    expect(c.members).toHaveLength(1);
    const m = c.members[0]!;
    expect((await m.health()).healthy).toBe(true);
    await m.restart();
    expect((await m.health()).healthy).toBe(true);
    await c.stop();
    expect(alive(m.pid)).toBe(false);
    expect(m.exitStatus?.code).toBe(0);
    expect(existsSync(c.baseDir)).toBe(false);
  }, 60_000);

  it("at size 3 either forms or fails with each member's state and log tail", async () => {
    let c: Cluster | undefined;
    try {
      c = await start({ server: 'kvd', size: 3, readyTimeoutMs: 20_000 });
    } catch (e) {
      expect(e).toBeInstanceOf(ClusterStartError);
      const err = e as ClusterStartError;
      expect(err.message).toMatch(/kvd cluster of 3 did not become healthy/);
      expect(err.members.map((m) => m.name)).toEqual(['m1', 'm2', 'm3']);
      for (const m of err.members) {
        expect(err.message).toContain(`--- ${m.name} (pid ${m.pid}`);
        expect(m.logTail).toContain('--initial-cluster m1=');
        expect(alive(m.pid)).toBe(false);
      }
      return;
    }
    for (const m of c.members) expect((await m.health()).healthy).toBe(true);
  }, 60_000);
});

describe.skipIf(kvdSkip !== undefined && etcdSkip !== undefined)('a given base dir', () => {
  it('holds the data dirs and logs, is kept after stop, and must not hold old data', async () => {
    const server = kvdSkip === undefined ? 'kvd' : 'etcd';
    const base = await mkdtemp(join(tmpdir(), 'kv-cluster-test-'));
    try {
      const c = await start({ server, size: 1, baseDir: base });
      const m = c.members[0]!;
      expect(m.dataDir).toBe(join(base, 'm1'));
      await c.stop();
      expect((await readdir(base)).sort()).toEqual(['m1', 'm1.log']);
      expect(await readFile(join(base, 'm1.log'), 'utf8')).toContain(`started pid ${m.pid}`);
      await expect(startCluster({ server, size: 1, baseDir: base })).rejects.toThrow(/is not empty/);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  }, 60_000);
});

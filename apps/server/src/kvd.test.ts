// kvd as a process: starts with etcd's flags, serves, refuses a second process on its data dir,
// stops cleanly on SIGTERM and SIGINT, and starts again on the same data dir.
import { holdPorts, KVD_BIN, startServer, type RunningServer } from '@kv/testkit';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

const spawned: ChildProcess[] = [];

/** Runs kvd directly, to see its exit code and stderr. */
function runKvd(args: string[]): { proc: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [KVD_BIN, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  spawned.push(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, stderr: () => err, exited };
}

async function waitHealthy(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const ok = await fetch(`http://127.0.0.1:${port}/health`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`kvd on ${port} not healthy in time`);
}

afterAll(() => {
  for (const p of spawned) if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(p.pid, 'SIGKILL');
});

describe('kvd process', () => {
  it('serves, locks its data dir, stops on SIGTERM and SIGINT', async () => {
    const server: RunningServer = await startServer('kvd', { name: 'p1' });
    try {
      expect(statSync(server.dataDir).mode & 0o777).toBe(0o700);
      const version = (await (await fetch(`${server.clientUrl}/version`)).json()) as Record<string, string>;
      expect(version.etcdcluster).toBe('3.4.0');
      const cluster = ['--initial-advertise-peer-urls', server.peerUrl, '--initial-cluster', `p1=${server.peerUrl}`];

      // A second process on the same data dir must refuse (on other ports, held until it spawns).
      const other = await holdPorts(2);
      await other.release();
      const second = runKvd([
        '--name',
        'p1',
        '--data-dir',
        server.dataDir,
        '--listen-client-urls',
        `http://127.0.0.1:${other.ports[0]}`,
        '--advertise-client-urls',
        `http://127.0.0.1:${other.ports[0]}`,
        '--listen-peer-urls',
        `http://127.0.0.1:${other.ports[1]}`,
        ...cluster,
      ]);
      expect(await second.exited).not.toBe(0);
      expect(second.stderr()).toMatch(/in use by another process/);

      // Our own process on the same data dir and ports: SIGTERM, then SIGINT, exit 0 each time.
      const args = [
        '--name',
        'p1',
        '--data-dir',
        server.dataDir,
        '--listen-client-urls',
        server.clientUrl,
        '--advertise-client-urls',
        server.clientUrl,
        '--listen-peer-urls',
        server.peerUrl,
        ...cluster,
      ];
      process.kill(server.pid, 'SIGTERM');
      for (const signal of ['SIGTERM', 'SIGINT'] as const) {
        const deadline = Date.now() + 45_000;
        let m = runKvd(args);
        // The previous process may still be releasing the ports and the lock. A start takes about
        // 2 s here (the election), more on a loaded machine: give each attempt 10 s.
        while (
          (await Promise.race([
            m.exited,
            waitHealthy(server.clientPort, 10_000).then(
              () => 'up',
              () => 'down',
            ),
          ])) !== 'up'
        ) {
          if (Date.now() > deadline) throw new Error(`kvd did not restart: ${m.stderr()}`);
          if (m.proc.exitCode === null) m.proc.kill('SIGKILL');
          await new Promise((r) => setTimeout(r, 200));
          m = runKvd(args);
        }
        m.proc.kill(signal);
        expect(await m.exited).toBe(0);
        expect(m.stderr()).toMatch(/member stopped/);
      }
    } finally {
      await server.stop();
    }
  }, 150_000);

  it('exits with a clear error on bad flags', async () => {
    const r = runKvd(['--max-txn-ops', 'many']);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/invalid value "many" for flag -max-txn-ops/);
  });

  it("refuses an etcd data dir (etcd's bbolt backend at member/snap/db) and creates nothing in it", async () => {
    // The layout `etcdctl snapshot restore` and a running etcd leave: member/snap/db and member/wal.
    const dir = mkdtempSync(join(tmpdir(), 'kvd-etcd-dir-'));
    try {
      mkdirSync(join(dir, 'member', 'snap'), { recursive: true });
      mkdirSync(join(dir, 'member', 'wal'));
      writeFileSync(join(dir, 'member', 'snap', 'db'), Buffer.alloc(16384));
      writeFileSync(join(dir, 'member', 'wal', '0000000000000000-0000000000000000.wal'), Buffer.alloc(4096));
      const before = readdirSync(join(dir, 'member')).sort();
      const ports = await holdPorts(2);
      await ports.release();
      const client = `http://127.0.0.1:${ports.ports[0]}`;
      const peer = `http://127.0.0.1:${ports.ports[1]}`;
      const r = runKvd([
        ...['--name', 'e1', '--data-dir', dir, '--listen-client-urls', client, '--advertise-client-urls', client],
        ...['--listen-peer-urls', peer, '--initial-advertise-peer-urls', peer, '--initial-cluster', `e1=${peer}`],
      ]);
      expect(await r.exited).not.toBe(0);
      expect(r.stderr()).toMatch(/is an etcd data dir .*etcdctl snapshot save FILE.*kvctl snapshot restore FILE/);
      expect(readdirSync(join(dir, 'member')).sort()).toEqual(before); // no kv backend made beside it
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

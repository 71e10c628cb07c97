// kvd as a process: starts with etcd's flags, serves, refuses a second process on its data dir,
// stops cleanly on SIGTERM, and keeps its data across the restart.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const kvd = fileURLToPath(new URL('../bin/kvd', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => resolve(p));
    });
    s.on('error', reject);
  });
}

const started: ChildProcess[] = [];

function start(args: string[]): { proc: ChildProcess; stderr: () => string; exited: Promise<number | null> } {
  const proc = spawn(process.execPath, [kvd, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  started.push(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, stderr: () => err, exited };
}

async function waitHealthy(port: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.ok) return;
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`kvd on ${port} not healthy in time`);
}

afterAll(() => {
  for (const p of started) if (p.exitCode === null && p.pid) process.kill(p.pid, 'SIGKILL');
});

describe('kvd process', () => {
  it('serves, locks its data dir, stops on SIGTERM', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'kvd-test-'));
    const dataDir = join(dir, 'data');
    const [cport, pport] = [await freePort(), await freePort()];
    const args = [
      '--name', 'p1', '--data-dir', dataDir,
      '--listen-client-urls', `http://127.0.0.1:${cport}`, '--advertise-client-urls', `http://127.0.0.1:${cport}`,
      '--listen-peer-urls', `http://127.0.0.1:${pport}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${pport}`,
      '--initial-cluster', `p1=http://127.0.0.1:${pport}`,
    ];
    try {
      const a = start(args);
      await waitHealthy(cport);
      expect(statSync(dataDir).mode & 0o777).toBe(0o700);
      const version = (await (await fetch(`http://127.0.0.1:${cport}/version`)).json()) as Record<string, string>;
      expect(version.etcdcluster).toBe('3.4.0');

      // A second process on the same data dir must refuse (on other ports).
      const [c2, p2] = [await freePort(), await freePort()];
      const b = start(['--name', 'p1', '--data-dir', dataDir, '--listen-client-urls', `http://127.0.0.1:${c2}`,
        '--listen-peer-urls', `http://127.0.0.1:${p2}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${pport}`,
        '--initial-cluster', `p1=http://127.0.0.1:${pport}`]);
      expect(await b.exited).not.toBe(0);
      expect(b.stderr()).toMatch(/in use by another process/);

      a.proc.kill('SIGTERM');
      expect(await a.exited).toBe(0);
      expect(a.stderr()).toMatch(/member stopped/);

      // Restart on the same data dir works (the lock was released).
      const c = start(args);
      await waitHealthy(cport);
      c.proc.kill('SIGINT');
      expect(await c.exited).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);

  it('exits with a clear error on bad flags', async () => {
    const r = start(['--max-txn-ops', 'many']);
    expect(await r.exited).toBe(2);
    expect(r.stderr()).toMatch(/invalid value "many" for flag -max-txn-ops/);
  });
});

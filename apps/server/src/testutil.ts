// Test support for kvd as a process: free loopback ports, starting kvd, waiting for health,
// killing every started process by PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const kvdBin = fileURLToPath(new URL('../bin/kvd', import.meta.url));

export async function freePort(): Promise<number> {
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

export interface Started {
  proc: ChildProcess;
  stderr: () => string;
  exited: Promise<number | null>;
}

export function startKvd(args: string[]): Started {
  const proc = spawn(process.execPath, [kvdBin, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
  started.push(proc);
  let err = '';
  proc.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  return { proc, stderr: () => err, exited };
}

/** Kills (SIGKILL) every process started here that is still running. */
export function killAll(): void {
  for (const p of started) if (p.exitCode === null && p.signalCode === null && p.pid) process.kill(p.pid, 'SIGKILL');
}

export async function waitHealthy(port: number, timeoutMs = 20_000): Promise<void> {
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

/** A single kvd member on free ports in a fresh temp dir. */
export async function startMember(name = 'm1'): Promise<{ port: number; dataDir: string; args: string[]; member: Started; cleanup: () => void }> {
  const dir = mkdtempSync(join(tmpdir(), 'kvd-test-'));
  const dataDir = join(dir, 'data');
  const [cport, pport] = [await freePort(), await freePort()];
  const args = [
    '--name', name, '--data-dir', dataDir,
    '--listen-client-urls', `http://127.0.0.1:${cport}`, '--advertise-client-urls', `http://127.0.0.1:${cport}`,
    '--listen-peer-urls', `http://127.0.0.1:${pport}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${pport}`,
    '--initial-cluster', `${name}=http://127.0.0.1:${pport}`,
  ];
  const member = startKvd(args);
  await waitHealthy(cport);
  return { port: cport, dataDir, args, member, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

// The command line end to end: endpoints on stdout, health, SIGINT stops every member.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { unavailableReason } from './binaries.js';
import { probeHealth } from './health.js';

const mainJs = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const skip = !existsSync(mainJs) ? `${mainJs} not built` : unavailableReason('etcd');
if (skip) console.warn(`skipping launcher CLI test: ${skip}`);

describe.skipIf(skip !== undefined)('kv-cluster command', () => {
  it('prints endpoints, waits for health, and stops members on SIGINT', async () => {
    const child = spawn(process.execPath, [mainJs, '--server', 'etcd', '--size', '1'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    try {
      const until = Date.now() + 30_000;
      while (!/healthy after/.test(err) && Date.now() < until && child.exitCode === null) await new Promise((r) => setTimeout(r, 100));
      expect(err).toMatch(/all 1 members healthy/);
      const lines = out.trim().split('\n');
      expect(lines).toHaveLength(2);
      expect(lines[0]).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(lines[1]).toBe(`--endpoints=${lines[0]!.slice('http://'.length)}`);
      const dataDir = /data in (\S+);/.exec(err)![1]!;
      expect((await probeHealth(lines[0]!)).healthy).toBe(true);

      child.kill('SIGINT');
      expect(await exited).toBe(0);
      expect(err).toMatch(/stopped/);
      expect((await probeHealth(lines[0]!)).healthy).toBe(false);
      expect(existsSync(dataDir)).toBe(false);
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL');
    }
  }, 60_000);
});

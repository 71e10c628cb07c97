// Runs etcdctl or kvctl once, bounded, for the comparison tests (compat.test.ts,
// auth_compat.test.ts).
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { ETCDCTL_BIN } from '@kv/testkit';

export const KVCTL_BIN = fileURLToPath(new URL('../../bin/kvctl', import.meta.url));

export type Tool = 'etcdctl' | 'kvctl';

export interface RunResult {
  stdout: Buffer;
  stderr: string;
  code: number | null;
}

/** Run a tool to completion (bounded); optionally kill it once `until` holds for its stdout. */
export function runTool(
  tool: Tool,
  args: string[],
  opts: {
    stdin?: string;
    env?: Record<string, string>;
    timeoutMs?: number;
    until?: (out: string) => boolean;
    onStart?: () => Promise<void>;
  } = {},
): Promise<RunResult> {
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin', ETCDCTL_API: '3', ...opts.env };
  const bin = tool === 'etcdctl' ? ETCDCTL_BIN : KVCTL_BIN;
  return new Promise((resolve, reject) => {
    const child = spawn(bin, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let err = '';
    let settled = false;
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 20_000);
    child.stdout.on('data', (d: Buffer) => {
      out.push(d);
      if (opts.until && opts.until(Buffer.concat(out).toString('latin1'))) child.kill('SIGTERM');
    });
    child.stderr.on('data', (d: Buffer) => (err += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      resolve({ stdout: Buffer.concat(out), stderr: err, code });
    });
    if (opts.stdin !== undefined) child.stdin.end(opts.stdin);
    else child.stdin.end();
    if (opts.onStart) opts.onStart().catch(reject);
  });
}

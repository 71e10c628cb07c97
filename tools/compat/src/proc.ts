// Child-process helpers: run to completion with a deadline (the test kit's runProcess), run in the
// background, stop by PID. Every child is tracked by the test kit until it exits, so a dying test
// process still SIGKILLs it (process 'exit' hook); nothing is ever killed by name.
import { spawn } from 'node:child_process';
import { runProcess, track, type RunOptions, type RunResult } from '@kv/testkit';

export { runProcess, type RunOptions, type RunResult };

/** A process running in the background whose output is being collected. */
export interface BackgroundProcess {
  readonly pid: number;
  /** True once the process has exited on its own or after stop(). */
  exited(): boolean;
  /**
   * Stop it (SIGTERM, then SIGKILL after graceMs) unless it already exited, and return what it
   * printed. `stoppedByUs` tells whether the harness had to end it.
   */
  stop(graceMs?: number): Promise<RunResult & { stoppedByUs: boolean }>;
}

export function startBackground(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; cwd?: string }): BackgroundProcess {
  const child = spawn(cmd, args, {
    env: opts.env ?? process.env,
    cwd: opts.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  track(child);
  if (child.pid === undefined) throw new Error(`could not start ${cmd}`);
  const pid = child.pid;
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  child.stdout.on('data', (b: Buffer) => out.push(b));
  child.stderr.on('data', (b: Buffer) => err.push(b));
  let closed: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  const closedP = new Promise<void>((resolve) => {
    child.once('close', (code, signal) => {
      closed = { code, signal };
      resolve();
    });
  });
  return {
    pid,
    exited: () => closed !== null,
    async stop(graceMs = 5000) {
      let stoppedByUs = false;
      if (closed === null) {
        stoppedByUs = true;
        await killAndWait(pid, closedP, graceMs);
      }
      const c = closed as { code: number | null; signal: NodeJS.Signals | null } | null;
      return {
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code: c?.code ?? null,
        signal: c?.signal ?? null,
        timedOut: false,
        stoppedByUs,
      };
    },
  };
}

/**
 * SIGTERM `pid`, wait for `exited` up to graceMs, then SIGKILL and wait again (bounded).
 * `exited` must resolve when the process is gone.
 */
export async function killAndWait(pid: number, exited: Promise<void>, graceMs: number): Promise<void> {
  const signal = (sig: NodeJS.Signals) => {
    try {
      process.kill(pid, sig);
    } catch {
      // already gone
    }
  };
  signal('SIGTERM');
  if (await settlesWithin(exited, graceMs)) return;
  signal('SIGKILL');
  if (!(await settlesWithin(exited, 10_000))) {
    throw new Error(`process ${pid} did not exit after SIGKILL`);
  }
}

function settlesWithin(p: Promise<void>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    void p.then(() => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

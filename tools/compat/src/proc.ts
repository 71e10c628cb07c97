// Child-process helpers: run to completion with a deadline, run in the background, stop by PID.
// Every child started here is remembered until it exits so that a dying test process can still
// SIGKILL it (process 'exit' hook); nothing is ever killed by name.
import { spawn, type ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) {
        if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
          try {
            process.kill(c.pid, 'SIGKILL');
          } catch {
            // already gone
          }
        }
      }
    });
  }
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the process ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when the harness killed it for exceeding its deadline. */
  timedOut: boolean;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to stdin, which is then closed. Without it stdin is closed empty. */
  stdin?: string;
  /** Deadline for the whole process; it is SIGKILLed after this. */
  timeoutMs: number;
  /** Aborting SIGKILLs the process (its result still arrives, with signal SIGKILL). */
  signal?: AbortSignal;
}

/** Run a command to completion, capturing stdout and stderr separately. */
export function runProcess(cmd: string, args: string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    track(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timedOut = false;
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.stdin.on('error', () => {
      // the child may exit before reading its stdin (EPIPE); its exit status tells the story
    });
    child.stdin.end(opts.stdin ?? '');
    const kill = () => {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    };
    const timer = setTimeout(() => {
      timedOut = true;
      kill();
    }, opts.timeoutMs);
    if (opts.signal?.aborted) kill();
    opts.signal?.addEventListener('abort', kill, { once: true });
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    // 'close' fires after the stdio streams are drained, so the output is complete.
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', kill);
      resolve({
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
        code,
        signal,
        timedOut,
      });
    });
  });
}

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

export function startBackground(
  cmd: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; cwd?: string },
): BackgroundProcess {
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

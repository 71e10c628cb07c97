// Child processes for tests: a long-running one (a server) that is started, probed until ready,
// signalled and stopped by PID, and restarted with the same command line; and a command run to
// completion under a deadline. Nothing is ever killed by name.
//
// Every child runs in its own process group (detached), so a terminal's Ctrl-C reaches only the
// test process, which stops its children in order; when the test process exits anyway (an
// uncaught error, a failed run), an 'exit' hook SIGKILLs the process group of every child still
// running, so no server — nor anything it started — outlives the tests.
import { spawn, type ChildProcess } from 'node:child_process';
import { LogSink } from './logs.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(-child.pid, signal); // the group: the child and whatever it spawned
  } catch {
    try {
      process.kill(child.pid, signal);
    } catch {
      // already gone
    }
  }
}

/** Remember `child` until it exits, so that the test process's exit kills its process group. */
export function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) killGroup(c, 'SIGKILL');
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The answer of a readiness probe. */
export type ProbeResult = { ready: true } | { ready: false; reason: string };
export type ReadyProbe = () => Promise<ProbeResult>;

export interface ProcessSpec {
  /** Names the process in notes and errors. */
  name: string;
  bin: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Output is appended here too (across restarts); without it only the in-memory tail is kept. */
  logFile?: string;
  /** Grace between SIGTERM and SIGKILL in stop() (ms, default 10000). */
  stopTimeoutMs?: number;
}

export interface WaitReadyOptions {
  /** Longest wait (ms, default 30000). */
  timeoutMs?: number;
  /** Pause between probes (ms, default 100). */
  intervalMs?: number;
}

/** One long-running child process, restartable with the same command line. */
export class ManagedProcess {
  readonly name: string;
  readonly command: readonly string[];
  readonly logFile: string | undefined;
  private readonly log: LogSink;
  private child: ChildProcess | undefined;
  private exitPromise: Promise<ExitStatus> = Promise.resolve({ code: null, signal: null });
  private status: ExitStatus | undefined;
  private lastPid = 0;

  constructor(private readonly spec: ProcessSpec) {
    this.name = spec.name;
    this.command = [spec.bin, ...spec.args];
    this.logFile = spec.logFile;
    this.log = new LogSink(spec.logFile);
  }

  /** PID of the current process (of the last one once it has exited; 0 before the first start). */
  get pid(): number {
    return this.lastPid;
  }

  get running(): boolean {
    return this.child !== undefined && this.status === undefined;
  }

  /** How the last process ended; undefined while it runs. */
  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  /** Spawn the process (not waiting for it to be ready). */
  start(): void {
    if (this.running) throw new Error(`${this.name} is already running (pid ${this.lastPid})`);
    this.status = undefined;
    const child = spawn(this.spec.bin, [...this.spec.args], {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: this.spec.env ?? process.env,
      cwd: this.spec.cwd,
    });
    this.child = child;
    this.lastPid = child.pid ?? 0;
    this.log.note(`started pid ${this.lastPid}: ${this.command.join(' ')}`);
    this.log.attach(child.stdout!);
    this.log.attach(child.stderr!);
    track(child);
    this.exitPromise = new Promise<ExitStatus>((resolve) => {
      const done = (s: ExitStatus) => {
        if (this.child !== child || this.status !== undefined) return resolve(this.status ?? s);
        this.status = s;
        this.log.note(`pid ${this.lastPid} exited (${describeExit(s)})`);
        resolve(s);
      };
      child.once('exit', (code, signal) => done({ code, signal }));
      // spawn failures (binary missing, EACCES) arrive as 'error' without 'exit'.
      child.once('error', (err) => {
        this.log.note(`spawn error: ${err.message}`);
        done({ code: null, signal: null });
      });
    });
  }

  /** The last `lines` lines of output (and of the launcher's notes). */
  logTail(lines = 30): string {
    return this.log.tail(lines);
  }

  /** Resolves when the current process exits. */
  exited(): Promise<ExitStatus> {
    return this.exitPromise;
  }

  /** Send `signal` (default SIGKILL) to the current process by PID; false when it is not running. */
  kill(signal: NodeJS.Signals = 'SIGKILL'): boolean {
    if (!this.running || !this.child) return false;
    this.log.note(`sending ${signal}`);
    return this.child.kill(signal);
  }

  /** SIGTERM, SIGKILL after the stop deadline; resolves when the process has exited. */
  async stop(): Promise<ExitStatus | undefined> {
    if (!this.child) return undefined;
    if (!this.running) return this.status;
    this.kill('SIGTERM');
    const grace = this.spec.stopTimeoutMs ?? 10_000;
    const first = await Promise.race([this.exitPromise, sleep(grace).then(() => 'timeout' as const)]);
    if (first !== 'timeout') return first;
    this.kill('SIGKILL');
    // SIGKILL cannot be ignored; the bound only covers a process stuck in the kernel.
    const second = await Promise.race([this.exitPromise, sleep(10_000).then(() => 'timeout' as const)]);
    if (second === 'timeout') throw new Error(`${this.name} (pid ${this.lastPid}) did not exit after SIGKILL`);
    return second;
  }

  /**
   * Probe until ready; fails at once when the process exits (the error carries the log tail, so
   * a port taken under it reads as EADDRINUSE for withFreshPorts).
   */
  async waitReady(probe: ReadyProbe, opts: WaitReadyOptions = {}): Promise<void> {
    const timeoutMs = opts.timeoutMs ?? 30_000;
    const deadline = Date.now() + timeoutMs;
    let last: ProbeResult = { ready: false, reason: 'not probed yet' };
    for (;;) {
      if (!this.running) {
        // Let the last words reach the log before reporting.
        await sleep(50);
        throw new Error(`${this.name} exited (${describeExit(this.status)})\n${this.logTail(20)}`);
      }
      last = await probe().catch((e: unknown) => ({ ready: false as const, reason: e instanceof Error ? e.message : String(e) }));
      if (last.ready) return;
      if (Date.now() >= deadline) break;
      await sleep(opts.intervalMs ?? 100);
    }
    throw new Error(`${this.name} not ready after ${timeoutMs} ms (${last.ready ? '' : last.reason})\n${this.logTail(20)}`);
  }

  /** Flush and close the log file (after the process has stopped). */
  closeLog(): Promise<void> {
    return this.log.close();
  }
}

export function describeExit(s: ExitStatus | undefined): string {
  if (!s) return 'running';
  if (s.signal) return `killed by ${s.signal}`;
  return s.code === null ? 'failed to start' : `exit code ${s.code}`;
}

export interface RunResult {
  stdout: string;
  stderr: string;
  /** Exit code, or null when the process ended by a signal. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it was killed for exceeding its deadline. */
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

/** Run a command to completion under a deadline, capturing stdout and stderr separately. */
export function runProcess(cmd: string, args: readonly string[], opts: RunOptions): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, [...args], { env: opts.env ?? process.env, cwd: opts.cwd, stdio: ['pipe', 'pipe', 'pipe'] });
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
      resolve({ stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8'), code, signal, timedOut });
    });
  });
}

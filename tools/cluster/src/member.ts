// One member process: started with etcd's flags, stopped by PID (SIGTERM, then SIGKILL after a
// deadline), restartable on the same ports and data directory.
import { spawn, type ChildProcess } from 'node:child_process';
import { probeHealth, type HealthState } from './health.js';
import { LogSink } from './logs.js';

export interface ExitStatus {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface RestartOptions {
  /** Wait until the member answers /health (default true). */
  waitHealthy?: boolean;
  /** Longest wait for health (default: the cluster's readyTimeoutMs). */
  timeoutMs?: number;
}

export interface Member {
  readonly name: string;
  /** "http://127.0.0.1:PORT" */
  readonly clientUrl: string;
  readonly peerUrl: string;
  /** "127.0.0.1:PORT" (the client URL without scheme). */
  readonly endpoint: string;
  readonly dataDir: string;
  /** Everything the member printed, across restarts. */
  readonly logFile: string;
  /** PID of the current process (of the last one once it has exited). */
  readonly pid: number;
  readonly running: boolean;
  /** How the last process ended; undefined while it runs. */
  readonly exitStatus: ExitStatus | undefined;
  /** The command line the member runs with (binary first). */
  readonly command: readonly string[];
  /** The last `lines` lines of output. */
  logTail(lines?: number): string;
  /** One `/health` probe. */
  health(): Promise<HealthState>;
  /** SIGTERM by PID, SIGKILL after the stop deadline; resolves when the process has exited. */
  stop(): Promise<ExitStatus | undefined>;
  /** Send `signal` (default SIGKILL) to the current process; false when it is not running. */
  kill(signal?: NodeJS.Signals): boolean;
  /** Resolves when the current process exits. */
  exited(): Promise<ExitStatus>;
  /** Stop (if running) and start again with the same flags, ports and data. */
  restart(opts?: RestartOptions): Promise<void>;
}

export interface MemberSpec {
  name: string;
  clientPort: number;
  peerPort: number;
  dataDir: string;
  logFile: string;
  bin: string;
  args: string[];
  stopTimeoutMs: number;
  readyTimeoutMs: number;
}

// Children still running when the launcher's process exits (even by an uncaught error) are killed,
// so a crashed test or benchmark leaves no member behind. Members run in their own process group
// (detached) so that a terminal's Ctrl-C reaches only the launcher, which stops them in order.
const live = new Set<ChildProcess>();
let exitHookInstalled = false;
function track(child: ChildProcess): void {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once('exit', () => {
      for (const c of live) {
        try {
          c.kill('SIGKILL');
        } catch {
          // already gone
        }
      }
    });
  }
  live.add(child);
  child.once('exit', () => live.delete(child));
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export class MemberProcess implements Member {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly endpoint: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly command: readonly string[];
  private readonly log: LogSink;
  private child: ChildProcess | undefined;
  private exitPromise: Promise<ExitStatus> = Promise.resolve({ code: null, signal: null });
  private status: ExitStatus | undefined;
  private lastPid = 0;

  constructor(private readonly spec: MemberSpec) {
    this.name = spec.name;
    this.endpoint = `127.0.0.1:${spec.clientPort}`;
    this.clientUrl = `http://${this.endpoint}`;
    this.peerUrl = `http://127.0.0.1:${spec.peerPort}`;
    this.dataDir = spec.dataDir;
    this.logFile = spec.logFile;
    this.command = [spec.bin, ...spec.args];
    this.log = new LogSink(spec.logFile);
  }

  get pid(): number {
    return this.lastPid;
  }

  get running(): boolean {
    return this.child !== undefined && this.status === undefined;
  }

  get exitStatus(): ExitStatus | undefined {
    return this.status;
  }

  /** Start the process (not waiting for health). */
  start(): void {
    if (this.running) throw new Error(`member ${this.name} is already running (pid ${this.lastPid})`);
    this.status = undefined;
    const child = spawn(this.spec.bin, this.spec.args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
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
        this.log.note(`pid ${this.lastPid} exited (${s.signal ?? `code ${s.code}`})`);
        resolve(s);
      };
      child.once('exit', (code, signal) => done({ code, signal }));
      // spawn failures (binary vanished, EACCES) arrive as 'error' without 'exit'.
      child.once('error', (err) => {
        this.log.note(`spawn error: ${err.message}`);
        done({ code: null, signal: null });
      });
    });
  }

  logTail(lines = 30): string {
    return this.log.tail(lines);
  }

  health(): Promise<HealthState> {
    return probeHealth(this.clientUrl);
  }

  exited(): Promise<ExitStatus> {
    return this.exitPromise;
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): boolean {
    if (!this.running || !this.child) return false;
    this.log.note(`sending ${signal}`);
    return this.child.kill(signal);
  }

  async stop(): Promise<ExitStatus | undefined> {
    if (!this.child) return undefined;
    if (!this.running) return this.status;
    this.kill('SIGTERM');
    const timeout = sleep(this.spec.stopTimeoutMs).then(() => 'timeout' as const);
    const first = await Promise.race([this.exitPromise, timeout]);
    if (first !== 'timeout') return first;
    this.kill('SIGKILL');
    // SIGKILL cannot be ignored; the bound only covers a process stuck in the kernel.
    const second = await Promise.race([this.exitPromise, sleep(10_000).then(() => 'timeout' as const)]);
    if (second === 'timeout') throw new Error(`member ${this.name} (pid ${this.lastPid}) did not exit after SIGKILL`);
    return second;
  }

  async restart(opts: RestartOptions = {}): Promise<void> {
    await this.stop();
    this.log.note('restart');
    this.start();
    if (opts.waitHealthy ?? true) await this.waitHealthy(opts.timeoutMs ?? this.spec.readyTimeoutMs);
  }

  /** Poll /health until it answers healthy; fail at once if the process exits. */
  async waitHealthy(timeoutMs: number): Promise<void> {
    const until = Date.now() + timeoutMs;
    let last: HealthState = { healthy: false, reason: 'not probed yet' };
    while (Date.now() < until) {
      if (!this.running) throw new Error(`member ${this.name} exited (${describeExit(this.status)})\n${this.logTail(20)}`);
      last = await this.health();
      if (last.healthy) return;
      await sleep(100);
    }
    throw new Error(`member ${this.name} not healthy after ${timeoutMs} ms (${last.healthy ? '' : last.reason})\n${this.logTail(20)}`);
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

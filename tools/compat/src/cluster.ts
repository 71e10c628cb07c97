// One single-member cluster (etcd or kvd) in a fresh temporary directory on free loopback ports.
//
// Layout of the temp root (removed by destroy()):
//   <root>/data        the member's --data-dir (kept across restart())
//   <root>/server.log  the server's stdout+stderr, appended across restarts
//
// Invariant: while `running` is true, `child` is the live server process and `endpoint`
// answered `etcdctl endpoint health`.
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServerSpec } from './config.js';
import { runEtcdctl } from './etcdctl.js';
import { freePorts } from './ports.js';
import { killAndWait, sleep } from './proc.js';

export interface MemberOptions {
  /** Member name (--name); default "compat". */
  name?: string;
  /** Extra server flags appended after the standard ones, e.g. ["--max-request-bytes=1024"]. */
  extraArgs?: string[];
  /** How long to wait for the member to become healthy; default 20 s (env COMPAT_START_TIMEOUT_MS). */
  startTimeoutMs?: number;
  /** SIGTERM → SIGKILL grace on stop; default 10 s. */
  stopGraceMs?: number;
  /** --log-level; default "error" (etcd) — kvd takes the same flag. */
  logLevel?: string;
}

const defaultStartTimeout = Number(process.env.COMPAT_START_TIMEOUT_MS ?? 20_000);

export class Member {
  private child: ChildProcess | null = null;
  private exited: Promise<void> = Promise.resolve();
  private destroyed = false;

  private constructor(
    readonly spec: ServerSpec,
    readonly root: string,
    private clientPort: number,
    private peerPort: number,
    private readonly opts: Required<MemberOptions>,
  ) {}

  /** Start a member in a fresh temp dir; retries with new ports if the server dies while starting. */
  static async start(spec: ServerSpec, options: MemberOptions = {}): Promise<Member> {
    const opts: Required<MemberOptions> = {
      name: options.name ?? 'compat',
      extraArgs: options.extraArgs ?? [],
      startTimeoutMs: options.startTimeoutMs ?? defaultStartTimeout,
      stopGraceMs: options.stopGraceMs ?? 10_000,
      logLevel: options.logLevel ?? 'error',
    };
    const root = mkdtempSync(join(tmpdir(), `kv-compat-${spec.label}-`));
    let lastErr: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const [cp, pp] = await freePorts(2);
      const m = new Member(spec, root, cp!, pp!, opts);
      try {
        await m.launch();
        return m;
      } catch (e) {
        lastErr = e;
        await m.stopProcess();
        // A member that died at start (port taken) leaves a half-made data dir behind.
        rmSync(m.dataDir, { recursive: true, force: true });
        if (!(e instanceof StartError) || !e.exitedEarly) break;
      }
    }
    rmSync(root, { recursive: true, force: true });
    throw lastErr;
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.clientPort}`;
  }

  get peerUrl(): string {
    return `http://127.0.0.1:${this.peerPort}`;
  }

  get dataDir(): string {
    return join(this.root, 'data');
  }

  get logFile(): string {
    return join(this.root, 'server.log');
  }

  /** PID of the running server; throws when it is not running. */
  get pid(): number {
    if (this.child?.pid === undefined) throw new Error('member is not running');
    return this.child.pid;
  }

  get running(): boolean {
    return this.child !== null;
  }

  /** The last `n` lines of the server log (for failure messages). */
  logTail(n = 30): string {
    if (!existsSync(this.logFile)) return '';
    return readFileSync(this.logFile, 'utf8').split('\n').slice(-n).join('\n');
  }

  /** Stop the server and start it again on the same data dir and ports. */
  async restart(): Promise<void> {
    await this.stopProcess();
    await this.launch();
  }

  /** Stop the server (data dir kept). */
  async stop(): Promise<void> {
    await this.stopProcess();
  }

  /** Stop the server and remove its temp dir. Safe to call twice. */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    try {
      await this.stopProcess();
    } finally {
      rmSync(this.root, { recursive: true, force: true });
    }
  }

  private serverArgs(): string[] {
    const { name } = this.opts;
    return [
      ...this.spec.prefixArgs,
      `--name=${name}`,
      `--data-dir=${this.dataDir}`,
      `--listen-client-urls=${this.endpoint}`,
      `--advertise-client-urls=${this.endpoint}`,
      `--listen-peer-urls=${this.peerUrl}`,
      `--initial-advertise-peer-urls=${this.peerUrl}`,
      `--initial-cluster=${name}=${this.peerUrl}`,
      `--log-level=${this.opts.logLevel}`,
      ...this.opts.extraArgs,
    ];
  }

  private async launch(): Promise<void> {
    const log = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.spec.command, this.serverArgs(), {
        stdio: ['ignore', log, log],
        env: process.env,
      });
    } finally {
      closeSync(log);
    }
    // Written by the child's event handlers, read by the wait loop below.
    const state: { exitInfo: string | null } = { exitInfo: null };
    this.exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        state.exitInfo = `exit code ${code}, signal ${signal}`;
        resolve();
      });
      child.once('error', (e) => {
        state.exitInfo = `spawn error: ${e.message}`;
        resolve();
      });
    });
    this.child = child;
    registerForExit(child);

    const deadline = Date.now() + this.opts.startTimeoutMs;
    let lastOut = '';
    while (Date.now() < deadline) {
      if (state.exitInfo !== null) {
        this.child = null;
        throw new StartError(
          `${this.spec.label} exited while starting (${state.exitInfo})\n${this.logTail()}`,
          true,
        );
      }
      const probe = new AbortController();
      const check = runEtcdctl(
        this.endpoint,
        ['--dial-timeout=1s', '--command-timeout=2s', 'endpoint', 'health'],
        { timeoutMs: 5_000, signal: probe.signal },
      );
      // A server that dies while being probed is reported without waiting out the probe.
      const r = await Promise.race([check, this.exited.then(() => null)]);
      if (r === null) {
        probe.abort();
        await check;
        continue;
      }
      if (r.code === 0) return;
      lastOut = (r.stdout + r.stderr).trim().split('\n').slice(-3).join('\n');
      await sleep(200);
    }
    throw new StartError(
      `${this.spec.label} not healthy after ${this.opts.startTimeoutMs} ms at ${this.endpoint}\n` +
        `last health check: ${lastOut}\nserver log tail:\n${this.logTail()}`,
      false,
    );
  }

  private async stopProcess(): Promise<void> {
    const child = this.child;
    this.child = null;
    if (child?.pid === undefined) return;
    if (child.exitCode !== null || child.signalCode !== null) return;
    await killAndWait(child.pid, this.exited, this.opts.stopGraceMs);
  }
}

export class StartError extends Error {
  constructor(
    message: string,
    readonly exitedEarly: boolean,
  ) {
    super(message);
    this.name = 'StartError';
  }
}

// Servers still running when the test process exits are SIGKILLed by PID.
const servers = new Set<ChildProcess>();
let hooked = false;
function registerForExit(child: ChildProcess): void {
  servers.add(child);
  child.once('exit', () => servers.delete(child));
  if (hooked) return;
  hooked = true;
  process.once('exit', () => {
    for (const c of servers) {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(c.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
  });
}

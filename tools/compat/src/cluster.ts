// One single-member cluster (etcd or kvd) in a fresh temporary directory on free loopback ports.
//
// Layout of the temp root (removed by destroy()):
//   <root>/data        the member's --data-dir (kept across restart())
//   <root>/server.log  the server's stdout+stderr, appended across restarts
//
// Invariant: while `running` is true, the member's process is alive and `endpoint`
// answered `etcdctl endpoint health`.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describeExit, ManagedProcess, withFreshPorts } from '@kv/testkit';
import type { ServerSpec } from './config.js';
import { runEtcdctl } from './etcdctl.js';

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
  private proc: ManagedProcess | null = null;
  private destroyed = false;

  private constructor(
    readonly spec: ServerSpec,
    readonly root: string,
    private clientPort: number,
    private peerPort: number,
    private readonly opts: Required<MemberOptions>,
  ) {}

  /**
   * Start a member in a fresh temp dir on loopback ports held until the spawn; when the server
   * lost a port in the window before its bind (EADDRINUSE), it starts again on fresh ports.
   */
  static async start(spec: ServerSpec, options: MemberOptions = {}): Promise<Member> {
    const opts: Required<MemberOptions> = {
      name: options.name ?? 'compat',
      extraArgs: options.extraArgs ?? [],
      startTimeoutMs: options.startTimeoutMs ?? defaultStartTimeout,
      stopGraceMs: options.stopGraceMs ?? 10_000,
      logLevel: options.logLevel ?? 'error',
    };
    const root = mkdtempSync(join(tmpdir(), `kv-compat-${spec.label}-`));
    try {
      return await withFreshPorts(2, async ([cp, pp], release) => {
        const m = new Member(spec, root, cp!, pp!, opts);
        try {
          await release();
          await m.launch();
          return m;
        } catch (e) {
          await m.stopProcess();
          // A member that died at start (port taken) leaves a half-made data dir behind.
          rmSync(m.dataDir, { recursive: true, force: true });
          throw e;
        }
      });
    } catch (e) {
      rmSync(root, { recursive: true, force: true });
      throw e;
    }
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
    if (!this.proc?.running) throw new Error('member is not running');
    return this.proc.pid;
  }

  get running(): boolean {
    return this.proc?.running ?? false;
  }

  /** The last `n` lines of the server log (for failure messages). */
  logTail(n = 30): string {
    return this.proc?.logTail(n) ?? '';
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
      await this.proc?.closeLog();
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
    // One process object per member: its log (file and tail) runs on across restarts.
    this.proc ??= new ManagedProcess({
      name: this.spec.label,
      bin: this.spec.command,
      args: this.serverArgs(),
      logFile: this.logFile,
      stopTimeoutMs: this.opts.stopGraceMs,
    });
    const proc = this.proc;
    proc.start();
    const probe = async () => {
      const r = await runEtcdctl(this.endpoint, ['--dial-timeout=1s', '--command-timeout=2s', 'endpoint', 'health'], {
        timeoutMs: 5_000,
      });
      if (r.code === 0) return { ready: true as const };
      return { ready: false as const, reason: (r.stdout + r.stderr).trim().split('\n').slice(-3).join('\n') };
    };
    try {
      await proc.waitReady(probe, { timeoutMs: this.opts.startTimeoutMs, intervalMs: 200 });
    } catch (e) {
      if (!proc.running) {
        throw new StartError(`${this.spec.label} exited while starting (${describeExit(proc.exitStatus)})\n${proc.logTail()}`, true);
      }
      throw new StartError(`${this.spec.label} not healthy at ${this.endpoint}: ${(e as Error).message}`, false);
    }
  }

  private async stopProcess(): Promise<void> {
    if (this.proc?.running) await this.proc.stop();
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

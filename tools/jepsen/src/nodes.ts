// The members the nemesis acts on. A slot starts as one of the launcher's members; member churn
// replaces it by a fresh process this module spawns (--initial-cluster-state existing, a new
// name and data directory, the same ports). Every process is ended by its PID.
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import { join } from 'node:path';
import { probeHealth, type Member } from '@kv/cluster-launcher';

export interface Node {
  readonly name: string;
  readonly endpoint: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly pid: number;
  readonly running: boolean;
  signal(sig: NodeJS.Signals): boolean;
  /** SIGKILL if running, then start again with the same flags (plus `env`); no health wait. */
  restart(env?: Record<string, string>): Promise<void>;
  /** SIGKILL and wait for the exit. */
  kill(): Promise<void>;
  health(): Promise<boolean>;
}

const healthy = async (clientUrl: string): Promise<boolean> => (await probeHealth(clientUrl, 1500)).healthy;

/** A launcher member. Extra env for a restart goes through process.env while it spawns (the
 *  launcher passes the environment on); the nemesis is the only one spawning, one at a time. */
export class LaunchedNode implements Node {
  constructor(private readonly m: Member) {}
  get name(): string {
    return this.m.name;
  }
  get endpoint(): string {
    return this.m.endpoint;
  }
  get clientUrl(): string {
    return this.m.clientUrl;
  }
  get peerUrl(): string {
    return this.m.peerUrl;
  }
  get dataDir(): string {
    return this.m.dataDir;
  }
  get pid(): number {
    return this.m.pid;
  }
  get running(): boolean {
    return this.m.running;
  }
  signal(sig: NodeJS.Signals): boolean {
    return this.m.kill(sig);
  }
  async kill(): Promise<void> {
    if (this.m.running) {
      this.m.kill('SIGCONT');
      this.m.kill('SIGKILL');
      await this.m.exited();
    }
  }
  async restart(env: Record<string, string> = {}): Promise<void> {
    await this.kill();
    const saved = new Map(Object.keys(env).map((k) => [k, process.env[k]]));
    Object.assign(process.env, env);
    try {
      await this.m.restart({ waitHealthy: false });
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  }
  health(): Promise<boolean> {
    return healthy(this.m.clientUrl);
  }
}

const spawned = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of spawned)
    if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
      try {
        process.kill(c.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
});

/** A member started by churn. */
export class SpawnedNode implements Node {
  private child: ChildProcess | undefined;
  private exit: Promise<void> = Promise.resolve();
  private log: WriteStream;
  readonly endpoint: string;
  readonly clientUrl: string;
  constructor(
    readonly name: string,
    private readonly bin: string,
    private readonly args: string[],
    readonly peerUrl: string,
    clientPort: number,
    readonly dataDir: string,
    logDir: string,
    private readonly baseEnv: Record<string, string>,
  ) {
    this.endpoint = `127.0.0.1:${clientPort}`;
    this.clientUrl = `http://${this.endpoint}`;
    this.log = createWriteStream(join(logDir, `${name}.log`), { flags: 'a' });
  }
  get pid(): number {
    return this.child?.pid ?? 0;
  }
  get running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }
  start(env: Record<string, string> = {}): void {
    const child = spawn(this.bin, this.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true,
      env: { ...process.env, ...this.baseEnv, ...env },
    });
    this.child = child;
    spawned.add(child);
    this.log.write(`--- started pid ${child.pid}: ${this.bin} ${this.args.join(' ')}\n`);
    child.stdout!.pipe(this.log, { end: false });
    child.stderr!.pipe(this.log, { end: false });
    this.exit = new Promise((resolve) => {
      child.once('exit', (code, sig) => {
        this.log.write(`--- pid ${child.pid} exited (${sig ?? code})\n`);
        spawned.delete(child);
        resolve();
      });
      child.once('error', () => resolve());
    });
  }
  signal(sig: NodeJS.Signals): boolean {
    if (!this.running || this.child?.pid === undefined) return false;
    process.kill(this.child.pid, sig);
    return true;
  }
  async kill(): Promise<void> {
    if (this.running) {
      this.signal('SIGCONT');
      this.signal('SIGKILL');
      await this.exit;
    }
  }
  async restart(env: Record<string, string> = {}): Promise<void> {
    await this.kill();
    this.start(env);
  }
  exited(): Promise<void> {
    return this.exit;
  }
  health(): Promise<boolean> {
    return healthy(this.clientUrl);
  }
  close(): void {
    this.log.end();
  }
}

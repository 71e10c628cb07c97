// rlprobe (tools/cluster/go/src/rlprobe): etcd's own Go client (clientv3 3.4) behind a line
// protocol, so a test can watch, keep a lease alive and put through one member with and without
// clientv3.WithRequireLeader, as Kubernetes' apiserver does. Built in GOPATH mode against
// Debian's golang-etcd-server-dev (as tools/bench's kvbench), run as a child process.
import { type ChildProcess, execFile, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const GO_DIR = join(resolve(dirname(fileURLToPath(import.meta.url)), '..'), 'go');
/** Where Debian installs Go sources; $KV_GOCODE overrides. */
const GOCODE = process.env.KV_GOCODE ?? '/usr/share/gocode';
const execFileP = promisify(execFile);

/** Why the probe cannot be built here, or undefined when it can. */
export function rlprobeUnavailable(): string | undefined {
  if (spawnSync('go', ['version'], { timeout: 30_000 }).status !== 0) return '`go` is not installed';
  if (!existsSync(join(GOCODE, 'src/go.etcd.io/etcd/clientv3'))) return `etcd's Go client is not in ${GOCODE}`;
  return undefined;
}

/** Builds the probe when it is missing or older than its source; returns its path. */
export function buildRlprobe(): Promise<string> {
  return buildGoProbe('rlprobe');
}

/**
 * Builds the Go program in tools/cluster/go/src/<name> (GOPATH mode, against etcd's Go sources)
 * when it is missing or older than its source; returns its path.
 */
export async function buildGoProbe(name: string): Promise<string> {
  const src = join(GO_DIR, 'src', name);
  const bin = join(GO_DIR, 'bin', name);
  const newest = Math.max(...readdirSync(src).map((f) => statSync(join(src, f)).mtimeMs));
  if (existsSync(bin) && statSync(bin).mtimeMs >= newest) return bin;
  mkdirSync(dirname(bin), { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, GO111MODULE: 'off', GOPATH: `${GO_DIR}:${GOCODE}`, GOFLAGS: '' };
  if (env.GOCACHE === undefined && env.HOME === undefined) env.GOCACHE = join(GO_DIR, '.cache');
  try {
    await execFileP('go', ['build', '-o', bin, name], { cwd: src, env, timeout: 600_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`go build of ${name} failed: ${err.stderr?.trim() || err.message}`);
  }
  return bin;
}

/** One line the probe printed (see main.go for the shapes). */
export interface ProbeEvent {
  ev: string;
  name?: string;
  err?: string;
  ok?: boolean;
  key?: string;
  value?: string;
  id?: string;
  /** lockprobe: the session's lease, and whether the session has ended. */
  lease?: string;
  done?: boolean;
}

/** A running probe: send commands, wait for the events they produce. */
export class Rlprobe {
  readonly events: ProbeEvent[] = [];
  private readonly child: ChildProcess;
  private waiters: { match: (e: ProbeEvent) => boolean; resolve: (e: ProbeEvent) => void }[] = [];
  private stderr = '';

  private constructor(bin: string, args: string[]) {
    this.child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-4000)));
    createInterface({ input: this.child.stdout! }).on('line', (line) => {
      let e: ProbeEvent;
      try {
        e = JSON.parse(line) as ProbeEvent;
      } catch {
        return; // not ours
      }
      this.events.push(e);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(e)) return true;
        w.resolve(e);
        return false;
      });
    });
  }

  /** Starts the probe on `endpoint` ("127.0.0.1:PORT") and waits until its client is up. */
  static start(bin: string, endpoint: string): Promise<Rlprobe> {
    return Rlprobe.startWith(bin, ['--endpoint', endpoint]);
  }

  /** Starts another probe of the same line protocol (e.g. lockprobe) with `args`; waits for its "ready". */
  static async startWith(bin: string, args: string[]): Promise<Rlprobe> {
    const p = new Rlprobe(bin, args);
    await p.next((e) => e.ev === 'ready', 30_000);
    return p;
  }

  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }

  /** The first event (already printed or coming) that matches; rejects after timeoutMs. */
  next(match: (e: ProbeEvent) => boolean, timeoutMs: number): Promise<ProbeEvent> {
    const seen = this.events.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`rlprobe: no matching event in ${timeoutMs} ms; events ${JSON.stringify(this.events)}; stderr ${this.stderr}`));
      }, timeoutMs);
      const done = (e: ProbeEvent) => {
        clearTimeout(timer);
        resolve(e);
      };
      this.waiters.push({ match, resolve: done });
    });
  }

  /** Sends a command and waits for the event it answers with (the first new one matching). */
  async request(line: string, match: (e: ProbeEvent) => boolean, timeoutMs: number): Promise<ProbeEvent> {
    const before = this.events.length;
    this.send(line);
    return this.next((e) => match(e) && this.events.indexOf(e) >= before, timeoutMs);
  }

  /** Stops the probe (by its PID). */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGKILL');
    await exited;
  }
}

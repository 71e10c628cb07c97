// The Go driver: kvbench (tools/bench/go/src/kvbench), a load generator on etcd's own clientv3,
// built in GOPATH mode against Debian's golang-etcd-server-dev, and run as a child process that
// prints one JSON object.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** tools/bench (this file runs from src/ under vitest and from dist/ when built). */
export const BENCH_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const GO_DIR = join(BENCH_DIR, 'go');
export const GO_SRC = join(GO_DIR, 'src', 'kvbench');
export const GO_BIN = join(GO_DIR, 'bin', 'kvbench');
/** Where Debian installs Go sources (clientv3 from golang-etcd-server-dev); $KV_GOCODE overrides. */
export const GOCODE = process.env.KV_GOCODE ?? '/usr/share/gocode';

const execFileP = promisify(execFile);

/** Why the Go driver cannot be built here, or undefined when it can. */
export async function goUnavailableReason(): Promise<string | undefined> {
  try {
    await execFileP('go', ['version'], { timeout: 30_000 });
  } catch {
    return '`go` is not installed (Debian: apt-get install golang-go)';
  }
  if (!existsSync(join(GOCODE, 'src/go.etcd.io/etcd/clientv3')))
    return `etcd's Go client is not in ${GOCODE} (Debian: apt-get install golang-etcd-server-dev)`;
  return undefined;
}

function newestSource(): number {
  return Math.max(...readdirSync(GO_SRC).map((f) => statSync(join(GO_SRC, f)).mtimeMs));
}

/** True when the binary exists and is newer than every source file. */
export function goBinaryFresh(): boolean {
  return existsSync(GO_BIN) && statSync(GO_BIN).mtimeMs >= newestSource();
}

/**
 * Builds kvbench into tools/bench/go/bin when it is missing or older than its sources; returns
 * the binary's path. Throws with the compiler's output on failure (call goUnavailableReason first).
 */
export async function buildGoDriver(log: (s: string) => void = () => {}): Promise<string> {
  if (goBinaryFresh()) return GO_BIN;
  mkdirSync(dirname(GO_BIN), { recursive: true });
  const env: NodeJS.ProcessEnv = { ...process.env, GO111MODULE: 'off', GOPATH: `${GO_DIR}:${GOCODE}`, GOFLAGS: '' };
  // Go needs a build cache; without $HOME it has no default one.
  if (env.GOCACHE === undefined && env.HOME === undefined) env.GOCACHE = join(GO_DIR, '.cache');
  log(`building the Go driver (${GO_BIN})`);
  try {
    await execFileP('go', ['build', '-o', GO_BIN, 'kvbench'], { cwd: GO_SRC, env, timeout: 600_000 });
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`go build of kvbench failed: ${err.stderr?.trim() || err.message}`);
  }
  return GO_BIN;
}

/** One latency summary in ms, as kvbench prints it. */
export interface GoLatency {
  count: number;
  p50Ms: number;
  p90Ms: number;
  p99Ms: number;
  p999Ms: number;
  maxMs: number;
  meanMs: number;
}

/** kvbench's JSON (see result in main.go). */
export interface GoResult extends GoLatency {
  driver: 'go';
  workload: string;
  endpoints: string[];
  clients: number;
  conns: number;
  ops: number;
  errors: number;
  firstError?: string;
  aborted?: string;
  seconds: number;
  throughput: number;
  unit: 'req/s' | 'events/s';
  consistency?: 'l' | 's';
  conflicts?: number;
  updatesPerSec?: number;
  watchers?: number;
  events?: number;
  expectedEvents?: number;
  puts?: number;
  putsPerSec?: number;
  putLatency?: GoLatency;
}

/** Reads kvbench's stdout: the last line holding a JSON object. */
export function parseGoOutput(stdout: string): GoResult | undefined {
  const lines = stdout.split('\n').filter((l) => l.trim().startsWith('{'));
  const last = lines.at(-1);
  if (last === undefined) return undefined;
  try {
    const r = JSON.parse(last) as GoResult;
    return typeof r.ops === 'number' && typeof r.errors === 'number' ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs kvbench with `args` (workload first); the process is killed by PID after `timeoutMs`.
 * Always resolves: a run that printed no JSON becomes a result with one error and its stderr.
 * `onChild` is given the process (so an interrupted caller can kill it by PID).
 */
export function runGoDriver(bin: string, args: string[], timeoutMs: number, onChild?: (c: ChildProcess) => void): Promise<GoResult> {
  return new Promise((resolvePromise) => {
    const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    onChild?.(child);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    // Keep the tail only: grpc's reconnect warnings can be long.
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-8000)));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      if (child.pid !== undefined) process.kill(child.pid, 'SIGKILL');
    }, timeoutMs);
    const done = (why: string | undefined) => {
      clearTimeout(timer);
      const parsed = parseGoOutput(stdout);
      if (parsed) return resolvePromise(parsed);
      const tail = stderr.trim().split('\n').slice(-5).join('\n');
      const error = timedOut ? `kvbench killed after ${timeoutMs} ms` : (why ?? `kvbench printed no result`);
      resolvePromise({
        driver: 'go',
        workload: args[0] ?? '?',
        endpoints: [],
        clients: 0,
        conns: 0,
        ops: 0,
        errors: 1,
        firstError: tail ? `${error}: ${tail}` : error,
        aborted: error,
        seconds: 0,
        throughput: 0,
        unit: 'req/s',
        count: 0,
        p50Ms: 0,
        p90Ms: 0,
        p99Ms: 0,
        p999Ms: 0,
        maxMs: 0,
        meanMs: 0,
      });
    };
    child.on('error', (e) => done(`kvbench could not start: ${e.message}`));
    child.on('close', (code, signal) => done(`kvbench exited with ${signal ?? code}`));
  });
}

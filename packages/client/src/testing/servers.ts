// Test support: start a real etcd or our kvd on free loopback ports, wait until it serves,
// stop it and remove its data. Used by the client and ctl test suites.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '../client.js';

export type ServerKind = 'etcd' | 'kvd';

export interface RunningServer {
  readonly kind: ServerKind;
  readonly clientPort: number;
  readonly peerPort: number;
  /** "127.0.0.1:PORT" */
  readonly endpoint: string;
  /** "http://127.0.0.1:PORT" */
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly pid: number;
  /** Recent output of the process (for failure messages). */
  log(): string;
  /** SIGTERM (SIGKILL after a grace period), then remove the data directory. */
  stop(): Promise<void>;
  /** Stop the process (keeping its data) and start it again on the same ports; resolves when it serves. */
  restart(): Promise<void>;
}

export interface StartOptions {
  /** Member name (default "t"). */
  name?: string;
  /** Extra command-line flags. */
  extraArgs?: string[];
  /** Longest wait for the server to answer (ms, default 30000). */
  readyTimeoutMs?: number;
  /** Use these ports instead of free ones (to start an identical server again). */
  clientPort?: number;
  peerPort?: number;
}

/** Path of the real etcd binary. */
export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
/** Path of the real etcdctl binary. */
export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';

const repoRoot = fileURLToPath(new URL('../../../../', import.meta.url));
/** Path of our kvd launcher. */
export const KVD_BIN = process.env.KVD_BIN ?? join(repoRoot, 'apps/server/bin/kvd');
const KVD_MAIN = join(repoRoot, 'apps/server/dist/main.js');

/** Why a server kind cannot be started here, or undefined when it can. */
export function unavailableReason(kind: ServerKind): string | undefined {
  if (kind === 'etcd') return existsSync(ETCD_BIN) ? undefined : `${ETCD_BIN} not found`;
  if (!existsSync(KVD_BIN)) return `${KVD_BIN} not found`;
  if (process.env.KVD_BIN === undefined && !existsSync(KVD_MAIN)) {
    return `kvd is not built (${KVD_MAIN} missing; run pnpm --filter @kv/kvd build)`;
  }
  return undefined;
}

/** The server kinds to run a suite against, each with the reason it must be skipped, if any. */
export function serverKinds(): { kind: ServerKind; skip: string | undefined }[] {
  return (['etcd', 'kvd'] as const).map((kind) => ({ kind, skip: unavailableReason(kind) }));
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      const port = typeof addr === 'object' && addr ? addr.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Start `kind` with etcd's flags on fresh loopback ports and wait until it serves requests. */
export async function startServer(kind: ServerKind, opts: StartOptions = {}): Promise<RunningServer> {
  const reason = unavailableReason(kind);
  if (reason) throw new Error(`cannot start ${kind}: ${reason}`);
  const name = opts.name ?? 't';
  const dataDir = await mkdtemp(join(tmpdir(), `kv-${kind}-`));
  const clientPort = opts.clientPort ?? (await freePort());
  let peerPort = opts.peerPort ?? (await freePort());
  while (peerPort === clientPort) peerPort = await freePort();
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const args = [
    '--name', name,
    '--data-dir', dataDir,
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `${name}=${peerUrl}`,
    ...(opts.extraArgs ?? []),
  ];
  const bin = kind === 'etcd' ? ETCD_BIN : KVD_BIN;
  const lines: string[] = [];
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
    if (lines.length > 200) lines.splice(0, lines.length - 200);
  };
  let proc = launch(bin, args, keep);

  const server: RunningServer = {
    kind,
    clientPort,
    peerPort,
    endpoint: `127.0.0.1:${clientPort}`,
    clientUrl,
    peerUrl,
    dataDir,
    get pid() {
      return proc.child.pid!;
    },
    log: () => lines.join('\n'),
    stop: () => proc.stop().finally(() => rm(dataDir, { recursive: true, force: true })),
    restart: async () => {
      await proc.stop();
      proc = launch(bin, args, keep);
      await waitReady(server, opts.readyTimeoutMs ?? 30_000, () => proc.exited());
    },
  };

  try {
    await waitReady(server, opts.readyTimeoutMs ?? 30_000, () => proc.exited());
  } catch (e) {
    await server.stop();
    throw new Error(`${kind} did not become ready: ${(e as Error).message}\n--- ${kind} log ---\n${server.log()}`);
  }
  return server;
}

interface Proc {
  child: ChildProcess;
  exited(): boolean;
  stop(): Promise<void>;
}

function launch(bin: string, args: string[], keep: (chunk: Buffer) => void): Proc {
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env } });
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  let done = false;
  const exit = new Promise<void>((resolve) => {
    child.on('exit', () => {
      done = true;
      resolve();
    });
  });
  return { child, exited: () => done, stop: () => stopProcess(child, exit, () => done) };
}

async function waitReady(server: RunningServer, timeoutMs: number, hasExited: () => boolean): Promise<void> {
  const until = Date.now() + timeoutMs;
  const client = new Client({ endpoints: [server.endpoint], dialTimeoutMs: 1000 });
  try {
    let last: unknown;
    while (Date.now() < until) {
      if (hasExited()) throw new Error('process exited');
      try {
        await client.get('kv-test-ready-probe', { timeoutMs: 1000 });
        return;
      } catch (e) {
        last = e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    throw new Error(`timed out after ${timeoutMs}ms (last error: ${String(last)})`);
  } finally {
    client.close();
  }
}

async function stopProcess(child: ChildProcess, exit: Promise<void>, hasExited: () => boolean): Promise<void> {
  if (hasExited()) return;
  child.kill('SIGTERM');
  const timer = new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 10_000).unref());
  if ((await Promise.race([exit, timer])) === 'timeout' && !hasExited()) {
    child.kill('SIGKILL');
    await exit;
  }
}

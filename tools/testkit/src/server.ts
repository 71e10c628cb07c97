// One etcd or kvd member for a test: a fresh data directory, loopback ports held until the
// process binds them, ready once GET /health answers healthy, stopped by PID, data removed.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { serverBinary, unavailableReason, type ServerKind } from './binaries.js';
import { memberArgs } from './flags.js';
import { healthProbe } from './health.js';
import { ManagedProcess, type ReadyProbe } from './process.js';
import { withFreshPorts } from './ports.js';

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
  /** Whether the process runs (false once it has exited, by itself or stopped). */
  readonly running: boolean;
  /** Recent output of the process (for failure messages). */
  log(): string;
  /** SIGTERM (SIGKILL after a grace period), then remove the data directory. Idempotent. */
  stop(): Promise<void>;
  /** Stop the process (keeping its data) and start it again on the same ports; resolves when it serves. */
  restart(): Promise<void>;
}

export interface StartOptions {
  /** Member name (default "t"). */
  name?: string;
  /** Extra command-line flags. */
  extraArgs?: string[];
  /** Longest wait for the server to be ready (ms, default 30000). */
  readyTimeoutMs?: number;
  /** Use these ports instead of free ones (to start an identical server again). */
  clientPort?: number;
  peerPort?: number;
  /** --initial-cluster (default: this member alone), to start a member that joins others. */
  initialCluster?: string;
  /** --initial-cluster-state (default: not given, i.e. "new"). */
  initialClusterState?: 'new' | 'existing';
  /** --initial-cluster-token (default: not given). */
  token?: string;
  /** Grace between SIGTERM and SIGKILL in stop() (ms, default 10000). */
  stopTimeoutMs?: number;
  /** Readiness probe (default: GET /health on the client URL answers healthy). */
  probe?: (server: RunningServer) => ReadyProbe;
}

/** Start `kind` with etcd's flags on loopback ports and wait until it is ready. */
export async function startServer(kind: ServerKind, opts: StartOptions = {}): Promise<RunningServer> {
  const reason = unavailableReason(kind);
  if (reason) throw new Error(`cannot start ${kind}: ${reason}`);
  const fixed = opts.clientPort !== undefined || opts.peerPort !== undefined;
  const attempt = (ports: readonly number[], release: () => Promise<void>) =>
    launch(kind, opts, opts.clientPort ?? ports[0]!, opts.peerPort ?? ports[1]!, release);
  // Given ports are the caller's to keep free; fresh ones are held until the spawn and retried
  // when taken in the window before the bind.
  return fixed ? attempt([], async () => {}) : withFreshPorts(2, attempt);
}

async function launch(
  kind: ServerKind,
  opts: StartOptions,
  clientPort: number,
  peerPort: number,
  release: () => Promise<void>,
): Promise<RunningServer> {
  const name = opts.name ?? 't';
  const dataDir = await mkdtemp(join(tmpdir(), `kv-${kind}-`));
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const proc = new ManagedProcess({
    name: `${kind} ${name}`,
    bin: serverBinary(kind),
    args: [
      ...memberArgs({
        name,
        dataDir,
        clientUrl,
        peerUrl,
        initialCluster: opts.initialCluster,
        initialClusterState: opts.initialClusterState,
        token: opts.token,
      }),
      ...(opts.extraArgs ?? []),
    ],
    stopTimeoutMs: opts.stopTimeoutMs,
  });
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  let stopped: Promise<void> | undefined;
  const server: RunningServer = {
    kind,
    clientPort,
    peerPort,
    endpoint: `127.0.0.1:${clientPort}`,
    clientUrl,
    peerUrl,
    dataDir,
    get pid() {
      return proc.pid;
    },
    get running() {
      return proc.running;
    },
    log: () => proc.logTail(200),
    stop: () =>
      (stopped ??= (async () => {
        try {
          await proc.stop();
        } finally {
          await proc.closeLog();
          await rm(dataDir, { recursive: true, force: true });
        }
      })()),
    restart: async () => {
      await proc.stop();
      proc.start();
      await proc.waitReady(probe, { timeoutMs: readyTimeoutMs });
    },
  };
  const probe = opts.probe ? opts.probe(server) : healthProbe(clientUrl);
  try {
    await release();
    proc.start();
    await proc.waitReady(probe, { timeoutMs: readyTimeoutMs });
  } catch (e) {
    await server.stop();
    throw new Error(`${kind} did not become ready: ${(e as Error).message}`);
  }
  return server;
}

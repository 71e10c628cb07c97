// startCluster: N members of kvd or etcd on 127.0.0.1, bootstrapped together with etcd's static
// clustering flags, healthy (every member answers GET /health) before the promise resolves.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { serverBinary, unavailableReason, type ServerKind } from './binaries.js';
import type { HealthState } from './health.js';
import { describeExit, MemberProcess, type Member } from './member.js';
import { withFreshPorts } from './ports.js';
import { memberArgs } from '@kv/testkit';

export interface ClusterOptions {
  server: ServerKind;
  /** Number of members (default 3). */
  size?: number;
  /** Flags added to every member's command line (after the clustering flags). */
  extraArgs?: string[];
  /**
   * Parent of the members' data directories (`<baseDir>/<name>`) and logs (`<baseDir>/<name>.log`);
   * kept after stop(). Default: a fresh temporary directory, removed by stop().
   */
  baseDir?: string;
  /** Longest wait for every member to be healthy (ms, default 30000). */
  readyTimeoutMs?: number;
  /** Grace between SIGTERM and SIGKILL when stopping a member (ms, default 10000). */
  stopTimeoutMs?: number;
  /** --initial-cluster-token (default a random one, so two clusters never mix). */
  token?: string;
  /** Member names are `${namePrefix}1..N` (default "m"). */
  namePrefix?: string;
  /** Binary to run instead of the default for `server` ($KVD_BIN / $ETCD_BIN also override). */
  bin?: string;
  /**
   * https client and peer URLs: every member serves both with `certFile`/`keyFile` (its SAN must
   * name 127.0.0.1); peers present it to each other and trust `caFile`; clients need no
   * certificate (they check the members' against `caFile`).
   */
  tls?: { certFile: string; keyFile: string; caFile: string };
  /** Called once every member process has been spawned, before waiting for health. */
  onLaunch?: (members: readonly Member[]) => void;
}

export interface Cluster {
  readonly server: ServerKind;
  readonly members: readonly Member[];
  /** "127.0.0.1:PORT" of each member, in member order. */
  readonly endpoints: readonly string[];
  /** "http://127.0.0.1:PORT" (https with the `tls` option) of each member. */
  readonly clientUrls: readonly string[];
  readonly baseDir: string;
  /** Resolves when every member answers /health (fails early when one has exited). */
  waitHealthy(timeoutMs?: number): Promise<void>;
  /**
   * Stop every member, one after another (SIGTERM, SIGKILL after the deadline), then remove a
   * temporary baseDir. Idempotent.
   */
  stop(): Promise<void>;
}

/** Why a cluster did not become healthy, with each member's state and log tail. */
export class ClusterStartError extends Error {
  constructor(
    message: string,
    readonly members: { name: string; pid: number; state: string; health: string; logTail: string }[],
  ) {
    super(message);
    this.name = 'ClusterStartError';
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export async function startCluster(opts: ClusterOptions): Promise<Cluster> {
  const { server } = opts;
  const size = opts.size ?? 3;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, got ${size}`);
  const bin = opts.bin ?? serverBinary(server);
  if (opts.bin === undefined) {
    const reason = unavailableReason(server);
    if (reason) throw new Error(`cannot start ${server}: ${reason}`);
  }
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const stopTimeoutMs = opts.stopTimeoutMs ?? 10_000;
  const prefix = opts.namePrefix ?? 'm';
  const token = opts.token ?? `kv-cluster-${randomBytes(6).toString('hex')}`;

  const names = Array.from({ length: size }, (_, i) => `${prefix}${i + 1}`);
  // Ports are held until right before the members spawn; a member that lost one in that window
  // (EADDRINUSE) makes the whole start run again on fresh ports.
  return withFreshPorts(2 * size, (ports, release) =>
    startOnce({ opts, server, bin, names, readyTimeoutMs, stopTimeoutMs, token }, ports, release),
  );
}

interface StartPlan {
  opts: ClusterOptions;
  server: ServerKind;
  bin: string;
  names: string[];
  readyTimeoutMs: number;
  stopTimeoutMs: number;
  token: string;
}

async function startOnce(plan: StartPlan, ports: readonly number[], release: () => Promise<void>): Promise<Cluster> {
  const { opts, server, bin, names, readyTimeoutMs, stopTimeoutMs, token } = plan;
  const temporary = opts.baseDir === undefined;
  const baseDir = temporary ? await mkdtemp(join(tmpdir(), `kv-cluster-${server}-`)) : resolve(opts.baseDir!);
  if (!temporary) {
    await mkdir(baseDir, { recursive: true });
    for (const n of names) {
      const entries = await readdir(join(baseDir, n)).catch(() => []);
      // A leftover data dir would make the member rejoin an old cluster with other peer URLs.
      if (entries.length > 0) throw new Error(`data directory ${join(baseDir, n)} is not empty; give an empty --base-dir`);
    }
  }

  const tls = opts.tls;
  const scheme = tls ? 'https' : 'http';
  const tlsArgs = tls
    ? [
        // No --trusted-ca-file for clients: etcd 3.4 then asks every client for a certificate.
        ...['--cert-file', tls.certFile, '--key-file', tls.keyFile],
        ...['--peer-cert-file', tls.certFile, '--peer-key-file', tls.keyFile, '--peer-trusted-ca-file', tls.caFile],
      ]
    : [];
  const ca = tls ? await readFile(tls.caFile) : undefined;
  const peer = (i: number) => `${scheme}://127.0.0.1:${ports[2 * i + 1]}`;
  const initialCluster = names.map((n, i) => `${n}=${peer(i)}`).join(',');
  const members = names.map((name, i) => {
    const clientUrl = `${scheme}://127.0.0.1:${ports[2 * i]}`;
    const dataDir = join(baseDir, name);
    return new MemberProcess({
      name,
      clientPort: ports[2 * i]!,
      peerPort: ports[2 * i + 1]!,
      dataDir,
      logFile: join(baseDir, `${name}.log`),
      bin,
      stopTimeoutMs,
      readyTimeoutMs,
      ca,
      args: [
        ...memberArgs({ name, dataDir, clientUrl, peerUrl: peer(i), initialCluster, initialClusterState: 'new', token }),
        ...tlsArgs,
        ...(opts.extraArgs ?? []),
      ],
    });
  });

  let stopping: Promise<void> | undefined;
  const cluster: Cluster = {
    server,
    members,
    endpoints: members.map((m) => m.endpoint),
    clientUrls: members.map((m) => m.clientUrl),
    baseDir,
    waitHealthy: (timeoutMs = readyTimeoutMs) => waitAllHealthy(server, members, timeoutMs),
    stop: () =>
      (stopping ??= (async () => {
        // One at a time: a leader told to stop hands leadership to a live follower first (fast),
        // whereas stopping all at once leaves etcd's leader waiting for a transfer that cannot
        // happen (seconds). The last member has no quorum and stops at once.
        for (const m of members) await m.stop();
        await Promise.all(members.map((m) => m.closeLog()));
        if (temporary) await rm(baseDir, { recursive: true, force: true });
      })()),
  };

  try {
    await release();
    for (const m of members) m.start();
    opts.onLaunch?.(members);
    await cluster.waitHealthy();
  } catch (e) {
    await cluster.stop().catch(() => undefined);
    // The data dirs were empty before this attempt: clear them so a retry starts clean.
    if (!temporary) await Promise.all(members.map((m) => rm(m.dataDir, { recursive: true, force: true })));
    throw e;
  }
  return cluster;
}

/**
 * Wait until every member answers /health: each member's wait is the test kit's waitReady, which
 * fails at once when its process exits; the first failure (an exit, or the deadline) ends the wait.
 */
async function waitAllHealthy(server: ServerKind, members: readonly MemberProcess[], timeoutMs: number): Promise<void> {
  try {
    await Promise.all(members.map((m) => m.waitHealthy(timeoutMs)));
  } catch {
    const gone = members.filter((m) => !m.running);
    // Let the others' last words reach the log before reporting.
    if (gone.length > 0) await sleep(200);
    const states = await Promise.all(members.map((m) => m.health()));
    const why =
      gone.length > 0 ? gone.map((m) => `member ${m.name} ${describeExit(m.exitStatus)}`).join(', ') : `not healthy within ${timeoutMs} ms`;
    throw failure(server, members, states, why);
  }
}

function failure(server: ServerKind, members: readonly MemberProcess[], states: HealthState[], why: string): ClusterStartError {
  const details = members.map((m, i) => {
    const s = states[i]!;
    return {
      name: m.name,
      pid: m.pid,
      state: describeExit(m.exitStatus),
      health: s.healthy ? 'healthy' : s.reason,
      logTail: m.logTail(15),
    };
  });
  const lines = [`${server} cluster of ${members.length} did not become healthy: ${why}`];
  for (const d of details) {
    lines.push(`--- ${d.name} (pid ${d.pid}, ${d.state}, /health: ${d.health}) last lines ---`, d.logTail || '(no output)');
  }
  return new ClusterStartError(lines.join('\n'), details);
}

// Real etcd as an oracle for the bbolt tests: a member on fresh loopback ports with a known key
// space, `etcdctl snapshot save`, and etcdctl/etcd on a restored directory. Tests skip when
// etcd or etcdctl is absent (etcdUnavailable()).
import {
  ETCD_BIN,
  ETCDCTL_BIN,
  ManagedProcess,
  healthProbe,
  memberArgs,
  runProcess,
  startServer,
  unavailableReason,
  withFreshPorts,
  type RunningServer,
} from '@kv/testkit';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Why real etcd cannot be used here, or undefined. */
export function etcdUnavailable(): string | undefined {
  return unavailableReason('etcd') ?? (existsSync(ETCDCTL_BIN) ? undefined : `${ETCDCTL_BIN} not found`);
}

/** A value of `n` bytes, deterministic, printable (passed on etcdctl's command line). */
export function bigValue(n: number, seed = 1): string {
  let s = '';
  let x = seed;
  while (s.length < n) {
    x = (x * 1103515245 + 12345) >>> 0; // inexact past 2^53, but deterministic: the golden file holds this value
    s += (x >>> 8).toString(36);
  }
  return s.slice(0, n);
}

export async function etcdctl(endpoint: string | undefined, args: string[], env: NodeJS.ProcessEnv = {}): Promise<string> {
  const full = endpoint === undefined ? args : ['--endpoints', endpoint, ...args];
  const r = await runProcess(ETCDCTL_BIN, full, { timeoutMs: 60_000, env: { ...process.env, ETCDCTL_API: '3', ...env } });
  if (r.code !== 0) throw new Error(`etcdctl ${full.join(' ')}: exit ${r.code}${r.timedOut ? ' (timed out)' : ''}: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

export interface GoldenSpace {
  /** Live keys and values after the writes. */
  live: Map<string, string>;
  /** Lease ID granted (decimal string as etcdctl prints it, hex). */
  leaseHex: string;
  /** The store revision after the writes. */
  revision: bigint;
}

/**
 * The golden writes: puts (one key overwritten, one deleted), a lease with a key, a value of
 * 10000 bytes (an overflow page), 40 small keys, then one more put.
 */
export async function writeGolden(s: RunningServer): Promise<GoldenSpace> {
  const live = new Map<string, string>();
  const put = async (k: string, v: string, extra: string[] = []) => {
    await etcdctl(s.endpoint, ['put', k, v, ...extra]);
    live.set(k, v);
  };
  await put('a', '1');
  await put('b', '2');
  await put('a', '3');
  await etcdctl(s.endpoint, ['del', 'b']);
  live.delete('b');
  const grant = await etcdctl(s.endpoint, ['lease', 'grant', '600']);
  const leaseHex = /lease ([0-9a-f]+) granted/.exec(grant)?.[1];
  if (!leaseHex) throw new Error(`unexpected lease grant output: ${grant}`);
  await put('leased', 'x', [`--lease=${leaseHex}`]);
  await put('big', bigValue(10_000));
  for (let i = 0; i < 40; i++) await put(`k${String(i).padStart(3, '0')}`, `v${i}`);
  await put('c', '5');
  const st = JSON.parse(await etcdctl(s.endpoint, ['endpoint', 'status', '-w', 'json'])) as { Status: { header: { revision: number } } }[];
  return { live, leaseHex, revision: BigInt(st[0].Status.header.revision) };
}

/** A single etcd member, written with the golden writes, its snapshot saved to `path`. */
export async function goldenEtcdSnapshot(path: string): Promise<GoldenSpace> {
  const s = await startServer('etcd');
  try {
    const space = await writeGolden(s);
    await etcdctl(s.endpoint, ['snapshot', 'save', path]);
    return space;
  } finally {
    await s.stop();
  }
}

/** A real etcd serving a data dir that `etcdctl snapshot restore` built from a snapshot file. */
export interface RestoredEtcd {
  readonly endpoint: string;
  /** `etcdctl snapshot restore`'s output. */
  readonly restoreOutput: string;
  log(): string;
  /** Stops etcd (by PID) and removes its data dir. */
  stop(): Promise<void>;
}

/**
 * `etcdctl snapshot restore <file>` into a fresh data dir for a one-member cluster on fresh
 * loopback ports, then etcd started on it (ready once /health answers).
 */
export async function restoreIntoEtcd(file: string, extraRestoreArgs: string[] = []): Promise<RestoredEtcd> {
  const parent = await mkdtemp(join(tmpdir(), 'kv-etcd-restored-'));
  try {
    return await withFreshPorts(2, async ([clientPort, peerPort], release) => {
      const dataDir = join(parent, `d${clientPort}`);
      const clientUrl = `http://127.0.0.1:${clientPort}`;
      const peerUrl = `http://127.0.0.1:${peerPort}`;
      const restoreOutput = await runProcess(
        ETCDCTL_BIN,
        [
          'snapshot',
          'restore',
          file,
          '--name',
          'r',
          '--data-dir',
          dataDir,
          '--initial-cluster',
          `r=${peerUrl}`,
          '--initial-advertise-peer-urls',
          peerUrl,
          ...extraRestoreArgs,
        ],
        { timeoutMs: 120_000, env: { ...process.env, ETCDCTL_API: '3' } },
      ).then((r) => {
        if (r.code !== 0) throw new Error(`etcdctl snapshot restore: exit ${r.code}: ${r.stderr}${r.stdout}`);
        return r.stdout + r.stderr;
      });
      const proc = new ManagedProcess({
        name: 'etcd restored',
        bin: ETCD_BIN,
        args: memberArgs({ name: 'r', dataDir, clientUrl, peerUrl }),
      });
      await release();
      proc.start();
      try {
        await proc.waitReady(healthProbe(clientUrl), { timeoutMs: 60_000 });
      } catch (err) {
        const log = proc.logTail(200);
        await proc.stop();
        throw new Error(`restored etcd did not become ready: ${(err as Error).message}\n${log}`);
      }
      return {
        endpoint: `127.0.0.1:${clientPort}`,
        restoreOutput,
        log: () => proc.logTail(200),
        stop: async () => {
          await proc.stop();
          await proc.closeLog();
          await rm(parent, { recursive: true, force: true });
        },
      };
    });
  } catch (err) {
    await rm(parent, { recursive: true, force: true });
    throw err;
  }
}

/** `etcdctl get --prefix ""` as [key, value] pairs (keys and values in hex, so any bytes compare). */
export async function getAll(endpoint: string): Promise<[string, string][]> {
  const out = JSON.parse(await etcdctl(endpoint, ['get', '--prefix', '', '-w', 'json'])) as { kvs?: { key: string; value?: string }[] };
  return (out.kvs ?? []).map((kv) => [
    Buffer.from(kv.key, 'base64').toString('hex'),
    Buffer.from(kv.value ?? '', 'base64').toString('hex'),
  ]);
}

// Real etcd as an oracle for the bbolt tests: a member on fresh loopback ports with a known key
// space, `etcdctl snapshot save`, and etcdctl/etcd on a restored directory. Tests skip when
// etcd or etcdctl is absent (etcdUnavailable()).
import { ETCDCTL_BIN, runProcess, startServer, unavailableReason, type RunningServer } from '@kv/testkit';
import { existsSync } from 'node:fs';

/** Why real etcd cannot be used here, or undefined. */
export function etcdUnavailable(): string | undefined {
  return unavailableReason('etcd') ?? (existsSync(ETCDCTL_BIN) ? undefined : `${ETCDCTL_BIN} not found`);
}

/** A value of `n` bytes, deterministic, printable (passed on etcdctl's command line). */
export function bigValue(n: number, seed = 1): string {
  let s = '';
  let x = seed;
  while (s.length < n) {
    x = (x * 1103515245 + 12345) >>> 0;
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

// Builds and runs testdata/boltcheck (Go, go.etcd.io/bbolt from /usr/share/gocode): tx.Check and a
// per-bucket summary of a bbolt file. Tests skip when Go or the bbolt source is absent.
import { runProcess } from '@kv/testkit';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';

const GOPATH = process.env.KV_BBOLT_GOPATH ?? '/usr/share/gocode';
const SRC = fileURLToPath(new URL('./boltcheck/main.go', import.meta.url));

/** Why the Go check cannot run here, or undefined. */
export function goBoltUnavailable(): string | undefined {
  if (!existsSync(join(GOPATH, 'src/go.etcd.io/bbolt/db.go'))) return `no bbolt source under ${GOPATH}`;
  try {
    execFileSync('go', ['version'], { stdio: 'ignore' });
  } catch {
    return 'go not found';
  }
  return undefined;
}

const env = () => ({ ...process.env, GO111MODULE: 'off', GOPATH, GOFLAGS: '' });

/** Compiles boltcheck into `dir`; returns the binary's path. */
export async function buildBoltCheck(dir: string): Promise<string> {
  const bin = join(dir, 'boltcheck');
  const r = await runProcess('go', ['build', '-o', bin, SRC], { timeoutMs: 300_000, env: env() });
  if (r.code !== 0) throw new Error(`go build boltcheck: ${r.stderr}${r.stdout}`);
  return bin;
}

export interface BucketSummary {
  name: string;
  keys: number;
  sha256: string;
}

/** Runs boltcheck on `file`: throws with bbolt's complaint if the open or tx.Check fails. */
export async function boltCheck(bin: string, file: string): Promise<BucketSummary[]> {
  const r = await runProcess(bin, [file], { timeoutMs: 120_000 });
  if (r.code !== 0) throw new Error(`boltcheck ${file}: ${r.stderr}${r.stdout}`);
  return JSON.parse(r.stdout) as BucketSummary[];
}

/** The same summary computed in JS over (name, entries) pairs. */
export function summarize(buckets: Iterable<[string, Iterable<[Buffer, Buffer]>]>): BucketSummary[] {
  const out: BucketSummary[] = [];
  for (const [name, entries] of buckets) {
    const h = createHash('sha256');
    let keys = 0;
    const l = Buffer.alloc(4);
    for (const [k, v] of entries) {
      l.writeUInt32BE(k.length);
      h.update(l);
      h.update(k);
      l.writeUInt32BE(v.length);
      h.update(l);
      h.update(v);
      keys++;
    }
    out.push({ name, keys, sha256: h.digest('hex') });
  }
  return out;
}

// Where the binaries are. Everything is overridable through the environment so the same harness
// can compare any two etcd-compatible servers:
//   ETCD_BIN     the reference server (default /usr/bin/etcd)
//   ETCDCTL_BIN  the client driven against both (default /usr/bin/etcdctl)
//   KVD_BIN      the server under test (default <repo>/apps/server/bin/kvd)
import { accessSync, constants, existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** tools/compat */
export const compatRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');
/** the workspace root */
export const repoRoot = resolve(compatRoot, '..', '..');
/** golden scripts */
export const scriptsDir = join(compatRoot, 'scripts');
/** where each run's rendered output is written for inspection (git-ignored) */
export const outDir = join(compatRoot, 'out');

export const etcdBin = process.env.ETCD_BIN ?? '/usr/bin/etcd';
export const etcdctlBin = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';
export const kvdBin = process.env.KVD_BIN ?? join(repoRoot, 'apps', 'server', 'bin', 'kvd');

/** How to launch a server: `command ...prefixArgs <etcd-style flags>`. */
export interface ServerSpec {
  /** Short name used in test titles and output paths ("etcd", "kvd"). */
  label: string;
  command: string;
  prefixArgs: string[];
}

/**
 * A launch spec for `bin`. A file that is not executable but starts with a node shebang (the
 * kvd launcher before `chmod +x`) is run through the current node.
 */
export function serverSpec(label: string, bin: string): ServerSpec {
  try {
    accessSync(bin, constants.X_OK);
    return { label, command: bin, prefixArgs: [] };
  } catch {
    const head = existsSync(bin) ? readFileSync(bin, 'utf8').slice(0, 64) : '';
    if (head.startsWith('#!') && head.split('\n')[0]!.includes('node')) {
      return { label, command: process.execPath, prefixArgs: [bin] };
    }
    return { label, command: bin, prefixArgs: [] };
  }
}

/**
 * Whether the kvd side can run. With KVD_BIN set, the file just has to exist; otherwise kvd's
 * launcher needs its build output (apps/server/dist/main.js).
 */
export function kvdAvailability(): { available: boolean; reason: string } {
  if (process.env.KVD_BIN !== undefined) {
    return existsSync(kvdBin)
      ? { available: true, reason: `KVD_BIN=${kvdBin}` }
      : { available: false, reason: `KVD_BIN=${kvdBin} does not exist` };
  }
  const main = join(repoRoot, 'apps', 'server', 'dist', 'main.js');
  if (!existsSync(main)) {
    return {
      available: false,
      reason: `${main} does not exist (build kvd with 'pnpm --filter @kv/kvd build', or set KVD_BIN)`,
    };
  }
  return { available: true, reason: kvdBin };
}

// Where the server binaries are: real etcd and etcdctl from Debian's packages, kvd from this
// repository. $ETCD_BIN, $ETCDCTL_BIN and $KVD_BIN override the defaults.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ServerKind = 'kvd' | 'etcd';
export const SERVER_KINDS: readonly ServerKind[] = ['kvd', 'etcd'];

// tools/testkit/dist/binaries.js (or src/ under vitest) → the repository root is three levels up.
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** Path of the real etcd binary. */
export const ETCD_BIN = process.env.ETCD_BIN ?? '/usr/bin/etcd';
/** Path of the real etcdctl binary. */
export const ETCDCTL_BIN = process.env.ETCDCTL_BIN ?? '/usr/bin/etcdctl';
/** Path of kvd's launcher in this repository. */
export const KVD_BIN = process.env.KVD_BIN ?? join(repoRoot, 'apps/server/bin/kvd');

/** The binary that `kind` runs. */
export function serverBinary(kind: ServerKind, env: NodeJS.ProcessEnv = process.env): string {
  if (kind === 'etcd') return env.ETCD_BIN ?? '/usr/bin/etcd';
  return env.KVD_BIN ?? join(repoRoot, 'apps/server/bin/kvd');
}

/** Why `kind` cannot be started on this machine, or undefined when it can. */
export function unavailableReason(kind: ServerKind, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const bin = serverBinary(kind, env);
  if (!existsSync(bin)) return `${bin} not found`;
  if (kind === 'kvd' && env.KVD_BIN === undefined) {
    const main = join(repoRoot, 'apps/server/dist/main.js');
    if (!existsSync(main)) return `kvd is not built (${main} missing; run pnpm --filter @kv/kvd build)`;
  }
  return undefined;
}

/** The server kinds to run a suite against (etcd first), each with the reason to skip it, if any. */
export function serverKinds(): { kind: ServerKind; skip: string | undefined }[] {
  return (['etcd', 'kvd'] as const).map((kind) => ({ kind, skip: unavailableReason(kind) }));
}

// Where the server binaries are: real etcd from Debian's package, kvd from this repository.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export type ServerKind = 'kvd' | 'etcd';
export const SERVER_KINDS: readonly ServerKind[] = ['kvd', 'etcd'];

// dist/binaries.js (or src/ under vitest) → repository root is three levels up.
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));

/** The binary that `kind` runs: $ETCD_BIN / $KVD_BIN override the defaults. */
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

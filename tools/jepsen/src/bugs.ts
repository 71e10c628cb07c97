// Known bugs, fixed, that the harness can put back into the kvd processes it starts (`pnpm jepsen
// --bug <name>`), to show that it finds them. Each is a module preloaded into kvd through
// NODE_OPTIONS; kvd itself carries no switch for any of them.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const BUGS = ['read-index-collision'] as const;
export type BugName = (typeof BUGS)[number];

// The compiled preloads (kvd runs plain JavaScript): found from src/ (tests) and dist/ alike.
const preloads: Record<BugName, string> = {
  'read-index-collision': fileURLToPath(new URL('../dist/bugs/read_index_collision.js', import.meta.url)),
};

/** The environment that makes a kvd process start with `bug` put back (added to NODE_OPTIONS). */
export function bugEnv(bug: BugName, base: string | undefined = process.env.NODE_OPTIONS): Record<string, string> {
  if (!existsSync(preloads[bug])) throw new Error(`${preloads[bug]} is missing: build @kv/jepsen first (pnpm build)`);
  const preload = `--import=${JSON.stringify(preloads[bug])}`;
  return { NODE_OPTIONS: base ? `${base} ${preload}` : preload };
}

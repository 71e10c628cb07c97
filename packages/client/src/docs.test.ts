// Runs every `// example:` block of docs/client.md against a real server (kvd and etcd 3.4), so
// the page's examples stay true. A block is TypeScript-looking JavaScript: its `import` lines are
// dropped and the package's exports, `endpoints` (the server's) and `assert` are in scope.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serverKinds, startServer, type RunningServer } from '@kv/testkit';
import * as kv from './index.js';

const page = readFileSync(fileURLToPath(new URL('../../../docs/client.md', import.meta.url)), 'utf8');
const examples = [...page.matchAll(/```ts\n\/\/ example: ([^\n]+)\n([\s\S]*?)```/g)].map((m) => ({
  name: m[1]!,
  code: m[2]!
    .split('\n')
    .filter((l) => !l.startsWith('import '))
    .join('\n'),
}));

const AsyncFunction = Object.getPrototypeOf(async () => undefined).constructor as new (
  ...args: string[]
) => (...a: unknown[]) => Promise<void>;

describe('docs/client.md', () => {
  it('has examples', () => {
    expect(examples.length).toBeGreaterThanOrEqual(6);
  });
});

for (const { kind, skip } of serverKinds()) {
  describe.skipIf(skip !== undefined)(`docs/client.md examples on ${kind}`, () => {
    let server: RunningServer;
    beforeAll(async () => {
      server = await startServer(kind);
    }, 60_000);
    afterAll(async () => {
      await server?.stop();
    });
    for (const ex of examples) {
      it(ex.name, async () => {
        const names = Object.keys(kv);
        const fn = new AsyncFunction(...names, 'endpoints', 'assert', ex.code);
        await fn(...names.map((n) => (kv as Record<string, unknown>)[n]), [server.endpoint], assert);
      }, 60_000);
    }
  });
}

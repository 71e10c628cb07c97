// Runs the data-driven interaction scripts in src/testdata (REWRITE=1 rewrites expectations).

import { describe, it } from 'vitest';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runDataDrivenFile, testdataFiles } from '../testing/datadriven.js';
import { InteractionEnv, toInteractionCommand } from './interaction_env.js';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'testdata');

describe('interaction scripts', () => {
  for (const file of testdataFiles(dir)) {
    it(file.slice(dir.length + 1), () => {
      const env = new InteractionEnv();
      runDataDrivenFile(file, (d) => env.handle(toInteractionCommand(d)));
    });
  }
});

// The compatibility test: every golden script under scripts/ is run with the real etcdctl against
// a fresh real etcd (must reproduce the golden file exactly; REWRITE=1 rewrites the golden file
// from this run instead) and against a fresh kvd (must reproduce it too).
import { writeFileSync } from 'node:fs';
import { basename } from 'node:path';
import { describe, expect, it } from 'vitest';
import { etcdBin, kvdAvailability, kvdBin, serverSpec } from './config.js';
import { listScripts, loadScript, runScript, saveOutcome } from './runner.js';

const rewrite = process.env.REWRITE === '1';
const scripts = listScripts().map((f) => [basename(f), f] as const);
const timeout = 300_000;

async function check(label: string, bin: string, file: string, allowRewrite: boolean) {
  // Read at test time: with REWRITE=1 the etcd pass has just rewritten the file.
  const { script, text } = loadScript(file);
  const outcome = await runScript(script, serverSpec(label, bin));
  const saved = saveOutcome(label, outcome);
  if (allowRewrite && rewrite) {
    writeFileSync(file, outcome.rendered);
    return;
  }
  expect(outcome.rendered, `${label} output differs from the golden file; see: diff -u ${file} ${saved}`).toBe(text);
}

describe('golden scripts', () => {
  it('exist', () => {
    expect(scripts.length).toBeGreaterThan(0);
  });
});

describe('etcd reproduces the golden files', () => {
  it.each(scripts)('%s', async (_name, file) => check('etcd', etcdBin, file, true), timeout);
});

const kvd = kvdAvailability();
console.warn(kvd.available ? `[compat] kvd: ${kvd.reason}` : `[compat] kvd side skipped: ${kvd.reason}`);

describe.skipIf(!kvd.available)(`kvd reproduces the golden files`, () => {
  it.each(scripts)('%s', async (_name, file) => check('kvd', kvdBin, file, false), timeout);
});

#!/usr/bin/env node
// One-step set-up on a machine that has only Node 20 and npm: make pnpm available (Corepack's
// download fails its signature check here, so pnpm comes from the npm registry), install the
// workspace from the lockfile and build every package. Safe to run again: each step is skipped
// when already done.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pnpmVersion = JSON.parse((await import('node:fs')).readFileSync(join(root, 'package.json'), 'utf8')).packageManager.split('@')[1];

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, stdio: 'inherit', env: process.env });
  if (r.status !== 0) {
    console.error(`setup: '${cmd} ${args.join(' ')}' failed (exit ${r.status})`);
    process.exit(r.status ?? 1);
  }
}

function havePnpm() {
  try {
    return execFileSync('pnpm', ['--version'], { encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

if (havePnpm() === null) {
  console.log(`setup: installing pnpm@${pnpmVersion} from the npm registry`);
  run('npm', ['install', '--global', `pnpm@${pnpmVersion}`]);
}

// Newest mtime among the inputs of the build, to skip work that is already done.
function newest(dir) {
  let t = 0;
  if (!existsSync(dir)) return t;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules' || e.name === 'dist' || e.name.startsWith('.')) continue;
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

const installed = join(root, 'node_modules', '.modules.yaml');
if (!existsSync(installed) || statSync(installed).mtimeMs < statSync(join(root, 'pnpm-lock.yaml')).mtimeMs) {
  run('pnpm', ['install', '--frozen-lockfile']);
}
const stamp = join(root, 'apps', 'server', 'dist', 'main.js');
const sources = Math.max(newest(join(root, 'packages')), newest(join(root, 'apps')));
if (!existsSync(stamp) || statSync(stamp).mtimeMs < sources) {
  run('pnpm', ['build']);
}

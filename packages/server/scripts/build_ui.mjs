// Builds the dashboard (ui/) into dist/ui with esbuild: one minified script and one stylesheet
// (uPlot's included), both named by content hash, and index.html pointing at them. kvd reads
// these files once at start (src/dashboard/assets.ts). Prints the sizes, raw and gzipped.
import { build } from 'esbuild';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'dist', 'ui');
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: { app: 'ui/src/main.ts', style: 'ui/app.css' },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2022'],
  outdir: out,
  entryNames: '[name]-[hash]',
  metafile: true,
  legalComments: 'none',
  logLevel: 'warning',
});
const files = Object.keys(result.metafile.outputs).map((f) => basename(f));
const js = files.find((f) => f.endsWith('.js'));
const css = files.find((f) => f.endsWith('.css'));
if (!js || !css) throw new Error(`esbuild wrote ${files.join(', ')}: no script or no stylesheet`);
const html = readFileSync(join(root, 'ui', 'index.html'), 'utf8')
  .replace('{{js}}', `/ui/${js}`)
  .replace('{{css}}', `/ui/${css}`);
writeFileSync(join(out, 'index.html'), html);
for (const f of [js, css, 'index.html']) {
  const b = readFileSync(join(out, f));
  console.log(`dist/ui/${f}: ${b.length} bytes, ${gzipSync(b).length} gzipped`);
}

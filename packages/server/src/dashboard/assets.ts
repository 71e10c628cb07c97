// The dashboard's files (built by scripts/build_ui.mjs into dist/ui: index.html and
// content-hashed app-<hash>.js / app-<hash>.css), read once when the server starts and kept
// in memory; nothing is read from disk or fetched from the network per request.
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export interface Asset {
  body: string;
  contentType: string;
  /** Hashed names never change content: cached for a year; index.html is revalidated. */
  immutable: boolean;
}

/** Where the build writes the assets: packages/server/dist/ui, from src/dashboard or dist/dashboard alike. */
export const defaultAssetDir = fileURLToPath(new URL('../../dist/ui/', import.meta.url));

const types: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
};

/**
 * The assets of `dir` by request name ('' for index.html). Throws when the directory or its
 * index.html is missing (the package was not built). Invariant: only the files of `dir` with a
 * known type are ever served; no request path reaches the file system.
 */
export function loadAssets(dir: string = defaultAssetDir): Map<string, Asset> {
  const out = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const ext = name.slice(name.lastIndexOf('.'));
    const contentType = types[ext];
    if (!contentType) continue;
    const body = readFileSync(`${dir}/${name}`, 'utf8');
    out.set(name === 'index.html' ? '' : name, { body, contentType, immutable: name !== 'index.html' });
  }
  if (!out.has('')) throw new Error(`dashboard assets in ${dir} have no index.html (run the package's build)`);
  return out;
}

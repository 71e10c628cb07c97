// Key files for scripts that start the servers with --auth-token jwt (`% keys` in a script):
// made with openssl, as an operator would, into a fresh temp dir per run; `<KEYS>` in the
// script's `% server-arg` lines names that dir. Removed with the run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** The commands, in order; each writes one file of the set. */
export const KeyCommands: readonly string[][] = [
  ['genrsa', '-out', 'rsa.key', '2048'],
  ['rsa', '-in', 'rsa.key', '-pubout', '-out', 'rsa.pub'],
  ['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', 'ec.key'],
  ['ec', '-in', 'ec.key', '-pubout', '-out', 'ec.pub'],
  ['rand', '-out', 'hs.key', '32'],
];

export interface KeyDir {
  dir: string;
  remove(): void;
}

/** rsa.key/rsa.pub (RSA 2048), ec.key/ec.pub (P-256), hs.key (32 random bytes) in a new temp dir. */
export function makeKeys(openssl = process.env.OPENSSL_BIN ?? 'openssl'): KeyDir {
  const dir = mkdtempSync(join(tmpdir(), 'kv-compat-keys-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    for (const args of KeyCommands) {
      const r = spawnSync(openssl, args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      if (r.error || r.status !== 0) throw new Error(`${openssl} ${args.join(' ')} failed: ${r.error?.message ?? r.stderr}`);
    }
  } catch (err) {
    remove();
    throw err;
  }
  return { dir, remove };
}

/** A server argument with `<KEYS>` replaced by the key dir. */
export function expandKeys(arg: string, keys: KeyDir | undefined): string {
  if (!arg.includes('<KEYS>')) return arg;
  if (!keys) throw new Error(`'${arg}' names <KEYS> but the script has no '% keys' line`);
  return arg.split('<KEYS>').join(keys.dir);
}

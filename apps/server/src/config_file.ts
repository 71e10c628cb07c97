// --config-file: etcd's YAML configuration file, read as etcd 3.4 reads it (embed.ConfigFromFile
// and etcdmain's configFromFile): sigs.k8s.io/yaml turns the YAML 1.1 document into JSON, which
// encoding/json decodes into embed.Config — so keys are the json tags (matched exactly, else
// case-insensitively), unknown keys are ignored, a null leaves the default, and each value must
// have its field's JSON type (durations are integers of nanoseconds, URL lists are comma strings,
// log-outputs and cipher-suites are lists). TLS files come from the two transport-security maps.
import { readFileSync } from 'node:fs';
import { ConfigError } from '@kv/server';
import { parse as parseYaml } from 'yaml';
import type { FlagDef } from './flag_table.js';
import { parseValue, type Kind, type Value } from './goflag.js';

/** Keys of client-transport-security / peer-transport-security, and the flags they set. */
const securityKeys: Record<string, [client: string, peer: string]> = {
  'cert-file': ['cert-file', 'peer-cert-file'],
  'key-file': ['key-file', 'peer-key-file'],
  'client-cert-auth': ['client-cert-auth', 'peer-client-cert-auth'],
  'trusted-ca-file': ['trusted-ca-file', 'peer-trusted-ca-file'],
  'auto-tls': ['auto-tls', 'peer-auto-tls'],
};

export interface FileValues {
  /** Flag name → value, for the keys the file has (defaults are the caller's). */
  values: Map<string, Value>;
}

function jsonType(v: unknown): string {
  if (Array.isArray(v)) return 'array';
  if (v === null) return 'null';
  if (typeof v === 'object') return 'object';
  return typeof v === 'boolean' ? 'bool' : typeof v;
}

function goType(kind: Kind, name: string): string {
  if (typeof kind === 'object') return 'oneOf' in kind ? 'string' : 'string';
  if (kind === 'duration') return 'time.Duration';
  if (kind === 'strings' || kind === 'uniqueStrings') return name === 'host-whitelist' ? 'string' : '[]string';
  if (kind === 'ignored') return 'string';
  return kind;
}

/** encoding/json's error for a value of the wrong type. */
function typeError(key: string, v: unknown, kind: Kind, name: string): ConfigError {
  const shown = typeof v === 'number' ? `number ${v}` : jsonType(v);
  return new ConfigError(
    `error unmarshaling JSON: json: cannot unmarshal ${shown} into Go struct field configYAML.${key} of type ${goType(kind, name)}`,
  );
}

const intRange: Record<string, [bigint, bigint]> = {
  uint: [0n, (1n << 64n) - 1n],
  uint64: [0n, (1n << 64n) - 1n],
  uint32: [0n, (1n << 32n) - 1n],
  int: [-(1n << 63n), (1n << 63n) - 1n],
  int64: [-(1n << 63n), (1n << 63n) - 1n],
};

/** One file value as encoding/json would decode it into the flag's field, then as etcd uses it. */
function decode(def: FlagDef, key: string, v: unknown): Value | undefined {
  const { kind, name } = def;
  if (v === null || v === undefined) return undefined;
  const gt = goType(kind, name);
  if (gt === 'string') {
    if (typeof v !== 'string') throw typeError(key, v, kind, name);
    if (typeof kind === 'object' && 'urls' in kind) {
      if (v === '') return undefined; // etcd: `if cfg.LPUrlsJSON != ""`
      try {
        return parseValue(kind, v);
      } catch (e) {
        throw new ConfigError(`unexpected error setting up ${name}: ${(e as Error).message}`);
      }
    }
    if (typeof kind === 'object' && 'oneOf' in kind) {
      if (v === '') return undefined;
      if (!kind.oneOf.includes(v)) throw new ConfigError(`unexpected error setting up ${name}: invalid value ${JSON.stringify(v)}`);
      return v;
    }
    if (kind === 'uniqueStrings') return v === '' ? undefined : parseValue(kind, v);
    return v;
  }
  if (gt === 'bool') {
    if (typeof v !== 'boolean') throw typeError(key, v, kind, name);
    return v;
  }
  if (gt === '[]string') {
    if (!Array.isArray(v)) throw typeError(key, v, kind, name);
    for (const x of v) if (typeof x !== 'string') throw typeError(`${key}`, x, 'string', name);
    return v as string[];
  }
  // Integers, and durations (integer nanoseconds).
  if (typeof v !== 'number' || !Number.isInteger(v)) throw typeError(key, v, kind, name);
  if (kind === 'duration') return v / 1e6;
  const [lo, hi] = intRange[kind as string];
  if (BigInt(v) < lo || BigInt(v) > hi) throw typeError(key, v, kind, name);
  return v;
}

/**
 * Reads `path` into values for the flags of `defs`. Errors are etcd's where it has them: the
 * file's open error, the YAML error, encoding/json's type errors.
 */
export function readConfigFile(path: string, defs: FlagDef[], read: (p: string) => string = (p) => readFileSync(p, 'utf8')): FileValues {
  let text: string;
  try {
    text = read(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    throw new ConfigError(err.code === 'ENOENT' ? `open ${path}: no such file or directory` : `open ${path}: ${err.message}`);
  }
  let doc: unknown;
  try {
    // go-yaml v2 (under sigs.k8s.io/yaml) is YAML 1.1: yes/no/on/off are booleans there too.
    doc = parseYaml(text, { version: '1.1', uniqueKeys: false });
  } catch (e) {
    throw new ConfigError(`error converting YAML to JSON: ${(e as Error).message.split('\n')[0]}`);
  }
  const values = new Map<string, Value>();
  if (doc === null || doc === undefined) return { values };
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new ConfigError(`error unmarshaling JSON: json: cannot unmarshal ${jsonType(doc)} into Go value of type embed.configYAML`);
  }
  const exact = new Map<string, FlagDef>();
  const folded = new Map<string, FlagDef>();
  for (const d of defs) {
    if (d.yaml === null) continue;
    const key = d.yaml ?? d.name;
    exact.set(key, d);
    folded.set(key.toLowerCase(), d);
  }
  const bySecurity = (side: 0 | 1, sec: unknown, key: string) => {
    if (sec === null || sec === undefined) return;
    if (typeof sec !== 'object' || Array.isArray(sec)) {
      throw new ConfigError(
        `error unmarshaling JSON: json: cannot unmarshal ${jsonType(sec)} into Go struct field configYAML.${key} of type embed.securityConfig`,
      );
    }
    for (const [k, v] of Object.entries(sec as Record<string, unknown>)) {
      const match = securityKeys[k] ?? Object.entries(securityKeys).find(([sk]) => sk === k.toLowerCase())?.[1];
      if (!match) continue;
      const def = defs.find((d) => d.name === match[side]);
      if (!def) continue;
      const val = decode(def, `${key}.${k}`, v);
      if (val !== undefined) values.set(def.name, val);
    }
  };
  for (const [k, v] of Object.entries(doc as Record<string, unknown>)) {
    const lower = k.toLowerCase();
    if (lower === 'client-transport-security') {
      bySecurity(0, v, k);
      continue;
    }
    if (lower === 'peer-transport-security') {
      bySecurity(1, v, k);
      continue;
    }
    const def = exact.get(k) ?? folded.get(lower);
    if (!def) continue; // encoding/json ignores unknown keys; so does etcd
    const val = decode(def, k, v);
    if (val !== undefined) values.set(def.name, val);
  }
  return { values };
}

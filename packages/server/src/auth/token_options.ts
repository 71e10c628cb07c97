// --auth-token, parsed as etcd 3.4 parses it (auth/store.go decomposeOpts, auth/options.go):
//   simple | jwt,pub-key=<file>,priv-key=<file>,sign-method=<alg>[,ttl=<Go duration>] | '' (none)
// Options are `name=value` pairs split at ',' and '='; a pair without exactly one '=' or a
// repeated name is refused; unknown jwt option names are only warned about (etcd). ttl defaults
// to 5m. Key files are read here, once, at start: a missing file, a key of the wrong kind, a
// public key that is not the private key's, or an unknown sign-method stops kvd before it serves,
// with a message naming the problem (etcd stops too, mostly with a bare "auth: invalid auth
// options"). The keys themselves are checked by auth/jwt.ts (jwtKeys).
import { readFileSync } from 'node:fs';
import { ConfigError, parseDuration } from '../config.js';
import { jwtKeys } from './jwt.js';

/** etcd 3.4's sign methods (golang-jwt v3 registers EdDSA and none too, but etcd's Key() refuses them). */
export const JwtSignMethods = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'HS256',
  'HS384',
  'HS512',
] as const;
export type JwtSignMethod = (typeof JwtSignMethods)[number];

/** etcd's jwt DefaultTTL. */
export const DefaultJwtTtlMs = 5 * 60_000;

export interface JwtTokenConfig {
  type: 'jwt';
  signMethod: JwtSignMethod;
  ttlMs: number;
  /** The PEM (RS/PS/ES) of pub-key, when given. */
  publicKey?: Buffer;
  /** The PEM (RS/PS/ES) or the shared secret's bytes (HS) of priv-key, when given. */
  privateKey?: Buffer;
  /** Option names etcd does not know (warned about at start). */
  unknownOptions: string[];
}

export type AuthTokenConfig = { type: 'simple' } | { type: 'none' } | JwtTokenConfig;

function invalid(option: string, why: string): ConfigError {
  return new ConfigError(`--auth-token=${option}: auth: invalid auth options: ${why}`);
}

/** etcd's decomposeOpts: the token type and its name=value options. */
export function decomposeTokenOptions(option: string): { type: string; options: Map<string, string> } {
  const parts = option.split(',');
  const options = new Map<string, string>();
  for (const p of parts.slice(1)) {
    const pair = p.split('=');
    if (pair.length !== 2) throw invalid(option, `option ${JSON.stringify(p)} is not name=value`);
    if (options.has(pair[0])) throw invalid(option, `option ${JSON.stringify(pair[0])} is given twice`);
    options.set(pair[0], pair[1]);
  }
  return { type: parts[0], options };
}

const knownJwtOptions = new Set(['sign-method', 'pub-key', 'priv-key', 'ttl']);

/**
 * The --auth-token value as a configuration, with its key files read (`readFile`) and its keys
 * checked; throws ConfigError naming the problem.
 */
export function loadAuthTokenConfig(option: string, readFile: (path: string) => Buffer = readFileSync): AuthTokenConfig {
  const { type, options } = decomposeTokenOptions(option);
  if (type === 'simple') return { type: 'simple' };
  if (type === '') return { type: 'none' };
  if (type !== 'jwt') throw invalid(option, `unknown token type ${JSON.stringify(type)} (want simple or jwt)`);

  let ttlMs = DefaultJwtTtlMs;
  const ttl = options.get('ttl') ?? '';
  if (ttl !== '') {
    const ms = parseDuration(ttl);
    if (ms === undefined) throw invalid(option, `ttl ${JSON.stringify(ttl)} is not a duration (such as 5m or 30s)`);
    // etcd takes 0 (every token born expired); kvd refuses it.
    if (ms < 1000) throw invalid(option, `ttl ${JSON.stringify(ttl)} is shorter than 1s`);
    ttlMs = ms;
  }
  const read = (name: 'pub-key' | 'priv-key'): Buffer | undefined => {
    const file = options.get(name) ?? '';
    if (file === '') return undefined;
    try {
      return readFile(file);
    } catch (err) {
      throw invalid(option, `cannot read ${name} ${file}: ${(err as Error).message}`);
    }
  };
  const publicKey = read('pub-key');
  const privateKey = read('priv-key');
  const method = options.get('sign-method') ?? '';
  if (method === 'EdDSA' || method === 'none') {
    throw new ConfigError(
      `--auth-token=${option}: unsupported signing method ${method} (etcd 3.4 signs with ${JwtSignMethods.join(', ')})`,
    );
  }
  if (!(JwtSignMethods as readonly string[]).includes(method)) {
    throw invalid(
      option,
      `auth: invalid auth signature method: sign-method ${method === '' ? 'is missing' : JSON.stringify(method) + ' is unknown'} (want one of ${JwtSignMethods.join(', ')})`,
    );
  }
  const config: JwtTokenConfig = {
    type: 'jwt',
    signMethod: method as JwtSignMethod,
    ttlMs,
    publicKey,
    privateKey,
    unknownOptions: [...options.keys()].filter((k) => !knownJwtOptions.has(k)),
  };
  try {
    jwtKeys(config);
  } catch (err) {
    throw new ConfigError(`--auth-token=${option}: ${(err as Error).message}`);
  }
  return config;
}

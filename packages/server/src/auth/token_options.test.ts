// --auth-token parsing as etcd 3.4 (decomposeOpts, jwtOptions): token types, option syntax,
// defaults, and every way a jwt configuration is refused at start with a message naming why.
import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../config.js';
import { DefaultJwtTtlMs, decomposeTokenOptions, loadAuthTokenConfig } from './token_options.js';

const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
const rsa2 = generateKeyPairSync('rsa', { modulusLength: 2048 });
const ec = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
const ec384 = generateKeyPairSync('ec', { namedCurve: 'secp384r1' });
const small = generateKeyPairSync('rsa', { modulusLength: 1024 });
const files: Record<string, Buffer> = {
  // What openssl writes: genrsa (PKCS#8 in OpenSSL 3, PKCS#1 before), ecparam -genkey (SEC1), -pubout (SPKI).
  'rsa.key': Buffer.from(rsa.privateKey.export({ type: 'pkcs8', format: 'pem' })),
  'rsa1.key': Buffer.from(rsa.privateKey.export({ type: 'pkcs1', format: 'pem' })),
  'rsa.pub': Buffer.from(rsa.publicKey.export({ type: 'spki', format: 'pem' })),
  'rsa1.pub': Buffer.from(rsa.publicKey.export({ type: 'pkcs1', format: 'pem' })),
  'rsa2.pub': Buffer.from(rsa2.publicKey.export({ type: 'spki', format: 'pem' })),
  'ec.key': Buffer.from(ec.privateKey.export({ type: 'sec1', format: 'pem' })),
  'ec.pub': Buffer.from(ec.publicKey.export({ type: 'spki', format: 'pem' })),
  'ec384.key': Buffer.from(ec384.privateKey.export({ type: 'pkcs8', format: 'pem' })),
  'small.key': Buffer.from(small.privateKey.export({ type: 'pkcs8', format: 'pem' })),
  secret: Buffer.from('a shared secret\n'),
  empty: Buffer.alloc(0),
  junk: Buffer.from('not a key'),
};
const readFile = (p: string): Buffer => {
  const b = files[p];
  if (!b) throw new Error(`ENOENT: no such file or directory, open '${p}'`);
  return b;
};
const load = (s: string) => loadAuthTokenConfig(s, readFile);

describe('decomposeTokenOptions', () => {
  it('splits the type and name=value options at , and = (etcd decomposeOpts)', () => {
    expect(decomposeTokenOptions('jwt,a=1,b=')).toEqual({
      type: 'jwt',
      options: new Map([
        ['a', '1'],
        ['b', ''],
      ]),
    });
    expect(decomposeTokenOptions('simple')).toEqual({ type: 'simple', options: new Map() });
    expect(() => decomposeTokenOptions('jwt,priv-key')).toThrow(/option "priv-key" is not name=value/);
    expect(() => decomposeTokenOptions('jwt,a=b=c')).toThrow(/option "a=b=c" is not name=value/);
    expect(() => decomposeTokenOptions('jwt,a=1,a=2')).toThrow(/option "a" is given twice/);
  });
});

describe('loadAuthTokenConfig', () => {
  it('simple (options ignored, as etcd), empty = none, anything else refused', () => {
    expect(load('simple')).toEqual({ type: 'simple' });
    expect(load('simple,x=y')).toEqual({ type: 'simple' });
    expect(load('')).toEqual({ type: 'none' });
    expect(() => load('bogus')).toThrow(ConfigError);
    expect(() => load('bogus')).toThrow('--auth-token=bogus: auth: invalid auth options: unknown token type "bogus" (want simple or jwt)');
  });

  it('jwt: ttl defaults to 5m, takes Go durations, unknown option names are listed for a warning', () => {
    const c = load('jwt,priv-key=rsa.key,sign-method=RS256,colour=blue');
    expect(c).toMatchObject({ type: 'jwt', signMethod: 'RS256', ttlMs: DefaultJwtTtlMs, unknownOptions: ['colour'] });
    expect(DefaultJwtTtlMs).toBe(300_000);
    expect(load('jwt,priv-key=rsa.key,sign-method=RS256,ttl=1h30m')).toMatchObject({ ttlMs: 5_400_000 });
    expect(load('jwt,priv-key=rsa.key,sign-method=RS256,ttl=')).toMatchObject({ ttlMs: DefaultJwtTtlMs });
    expect(() => load('jwt,priv-key=rsa.key,sign-method=RS256,ttl=abc')).toThrow(/ttl "abc" is not a duration/);
    expect(() => load('jwt,priv-key=rsa.key,sign-method=RS256,ttl=0')).toThrow(/ttl "0" is shorter than 1s/);
  });

  it('jwt: the sign-method is required and must be one etcd 3.4 signs with', () => {
    expect(() => load('jwt')).toThrow(/invalid auth signature method: sign-method is missing/);
    expect(() => load('jwt,priv-key=rsa.key,sign-method=XX256')).toThrow(/sign-method "XX256" is unknown \(want one of RS256, RS384/);
    expect(() => load('jwt,priv-key=rsa.key,sign-method=rs256')).toThrow(/sign-method "rs256" is unknown/);
    expect(() => load('jwt,priv-key=rsa.key,sign-method=EdDSA')).toThrow(/unsupported signing method EdDSA/);
    expect(() => load('jwt,priv-key=rsa.key,sign-method=none')).toThrow(/unsupported signing method none/);
  });

  it('jwt: key files are read at start; a missing one names the file', () => {
    expect(() => load('jwt,priv-key=nope.key,sign-method=RS256')).toThrow(/cannot read priv-key nope.key: ENOENT/);
    expect(() => load('jwt,pub-key=nope.pub,sign-method=ES256')).toThrow(/cannot read pub-key nope.pub: ENOENT/);
    expect(() => load('jwt,sign-method=RS256')).toThrow(/auth: missing key data/);
    expect(() => load('jwt,sign-method=RS256,priv-key=empty')).toThrow(/auth: missing key data/);
  });

  it('jwt: RSA and EC keys in the formats openssl writes; only pub-key = verify-only', () => {
    for (const s of [
      'jwt,priv-key=rsa.key,sign-method=RS256',
      'jwt,priv-key=rsa1.key,pub-key=rsa1.pub,sign-method=PS384',
      'jwt,pub-key=rsa.pub,sign-method=RS512',
    ]) {
      expect(() => load(s)).not.toThrow();
    }
    expect(load('jwt,priv-key=ec.key,pub-key=ec.pub,sign-method=ES256')).toMatchObject({ signMethod: 'ES256' });
    expect(load('jwt,pub-key=ec.pub,sign-method=ES256')).toMatchObject({ privateKey: undefined });
  });

  it('jwt: refuses keys of the wrong kind, curve or size, junk, and a public key that is not the private key’s', () => {
    expect(() => load('jwt,priv-key=ec.key,sign-method=RS256')).toThrow(/priv-key is a ec key; RS256 needs an RSA key/);
    expect(() => load('jwt,priv-key=rsa.key,sign-method=ES256')).toThrow(/priv-key is a rsa key; ES256 needs an EC key/);
    expect(() => load('jwt,priv-key=ec384.key,sign-method=ES256')).toThrow(/priv-key is on curve secp384r1; ES256 needs prime256v1/);
    expect(() => load('jwt,priv-key=small.key,sign-method=RS256')).toThrow(/1024-bit RSA key; RS256 needs 2048 bits or more/);
    expect(() => load('jwt,priv-key=junk,sign-method=RS256')).toThrow(/priv-key is not a PEM private key/);
    expect(() => load('jwt,pub-key=junk,sign-method=ES256')).toThrow(/pub-key is not a PEM public key/);
    expect(() => load('jwt,priv-key=rsa.key,pub-key=rsa2.pub,sign-method=RS256')).toThrow("auth: public and private keys don't match");
  });

  it('jwt HS*: the secret is the priv-key file, as it is; pub-key alone is not enough', () => {
    expect(load('jwt,priv-key=secret,sign-method=HS256')).toMatchObject({ privateKey: files['secret'] });
    expect(() => load('jwt,pub-key=secret,sign-method=HS384')).toThrow(/auth: missing key data: HMAC methods need priv-key/);
  });
});

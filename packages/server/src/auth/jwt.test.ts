// The JWT provider: every sign-method family signs tokens that it (and a verify-only member with
// the public key) accepts, with etcd's claims; expiry follows the injected clock; a tampered,
// foreign-key, other-method or claim-less token is refused.
import { generateKeyPairSync, type KeyPairKeyObjectResult, randomBytes } from 'node:crypto';
import { decodeJwt, decodeProtectedHeader, SignJWT } from 'jose';
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../testutil/manual_clock.js';
import { JwtTokens, VerifyOnlyError } from './jwt.js';
import type { JwtSignMethod, JwtTokenConfig } from './token_options.js';

type Pair = { privateKey: Buffer; publicKey: Buffer };
const pem = (k: KeyPairKeyObjectResult): Pair => ({
  privateKey: Buffer.from(k.privateKey.export({ type: 'pkcs8', format: 'pem' })),
  publicKey: Buffer.from(k.publicKey.export({ type: 'spki', format: 'pem' })),
});
const rsa = pem(generateKeyPairSync('rsa', { modulusLength: 2048 }));
const otherRsa = pem(generateKeyPairSync('rsa', { modulusLength: 2048 }));
const ec = (namedCurve: string) => pem(generateKeyPairSync('ec', { namedCurve }));
const keysFor: Record<string, Pair> = {
  RS: rsa,
  PS: rsa,
  ES256: ec('prime256v1'),
  ES384: ec('secp384r1'),
  ES512: ec('secp521r1'),
};
const secret = randomBytes(32);

function config(signMethod: JwtSignMethod, keys: Partial<Pair>, ttlMs = 60_000): JwtTokenConfig {
  return { type: 'jwt', signMethod, ttlMs, unknownOptions: [], ...keys };
}

function keysOf(method: JwtSignMethod): Partial<Pair> {
  if (method.startsWith('HS')) return { privateKey: secret };
  return keysFor[method] ?? keysFor[method.slice(0, 2)]!;
}

/** Resolves a token as a call does: prepare (the gate), then info. */
async function resolve(p: JwtTokens, token: string) {
  await p.prepare(token);
  return p.info(token);
}

describe('JwtTokens', () => {
  const methods: JwtSignMethod[] = [
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
  ];
  it.each(methods)('%s: signs etcd claims {exp, revision, username} and verifies them', async (method) => {
    const clock = new ManualClock();
    const p = new JwtTokens(config(method, keysOf(method)), clock);
    expect(p.verifyOnly).toBe(false);
    expect(p.genPrefix()).toBe('');
    const token = await p.issue({ username: 'alice', revision: 7n });
    expect(decodeProtectedHeader(token)).toEqual({ alg: method, typ: 'JWT' });
    const claims = decodeJwt(token);
    expect(Object.keys(claims)).toEqual(['exp', 'revision', 'username']);
    expect(claims).toEqual({ exp: Math.floor((clock.wallNow() + 60_000) / 1000), revision: 7, username: 'alice' });
    expect(await resolve(p, token)).toEqual({ username: 'alice', revision: 7n });
  });

  it.each(['RS256', 'PS512', 'ES256', 'ES512'] as JwtSignMethod[])(
    '%s: a member with only the public key verifies and cannot sign',
    async (method) => {
      const clock = new ManualClock();
      const signer = new JwtTokens(config(method, keysOf(method)), clock);
      const verifier = new JwtTokens(config(method, { publicKey: keysOf(method).publicKey }), clock);
      expect(verifier.verifyOnly).toBe(true);
      const token = await signer.issue({ username: 'bob', revision: 3n });
      expect(await resolve(verifier, token)).toEqual({ username: 'bob', revision: 3n });
      await expect(verifier.issue({ username: 'bob', revision: 3n })).rejects.toBeInstanceOf(VerifyOnlyError);
      await expect(verifier.issue({ username: 'bob', revision: 3n })).rejects.toThrow('auth: token signing attempted with verify-only key');
    },
  );

  it('a token lives until its exp by the injected clock, also once verified and cached', async () => {
    const clock = new ManualClock();
    const p = new JwtTokens(config('ES256', keysOf('ES256'), 10_000), clock);
    const token = await p.issue({ username: 'alice', revision: 2n });
    expect(await resolve(p, token)).toEqual({ username: 'alice', revision: 2n });
    await clock.advance(9_000);
    expect(p.info(token)).toEqual({ username: 'alice', revision: 2n }); // cached
    await clock.advance(1_000);
    expect(p.info(token)).toBeUndefined(); // exp reached
    // Not let back in by verifying again: jose checks exp against the same clock.
    expect(await resolve(p, token)).toBeUndefined();
    // A fresh member (empty cache) refuses it as well.
    expect(await resolve(new JwtTokens(config('ES256', keysOf('ES256'), 10_000), clock), token)).toBeUndefined();
  });

  it('refuses a tampered payload or signature, a foreign key, another method, garbage, and missing or mistyped claims', async () => {
    const clock = new ManualClock();
    const p = new JwtTokens(config('RS256', rsa), clock);
    const token = await p.issue({ username: 'alice', revision: 2n });
    const [h, payload, sig] = token.split('.');
    const forged = Buffer.from(JSON.stringify({ ...decodeJwt(token), username: 'root' })).toString('base64url');
    expect(await resolve(p, `${h}.${forged}.${sig}`)).toBeUndefined();
    const flipped = sig!.slice(0, 10) + (sig![10] === 'A' ? 'B' : 'A') + sig!.slice(11);
    expect(await resolve(p, `${h}.${payload}.${flipped}`)).toBeUndefined();
    // Signed by another RSA key.
    const foreign = await new JwtTokens(config('RS256', otherRsa), clock).issue({ username: 'alice', revision: 2n });
    expect(await resolve(p, foreign)).toBeUndefined();
    // Same key, another method (RS512): only the configured method is accepted, as etcd.
    const rs512 = await new JwtTokens(config('RS512', rsa), clock).issue({ username: 'alice', revision: 2n });
    expect(await resolve(p, rs512)).toBeUndefined();
    // The classic confusion: HS256 keyed with the RSA public key's PEM.
    const confused = await new SignJWT({ exp: 2e9, revision: 2, username: 'root' })
      .setProtectedHeader({ alg: 'HS256' })
      .sign(new Uint8Array(rsa.publicKey));
    expect(await resolve(p, confused)).toBeUndefined();
    for (const junk of ['', 'a.b.c', 'not a token', 'prefixprefixpref.12']) expect(await resolve(p, junk)).toBeUndefined();
    // Well signed, but without exp (etcd would take it forever), or with claims of the wrong type.
    const hs = new JwtTokens(config('HS256', { privateKey: secret }), clock);
    const signed = (claims: Record<string, unknown>) =>
      new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).sign(new Uint8Array(secret));
    const exp = Math.floor(clock.wallNow() / 1000) + 60;
    expect(await resolve(hs, await signed({ exp, revision: 1, username: 'u' }))).toEqual({ username: 'u', revision: 1n });
    expect(await resolve(hs, await signed({ revision: 1, username: 'u' }))).toBeUndefined();
    expect(await resolve(hs, await signed({ exp, revision: '1', username: 'u' }))).toBeUndefined();
    expect(await resolve(hs, await signed({ exp, revision: -1, username: 'u' }))).toBeUndefined();
    expect(await resolve(hs, await signed({ exp, revision: 1, username: 5 }))).toBeUndefined();
    expect(await resolve(hs, await signed({ exp, revision: 1 }))).toBeUndefined();
  });

  it('info answers only for tokens that went through prepare; invalidateUser and clear only empty the cache', async () => {
    const clock = new ManualClock();
    const p = new JwtTokens(config('HS512', { privateKey: secret }), clock);
    const token = await p.issue({ username: 'alice', revision: 4n });
    expect(p.info(token)).toBeUndefined(); // not verified yet
    expect(p.prepare(token)).toBeInstanceOf(Promise);
    await p.prepare(token);
    expect(p.prepare(token)).toBeUndefined(); // verified: nothing to wait for
    p.invalidateUser('alice');
    expect(p.info(token)).toBeUndefined();
    // Still a valid token: it verifies again (a deleted user's JWT is refused by its old revision).
    expect(await resolve(p, token)).toEqual({ username: 'alice', revision: 4n });
    p.clear();
    expect(p.info(token)).toBeUndefined();
    expect(p.ahead()).toBe(false);
  });
});

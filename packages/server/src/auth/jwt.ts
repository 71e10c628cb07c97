// JWT tokens (etcd's auth/jwt.go, --auth-token jwt,...), signed and verified with `jose`.
// A token is a JWS over etcd's claims {"exp", "revision", "username"} (exp in Unix seconds,
// revision = the auth revision when the Authenticate applied), header {"alg", "typ": "JWT"}.
// Any member holding the key verifies it, without replication; its revision makes it stop
// working at the first change of users, roles or permissions (the permission check refuses an
// old revision: etcdserver: revision of auth store is old; clients authenticate again).
//
// Verifying is asynchronous (jose); the identity of a call is asked for synchronously all over
// the services. So a call's token is verified before its handler runs (prepare, from the call
// gate services/auth_gate.ts) and the verified claims are kept until exp in a bounded cache that
// `info` reads. Invariants: only tokens whose signature and claims checked out enter the cache;
// `info` never answers for a token past its exp by the injected clock.
//
// Where kvd is stricter than etcd 3.4: exp is required (etcd accepts a token without one
// forever); claims of the wrong type are refused (etcd panics); the key pair must match (etcd's
// check is inverted and passes mismatched pairs); RSA keys need 2048 bits (jose's floor) and an
// ES key the curve of its method (etcd fails later, at the first sign).
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { Clock } from '../world/clock.js';
import type { AuthInfo } from './store.js';
import type { TokenGrant, TokenProvider } from './token_provider.js';
import type { JwtSignMethod, JwtTokenConfig } from './token_options.js';

export interface JwtKeys {
  /** The private key (RS/PS/ES) or the secret (HS); absent on a verify-only member. */
  sign?: KeyObject | Uint8Array;
  verify: KeyObject | Uint8Array;
}

const curveOf: Record<string, string> = { ES256: 'prime256v1', ES384: 'secp384r1', ES512: 'secp521r1' };

function keyKind(method: JwtSignMethod): 'rsa' | 'ec' | 'hmac' {
  return method.startsWith('HS') ? 'hmac' : method.startsWith('ES') ? 'ec' : 'rsa';
}

function parseKey(pem: Buffer, which: 'pub-key' | 'priv-key'): KeyObject {
  try {
    return which === 'priv-key' ? createPrivateKey({ key: pem, format: 'pem' }) : createPublicKey({ key: pem, format: 'pem' });
  } catch (err) {
    throw new Error(`${which} is not a PEM ${which === 'priv-key' ? 'private' : 'public'} key (${(err as Error).message})`);
  }
}

function checkKind(k: KeyObject, method: JwtSignMethod, which: string): void {
  const t = k.asymmetricKeyType;
  if (keyKind(method) === 'rsa') {
    if (t !== 'rsa' && !(t === 'rsa-pss' && method.startsWith('PS'))) throw new Error(`${which} is a ${t} key; ${method} needs an RSA key`);
    const bits = k.asymmetricKeyDetails?.modulusLength ?? 0;
    if (bits < 2048) throw new Error(`${which} is a ${bits}-bit RSA key; ${method} needs 2048 bits or more`);
  } else {
    if (t !== 'ec') throw new Error(`${which} is a ${t} key; ${method} needs an EC key`);
    const curve = k.asymmetricKeyDetails?.namedCurve;
    if (curve !== curveOf[method]) throw new Error(`${which} is on curve ${curve}; ${method} needs ${curveOf[method]}`);
  }
}

/** The keys of a jwt configuration, checked; throws an Error saying what is wrong. */
export function jwtKeys(c: JwtTokenConfig): JwtKeys {
  if (keyKind(c.signMethod) === 'hmac') {
    // etcd: the shared secret is the priv-key file's bytes, as they are; pub-key is not used.
    if (!c.privateKey || c.privateKey.length === 0)
      throw new Error('auth: missing key data: HMAC methods need priv-key (the shared secret)');
    const secret = new Uint8Array(c.privateKey);
    return { sign: secret, verify: secret };
  }
  const priv = c.privateKey && c.privateKey.length > 0 ? parseKey(c.privateKey, 'priv-key') : undefined;
  const pub = c.publicKey && c.publicKey.length > 0 ? parseKey(c.publicKey, 'pub-key') : undefined;
  if (!priv && !pub) throw new Error('auth: missing key data: give priv-key, pub-key or both');
  if (priv) checkKind(priv, c.signMethod, 'priv-key');
  if (pub) checkKind(pub, c.signMethod, 'pub-key');
  if (priv && pub) {
    const derived = createPublicKey(priv).export({ type: 'spki', format: 'der' });
    if (!derived.equals(pub.export({ type: 'spki', format: 'der' }))) throw new Error("auth: public and private keys don't match");
  }
  // Public key only: this member verifies tokens and cannot issue any (etcd's verifyOnly).
  return priv ? { sign: priv, verify: createPublicKey(priv) } : { verify: pub! };
}

/** etcd's ErrVerifyOnly; etcd sends it as gRPC UNKNOWN with this text. */
export class VerifyOnlyError extends Error {
  override readonly name = 'VerifyOnlyError';
  readonly code = 2;
  constructor() {
    super('auth: token signing attempted with verify-only key');
  }
}

interface Verified {
  username: string;
  revision: bigint;
  /** exp, in ms of the wall clock. */
  expiresAt: number;
}

/** Verified tokens kept at most (least recently used go first; an evicted token is verified again at its next call). */
export const JwtCacheSize = 4096;

export class JwtTokens implements TokenProvider {
  readonly type = 'jwt';
  readonly verifyOnly: boolean;
  private readonly keys: JwtKeys;
  /** token → verified claims; Map order = least recently used first. */
  private readonly verified = new Map<string, Verified>();

  constructor(
    private readonly config: JwtTokenConfig,
    private readonly clock: Clock,
  ) {
    this.keys = jwtKeys(config);
    this.verifyOnly = this.keys.sign === undefined;
  }

  genPrefix(): string {
    return '';
  }

  /** The token is signed after the apply, by the proposer (issue). */
  assign(): string {
    return '';
  }

  async issue(grant: TokenGrant): Promise<string> {
    if (!this.keys.sign) throw new VerifyOnlyError();
    const exp = Math.floor((this.clock.wallNow() + this.config.ttlMs) / 1000);
    // etcd's claims, in the order Go's encoding/json writes a map (sorted).
    return new SignJWT({ exp, revision: Number(grant.revision), username: grant.username })
      .setProtectedHeader({ alg: this.config.signMethod, typ: 'JWT' })
      .sign(this.keys.sign);
  }

  prepare(token: string): Promise<void> | undefined {
    if (this.lookup(token)) return undefined;
    return this.verify(token).then(
      (v) => {
        if (!v) return;
        this.verified.set(token, v);
        if (this.verified.size > JwtCacheSize) this.verified.delete(this.verified.keys().next().value!);
      },
      () => undefined,
    );
  }

  info(token: string): AuthInfo | undefined {
    const v = this.lookup(token);
    return v && { username: v.username, revision: v.revision };
  }

  ahead(): boolean {
    return false;
  }

  invalidateUser(user: string): void {
    for (const [t, v] of this.verified) if (v.username === user) this.verified.delete(t);
  }

  retain(keep: (user: string) => boolean): void {
    for (const [t, v] of this.verified) if (!keep(v.username)) this.verified.delete(t);
  }

  clear(): void {
    this.verified.clear();
  }

  /** The verified claims of a cached, unexpired token (refreshing its place in the cache). */
  private lookup(token: string): Verified | undefined {
    const v = this.verified.get(token);
    if (!v) return undefined;
    this.verified.delete(token);
    if (this.clock.wallNow() >= v.expiresAt) return undefined;
    this.verified.set(token, v);
    return v;
  }

  /** Signature (with this member's key, in the configured method only), exp and claim types. */
  private async verify(token: string): Promise<Verified | undefined> {
    const { payload } = await jwtVerify(token, this.keys.verify, {
      algorithms: [this.config.signMethod],
      currentDate: new Date(this.clock.wallNow()),
      requiredClaims: ['exp'],
    });
    const { username, revision, exp } = payload as { username?: unknown; revision?: unknown; exp?: unknown };
    if (typeof username !== 'string' || typeof exp !== 'number') return undefined;
    if (typeof revision !== 'number' || !Number.isSafeInteger(revision) || revision < 0) return undefined;
    return { username, revision: BigInt(revision), expiresAt: exp * 1000 };
  }
}

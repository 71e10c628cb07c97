// Simple tokens (etcd's auth/simple_token.go, --auth-token simple): the API layer that takes an
// Authenticate draws a random 16-letter prefix; the token is `<prefix>.<raft index>` and is
// assigned to the user while the entry is applied, so every member knows every token. A token
// lives --auth-token-ttl seconds from its last use (renewed on every use, as etcd's TTL keeper).
//
// Invariants: tokens live in memory only (not replicated state: a restarted member forgets them,
// as etcd's do); a deleted user's tokens and every token after AuthDisable are gone at once.
import type { Clock, Random } from '../world/clock.js';
import { RpcError } from '../errors.js';
import type { AuthInfo } from './store.js';
import type { TokenGrant, TokenProvider } from './token_provider.js';

const Letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const SimpleTokenPrefixLength = 16;
export const DefaultTokenTtlMs = 300_000;

interface Entry {
  user: string;
  expiresAt: number;
}

export class SimpleTokens implements TokenProvider {
  readonly type = 'simple';
  readonly verifyOnly = false;
  private readonly tokens = new Map<string, Entry>();
  private nextSweep = 0;

  constructor(
    private readonly clock: Clock,
    private readonly random: Random,
    private readonly ttlMs: number = DefaultTokenTtlMs,
  ) {}

  /** A fresh random prefix (etcd's genTokenPrefix); crypto-grade in kvd (realRandom). */
  genPrefix(): string {
    const b = this.random.bytes(SimpleTokenPrefixLength);
    let s = '';
    for (const x of b) s += Letters[x % Letters.length];
    return s;
  }

  /** Applied Authenticate: `<prefix>.<index>` now names the grant's user. */
  assign(prefix: string, index: bigint, grant: TokenGrant): string {
    // An entry proposed without a prefix (by a member with another provider) names no token.
    if (prefix === '') throw new RpcError('AuthFailed');
    const token = `${prefix}.${index}`;
    const now = this.clock.now();
    this.sweep(now);
    this.tokens.set(token, { user: grant.username, expiresAt: now + this.ttlMs });
    return token;
  }

  /** Never needed: assign made the token. */
  async issue(): Promise<string> {
    throw new RpcError('AuthFailed');
  }

  prepare(): undefined {
    return undefined;
  }

  /** The user of a live token, at the store's current auth revision (renewing it). */
  info(token: string, revision: bigint): AuthInfo | undefined {
    const user = this.user(token);
    return user === undefined ? undefined : { username: user, revision };
  }

  /** A token of an Authenticate this member has not applied yet (etcd's isValidSimpleToken waits for it). */
  ahead(token: string, applied: bigint): boolean {
    if (this.user(token) !== undefined) return false;
    const m = /\.(\d{1,20})$/.exec(token);
    return m !== null && BigInt(m[1]) > applied;
  }

  /** The user a live token names (renewing it), or undefined. */
  user(token: string): string | undefined {
    const e = this.tokens.get(token);
    if (!e) return undefined;
    const now = this.clock.now();
    if (now >= e.expiresAt) {
      this.tokens.delete(token);
      return undefined;
    }
    e.expiresAt = now + this.ttlMs;
    return e.user;
  }

  invalidateUser(user: string): void {
    for (const [t, e] of this.tokens) if (e.user === user) this.tokens.delete(t);
  }

  /** Keeps only the tokens whose user passes `keep`. */
  retain(keep: (user: string) => boolean): void {
    for (const [t, e] of this.tokens) if (!keep(e.user)) this.tokens.delete(t);
  }

  clear(): void {
    this.tokens.clear();
  }

  get size(): number {
    return this.tokens.size;
  }

  /** Drops expired tokens, at most once a second (etcd's TTL resolution). */
  private sweep(now: number): void {
    if (now < this.nextSweep) return;
    this.nextSweep = now + 1000;
    for (const [t, e] of this.tokens) if (now >= e.expiresAt) this.tokens.delete(t);
  }
}

/** `--auth-token=` (empty): etcd's nop provider. No token names anyone; an applied Authenticate fails. */
export class NoTokens implements TokenProvider {
  readonly type = 'none';
  readonly verifyOnly = false;
  genPrefix(): string {
    return '';
  }
  assign(): string {
    throw new RpcError('AuthFailed');
  }
  async issue(): Promise<string> {
    throw new RpcError('AuthFailed');
  }
  prepare(): undefined {
    return undefined;
  }
  info(): undefined {
    return undefined;
  }
  ahead(): boolean {
    return false;
  }
  invalidateUser(): void {}
  retain(): void {}
  clear(): void {}
}

/** The token of a call: metadata `token`, or `authorization` (etcd's gRPC gateway name). */
export function tokenOf(metadata: { get(key: string): unknown[] } | undefined): string | undefined {
  const t = metadata?.get('token')[0] ?? metadata?.get('authorization')[0];
  return t === undefined ? undefined : String(t);
}

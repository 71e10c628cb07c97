// Simple tokens (etcd's auth/simple_token.go, --auth-token simple): the API layer that takes an
// Authenticate draws a random 16-letter prefix; the token is `<prefix>.<raft index>` and is
// assigned to the user while the entry is applied, so every member knows every token. A token
// lives --auth-token-ttl seconds from its last use (renewed on every use, as etcd's TTL keeper).
//
// Invariants: tokens live in memory only (not replicated state: a restarted member forgets them,
// as etcd's do); a deleted user's tokens and every token after AuthDisable are gone at once.
import type { Clock, Random } from '../world/clock.js';

const Letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
export const SimpleTokenPrefixLength = 16;
export const DefaultTokenTtlMs = 300_000;

interface Entry {
  user: string;
  expiresAt: number;
}

export class SimpleTokens {
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

  /** Applied Authenticate: `<prefix>.<index>` now names `user`. */
  assign(prefix: string, index: bigint, user: string): string {
    const token = `${prefix}.${index}`;
    const now = this.clock.now();
    this.sweep(now);
    this.tokens.set(token, { user, expiresAt: now + this.ttlMs });
    return token;
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

/** The token of a call: metadata `token`, or `authorization` (etcd's gRPC gateway name). */
export function tokenOf(metadata: { get(key: string): unknown[] } | undefined): string | undefined {
  const t = metadata?.get('token')[0] ?? metadata?.get('authorization')[0];
  return t === undefined ? undefined : String(t);
}

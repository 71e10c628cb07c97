// Token providers (etcd's auth.TokenProvider, --auth-token): what names the user of a call.
//   simple  `<16 random letters>.<raft index>`, in every member's memory (auth/tokens.ts)
//   jwt     a signed JWT with claims username, revision, exp; any member holding the key verifies
//           it without replication (auth/jwt.ts)
//   none    `--auth-token=` (empty): no token is ever issued, as etcd's nop provider
//
// An Authenticate goes through the log with every provider (etcd: the applied entry assigns the
// token with the auth revision of the apply). A simple token is made by the apply itself on every
// member; a JWT is signed by the member that proposed the entry, after it applied, for the grant
// the apply returned (the user at the auth revision of the apply): the other members' signatures
// would be thrown away, so they sign nothing.
import type { Clock, Random } from '../world/clock.js';
import type { AuthInfo } from './store.js';
import { JwtTokens } from './jwt.js';
import { NoTokens, SimpleTokens } from './tokens.js';
import type { AuthTokenConfig } from './token_options.js';

/** What an applied Authenticate grants: the user, at the auth revision of the apply. */
export interface TokenGrant {
  username: string;
  revision: bigint;
}

export interface TokenProvider {
  readonly type: 'simple' | 'jwt' | 'none';
  /** Holds only a public key (jwt with pub-key alone): verifies tokens, cannot issue any. */
  readonly verifyOnly: boolean;
  /** API layer, before proposing: the entry's simpleToken field (simple: a random prefix; others ''). */
  genPrefix(): string;
  /**
   * Apply, on every member (synchronous, deterministic in what it decides): the token the entry
   * at `index` names at once, or '' when `issue` makes it afterwards. Throws a request error
   * when no token can be assigned (AuthFailed).
   */
  assign(prefix: string, index: bigint, grant: TokenGrant): string;
  /** API layer, on the member that proposed, after the apply: the token for `grant` when assign gave ''. */
  issue(grant: TokenGrant): Promise<string>;
  /**
   * API layer, before a call's handler: does the slow part of resolving `token` (jwt: checks
   * the signature) so that `info` can answer synchronously; undefined when there is nothing to
   * wait for. Never rejects: a bad token is refused by `info`.
   */
  prepare(token: string): Promise<void> | undefined;
  /**
   * The identity `token` names now (renewing a simple token), or undefined when it is unknown,
   * forged or expired. `revision` is the store's current auth revision (a simple token is
   * resolved at it; a JWT carries its own).
   */
  info(token: string, revision: bigint): AuthInfo | undefined;
  /** Whether `token` is a simple token of an entry above `applied` (the call waits for it). */
  ahead(token: string, applied: bigint): boolean;
  /** A user was deleted or changed its password: its tokens end (simple; a JWT ends by its revision). */
  invalidateUser(user: string): void;
  /** Keeps only the tokens whose user passes `keep` (after a snapshot install). */
  retain(keep: (user: string) => boolean): void;
  /** Auth was disabled: every token ends. */
  clear(): void;
}

/** The provider --auth-token names (its keys already checked by loadAuthTokenConfig). */
export function createTokenProvider(config: AuthTokenConfig, clock: Clock, random: Random, simpleTtlMs: number): TokenProvider {
  switch (config.type) {
    case 'simple':
      return new SimpleTokens(clock, random, simpleTtlMs);
    case 'jwt':
      return new JwtTokens(config, clock);
    case 'none':
      return new NoTokens();
  }
}

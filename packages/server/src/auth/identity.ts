// Who a call is (etcd's AuthInfoFromCtx) and the member's view of auth changes: the member holds
// one Identities for its life, across the auth stores that snapshot installs replace.
import type { Logger } from 'pino';
import { RpcError } from '../errors.js';
import { RootUser, type AuthInfo, type AuthStore } from './store.js';
import { certNameOf } from './cert_identity.js';
import { tokenOf } from './tokens.js';
import type { TokenProvider } from './token_provider.js';

type MetadataLike = { get(key: string): unknown[] } | undefined;

export interface IdentitiesOptions {
  /** The --auth-token provider (simple, jwt or none). */
  tokens: TokenProvider;
  /** The member's current auth store (replaced with the rest of the state). */
  auth: () => AuthStore;
  /** The member's applied index. */
  appliedIndex: () => bigint;
  logger: Logger;
}

export class Identities {
  private readonly listeners = new Set<() => void>();

  constructor(private readonly o: IdentitiesOptions) {}

  /**
   * The requester of a call: the user the token in metadata `token` (or `authorization`)
   * names. A simple token resolves at the current auth revision, a JWT at the revision it was
   * issued at (so it stops at the next auth change: AuthOldRevision). An unknown, forged or
   * expired token is refused with InvalidAuthToken (also with auth disabled, as etcd). A JWT
   * must have been through `prepare` (the call gate) first. Without a token, with
   * --client-cert-auth: the common name of the call's verified client certificate
   * (cert_identity.ts), as etcd's AuthInfoFromCtx — a token, even a bad one, wins. Undefined
   * without either.
   */
  authInfo(metadata: MetadataLike): AuthInfo | undefined {
    const t = tokenOf(metadata);
    if (t === undefined) return this.certAuthInfo(metadata);
    const ai = this.o.tokens.info(t, this.o.auth().revision);
    if (ai === undefined) throw new RpcError('InvalidAuthToken');
    return ai;
  }

  /** etcd's AuthInfoFromTLS: a CN ('' included) is the user; a gRPC gateway's call is nobody. */
  private certAuthInfo(metadata: MetadataLike): AuthInfo | undefined {
    const c = certNameOf(metadata);
    if (c === undefined) return undefined;
    if ('gateway' in c) {
      this.o.logger.warn({ 'common-name': c.gateway }, 'ignoring common name in gRPC-gateway proxy request');
      return undefined;
    }
    return { username: c.name, revision: this.o.auth().revision };
  }

  /** Whether the call's simple token names a log index this member has not applied yet. */
  tokenAhead(metadata: MetadataLike): boolean {
    const t = tokenOf(metadata);
    return t !== undefined && this.o.tokens.ahead(t, this.o.appliedIndex());
  }

  /** The slow part of resolving the call's token (a JWT's signature), or undefined if none. Never rejects. */
  prepare(metadata: MetadataLike): Promise<void> | undefined {
    const t = tokenOf(metadata);
    return t === undefined ? undefined : this.o.tokens.prepare(t);
  }

  /**
   * The identity of the member's own proposals (lease expiry, auto-compaction): root, as etcd's
   * authStore.WithRoot. Invariant: while auth is enabled the root user exists and holds the root
   * role (the store refuses to delete either), so these are never refused. Client requests never
   * get it: their identity comes from their token.
   */
  readonly asMember = (): AuthInfo => ({ username: RootUser, revision: this.o.auth().revision });

  /** Calls `fn` after every change of the auth store (users, roles, permissions, enabled); returns the unsubscribe. */
  onChange(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * Takes a (new) auth store: at start and after a snapshot install, which may have removed
   * users or turned auth off (their tokens go; AuthDisable and user changes applied from the log
   * end tokens in auth/apply.ts), and subscribes to its changes.
   */
  attach(store: AuthStore): void {
    if (!store.enabled) this.o.tokens.clear();
    else this.o.tokens.retain((user) => store.getUser(user) !== undefined);
    store.events = { enabled: () => this.notify(), changed: () => this.notify() };
  }

  private notify(): void {
    for (const fn of this.listeners) {
      try {
        fn();
      } catch (err) {
        this.o.logger.error({ err }, 'auth change listener failed');
      }
    }
  }
}

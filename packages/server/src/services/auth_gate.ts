// Root-only RPCs outside the log (etcd's authMaintenanceServer and
// checkMembershipOperationPermission): with auth enabled, Defragment, Snapshot, Hash, HashKV,
// MoveLeader and every member change need a user holding the root role. Checked before the
// handler runs; with auth disabled nothing is checked.
import type { Metadata } from '@grpc/grpc-js';
import { toServiceError } from '../errors.js';
import type { Member } from '../member.js';
import { endStream, type EndableCall } from './require_leader.js';

/** The RPCs (service implementation method names) that only root may call. */
export const RootOnlyMethods = new Set([
  'defragment',
  'snapshot',
  'hash',
  'hashKv',
  'moveLeader',
  'memberAdd',
  'memberRemove',
  'memberUpdate',
  'memberPromote',
]);

type AnyCall = EndableCall & { metadata?: Metadata };

/** Throws unless the call's user may run a root-only RPC (no-op with auth disabled). */
export function checkRoot(m: Member, metadata: Metadata | undefined): void {
  if (!m.auth.enabled) return;
  m.auth.checkAdmin(m.identity.authInfo(metadata));
}

/** Wraps the root-only methods of a service implementation with checkRoot. */
export function rootOnly<T extends object>(impl: T, m: Member): T {
  const out: Record<string, unknown> = { ...(impl as Record<string, unknown>) };
  for (const [name, handler] of Object.entries(impl)) {
    if (typeof handler !== 'function' || !RootOnlyMethods.has(name)) continue;
    const h = handler as (...a: unknown[]) => unknown;
    out[name] = (call: AnyCall, callback?: (e: unknown) => void) => {
      try {
        checkRoot(m, call.metadata);
      } catch (err) {
        if (callback) return callback(toServiceError(err));
        return endStream(call, toServiceError(err));
      }
      return h.call(impl, call, callback);
    };
  }
  return out as T;
}

/**
 * Resolving a call's token may have to wait, before the handler asks who the call is:
 * - A simple token is `<prefix>.<index>`: assigned when the Authenticate entry at `index`
 *   applies, on every member. A client that authenticated through one member and calls another
 *   may get there first; like etcd (isValidSimpleToken waits for the index), the call then waits
 *   for this member to catch up (a read barrier) before its token is looked up.
 * - A JWT's signature is checked asynchronously (jose) and remembered (auth/jwt.ts).
 * Any other call goes straight on.
 */
export function tokenCatchUp<T extends object>(impl: T, m: Member): T {
  const out: Record<string, unknown> = { ...(impl as Record<string, unknown>) };
  for (const [name, handler] of Object.entries(impl)) {
    if (typeof handler !== 'function') continue;
    const h = handler as (...a: unknown[]) => unknown;
    out[name] = (call: AnyCall, callback?: (e: unknown) => void) => {
      const wait = m.identity.tokenAhead(call.metadata) ? m.consensus.readBarrier() : m.identity.prepare(call.metadata);
      if (!wait) return h.call(impl, call, callback);
      wait.then(
        () => h.call(impl, call, callback),
        (err: unknown) => (callback ? callback(toServiceError(err)) : endStream(call, toServiceError(err))),
      );
    };
  }
  return out as T;
}

// Checks of Auth RPC input made in the API layer, before anything is hashed or proposed: clear
// INVALID_ARGUMENT errors for input etcd would take and choke on later (or silently truncate).
import type { authpb } from '@kv/api';

/** A request the auth API refuses before proposing (gRPC INVALID_ARGUMENT). */
export class AuthInputError extends Error {
  override readonly name = 'AuthInputError';
  readonly code = 3;
}

/** Longest user or role name accepted. */
export const MaxNameBytes = 4096;

/**
 * A user or role name: not longer than MaxNameBytes, no control characters (C0, DEL, C1) —
 * they would make etcdctl's listings and the logs lie about which name is which. Empty names
 * are left to the store, which answers etcd's `user name is empty` / `role name is empty`.
 */
export function checkName(what: 'user' | 'role', name: string): void {
  if (Buffer.byteLength(name) > MaxNameBytes) throw new AuthInputError(`etcdserver: ${what} name is longer than ${MaxNameBytes} bytes`);
  const bad = /[\u0000-\u001f\u007f-\u009f]/.exec(name);
  if (bad) {
    const code = bad[0].charCodeAt(0).toString(16).padStart(2, '0');
    throw new AuthInputError(`etcdserver: ${what} name contains a control character (0x${code})`);
  }
}

/** A permission to grant: a known type. */
export function checkPermission(p: authpb.Permission | undefined): void {
  if (!p) throw new AuthInputError('etcdserver: permission not given');
  if (p.permType < 0 || p.permType > 2) throw new AuthInputError(`etcdserver: unknown permission type ${p.permType}`);
}

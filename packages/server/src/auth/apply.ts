// The auth link of the apply chain (etcd's etcdserver/apply_auth.go), and the applied Auth RPCs.
//
// Every entry carries its requester in its header (username, and the auth revision its token
// was resolved at). checkEntry throws PermissionDenied / UserEmpty / AuthOldRevision before the
// entry changes anything; it runs on every member at apply time, so a permission revoked after
// the API layer checked a request but before the request applied is still enforced.
//
// Where kv is stricter than etcd 3.4 (its known holes): nested txns are checked op by op, like
// the top level; a put's prev_kv needs read permission on the key; compaction is root-only.
import type { etcdserverpb } from '@kv/api';
import { RpcError } from '../errors.js';
import type { AuthInfo, AuthStore, AuthWriter } from './store.js';
import type { TokenProvider } from './token_provider.js';

/** What the checks need of the lessor: the keys attached to a lease. */
export interface LeaseKeys {
  lookup(id: bigint): { keys: Set<string> } | undefined;
}

/** The requester an entry names (etcd's AuthInfo from the raft request header). */
export function authInfoOf(req: etcdserverpb.InternalRaftRequest): AuthInfo {
  return { username: req.header?.username ?? '', revision: req.header?.authRevision ?? 0n };
}

/** The Auth RPCs etcd lets only root run (needAdminPermission). */
export function needsAdmin(req: etcdserverpb.InternalRaftRequest): boolean {
  return (
    req.authEnable !== undefined ||
    req.authDisable !== undefined ||
    req.authUserAdd !== undefined ||
    req.authUserDelete !== undefined ||
    req.authUserChangePassword !== undefined ||
    req.authUserGrantRole !== undefined ||
    req.authUserRevokeRole !== undefined ||
    req.authRoleAdd !== undefined ||
    req.authRoleGrantPermission !== undefined ||
    req.authRoleRevokePermission !== undefined ||
    req.authRoleDelete !== undefined ||
    req.authUserList !== undefined ||
    req.authRoleList !== undefined ||
    req.compaction !== undefined
  );
}

/** Write permission on every key attached to the lease (etcd's checkLeasePuts). */
export function checkLeaseKeys(store: AuthStore, ai: AuthInfo, leases: LeaseKeys, id: bigint): void {
  if (!store.enabled || id === 0n) return;
  const l = leases.lookup(id);
  if (!l) return;
  for (const k of l.keys) store.checkWrite(ai, Buffer.from(k, 'latin1'));
}

export function checkPut(store: AuthStore, ai: AuthInfo, leases: LeaseKeys, r: etcdserverpb.PutRequest): void {
  store.checkWrite(ai, r.key);
  checkLeaseKeys(store, ai, leases, r.lease);
  if (r.prevKv) store.checkRead(ai, r.key);
}

export function checkDelete(store: AuthStore, ai: AuthInfo, r: etcdserverpb.DeleteRangeRequest): void {
  store.checkWrite(ai, r.key, r.rangeEnd);
  if (r.prevKv) store.checkRead(ai, r.key, r.rangeEnd);
}

export function checkRange(store: AuthStore, ai: AuthInfo, r: etcdserverpb.RangeRequest): void {
  store.checkRead(ai, r.key, r.rangeEnd);
}

/** Every compare and every op of both branches, nested txns included (etcd 3.4 skips those). */
export function checkTxn(store: AuthStore, ai: AuthInfo, leases: LeaseKeys, t: etcdserverpb.TxnRequest): void {
  if (!store.enabled) return;
  for (const c of t.compare) store.checkRead(ai, c.key, c.rangeEnd);
  for (const op of [...t.success, ...t.failure]) {
    if (op.requestRange) checkRange(store, ai, op.requestRange);
    else if (op.requestPut) checkPut(store, ai, leases, op.requestPut);
    else if (op.requestDeleteRange) checkDelete(store, ai, op.requestDeleteRange);
    else if (op.requestTxn) checkTxn(store, ai, leases, op.requestTxn);
  }
}

/** The auth link: throws a request error unless the entry's requester may run it. */
export function checkEntry(store: AuthStore, leases: LeaseKeys, req: etcdserverpb.InternalRaftRequest): void {
  if (!store.enabled) return;
  const ai = authInfoOf(req);
  if (needsAdmin(req)) store.checkAdmin(ai);
  if (req.put) checkPut(store, ai, leases, req.put);
  else if (req.deleteRange) checkDelete(store, ai, req.deleteRange);
  else if (req.txn) checkTxn(store, ai, leases, req.txn);
  else if (req.leaseRevoke) checkLeaseKeys(store, ai, leases, req.leaseRevoke.ID);
  else if (req.authUserGet) {
    // etcd: root, or the user itself.
    if (ai.username !== req.authUserGet.name) store.checkAdmin(ai);
  } else if (req.authRoleGet) {
    // etcd: root, or a user holding the role.
    if (!store.hasRole(ai.username, req.authRoleGet.role)) store.checkAdmin(ai);
  }
}

type AuthResponse = { header: etcdserverpb.ResponseHeader | undefined } & Record<string, unknown>;

/**
 * Applies an Auth RPC entry; `header` is the response header. Returns undefined if the entry is
 * not one. `index` is the entry's raft index (the suffix of a simple token).
 * An applied Authenticate answers `{ header, token, grant }`: `token` is '' when the provider
 * issues it after the apply (jwt), from `grant`.
 */
export function applyAuthEntry(
  store: AuthStore,
  tokens: TokenProvider | undefined,
  req: etcdserverpb.InternalRaftRequest,
  w: AuthWriter,
  index: bigint,
  header: etcdserverpb.ResponseHeader,
): AuthResponse | undefined {
  if (req.authEnable) {
    store.authEnable(w);
    return { header };
  }
  if (req.authDisable) {
    store.authDisable(w);
    tokens?.clear();
    return { header };
  }
  if (req.authStatus) return { header, enabled: store.enabled, authRevision: store.revision };
  if (req.authenticate) {
    const a = req.authenticate;
    if (!store.enabled) throw new RpcError('AuthNotEnabled');
    const u = store.getUser(a.name);
    if (!u || u.options?.noPassword) throw new RpcError('AuthFailed');
    if (!tokens) throw new RpcError('AuthFailed');
    // The user at the auth revision of this apply (a JWT carries it; etcd's assign(..., as.Revision())).
    // `grant` is not part of the wire response: the proposer signs a JWT for it (services/auth.ts).
    const grant = { username: a.name, revision: store.revision };
    return { header, token: tokens.assign(a.simpleToken, index, grant), grant };
  }
  if (req.authUserAdd) {
    store.userAdd(req.authUserAdd, w);
    return { header };
  }
  if (req.authUserDelete) {
    store.userDelete(req.authUserDelete, w);
    tokens?.invalidateUser(req.authUserDelete.name); // its tokens stop working at once
    return { header };
  }
  if (req.authUserChangePassword) {
    store.userChangePassword(req.authUserChangePassword, w);
    tokens?.invalidateUser(req.authUserChangePassword.name);
    return { header };
  }
  if (req.authUserGrantRole) {
    store.userGrantRole(req.authUserGrantRole, w);
    return { header };
  }
  if (req.authUserRevokeRole) {
    store.userRevokeRole(req.authUserRevokeRole, w);
    return { header };
  }
  if (req.authUserGet) return { header, roles: store.userGet(req.authUserGet.name) };
  if (req.authUserList) return { header, users: store.userList() };
  if (req.authRoleAdd) {
    store.roleAdd(req.authRoleAdd, w);
    return { header };
  }
  if (req.authRoleDelete) {
    store.roleDelete(req.authRoleDelete, w);
    return { header };
  }
  if (req.authRoleGet) return { header, perm: store.roleGet(req.authRoleGet.role) };
  if (req.authRoleList) return { header, roles: store.roleList() };
  if (req.authRoleGrantPermission) {
    store.roleGrantPermission(req.authRoleGrantPermission, w);
    return { header };
  }
  if (req.authRoleRevokePermission) {
    store.roleRevokePermission(req.authRoleRevokePermission, w);
    return { header };
  }
  return undefined;
}

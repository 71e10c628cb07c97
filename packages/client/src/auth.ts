// The Auth service (etcd's clientv3 Auth interface): enable/disable/status, users, roles and
// their key-range permissions. Reads (status, get, list) are retried like other reads; every
// change is sent once more only where the retry rules allow a non-repeatable call.
import { authpb, etcdserverpb } from '@kv/api';
import { toBuffer, type Bytes } from './bytes.js';
import type { CallOpts, Connections } from './connection.js';

/** READ, WRITE or READWRITE (etcd's clientv3.PermissionType). */
export type PermissionType = 'READ' | 'WRITE' | 'READWRITE';

export const PERMISSION_TYPES: readonly PermissionType[] = ['READ', 'WRITE', 'READWRITE'];

/** etcd's clientv3.StrToPermissionType: case-insensitive, or `invalid permission type: <s>`. */
export function strToPermissionType(s: string): authpb.Permission_Type {
  switch (s.toUpperCase()) {
    case 'READ':
      return authpb.Permission_Type.READ;
    case 'WRITE':
      return authpb.Permission_Type.WRITE;
    case 'READWRITE':
      return authpb.Permission_Type.READWRITE;
    default:
      throw new TypeError(`invalid permission type: ${s}`);
  }
}

export interface UserAddOptions {
  /** A user that logs in only by TLS common name (etcd's UserAddOptions.NoPassword). */
  noPassword?: boolean;
}

export class Auth {
  constructor(private readonly conns: Connections) {}

  authEnable(opts: CallOpts = {}): Promise<etcdserverpb.AuthEnableResponse> {
    return this.conns.unary((c) => c.auth.authEnable.bind(c.auth), {}, { ...opts, idempotent: false });
  }

  authDisable(opts: CallOpts = {}): Promise<etcdserverpb.AuthDisableResponse> {
    return this.conns.unary((c) => c.auth.authDisable.bind(c.auth), {}, { ...opts, idempotent: false });
  }

  /** Whether auth is on and the auth revision (etcd 3.5's AuthStatus; etcd 3.4 answers Unimplemented). */
  authStatus(opts: CallOpts = {}): Promise<etcdserverpb.AuthStatusResponse> {
    return this.conns.unary((c) => c.auth.authStatus.bind(c.auth), {}, { ...opts, idempotent: true });
  }

  userAdd(name: string, password: string, o: UserAddOptions & CallOpts = {}): Promise<etcdserverpb.AuthUserAddResponse> {
    const req = etcdserverpb.AuthUserAddRequest.fromPartial({
      name,
      password,
      options: { noPassword: o.noPassword ?? false },
    });
    return this.conns.unary((c) => c.auth.userAdd.bind(c.auth), req, { ...callOpts(o), idempotent: false });
  }

  userGet(name: string, opts: CallOpts = {}): Promise<etcdserverpb.AuthUserGetResponse> {
    const req = etcdserverpb.AuthUserGetRequest.fromPartial({ name });
    return this.conns.unary((c) => c.auth.userGet.bind(c.auth), req, { ...opts, idempotent: true });
  }

  userList(opts: CallOpts = {}): Promise<etcdserverpb.AuthUserListResponse> {
    return this.conns.unary((c) => c.auth.userList.bind(c.auth), {}, { ...opts, idempotent: true });
  }

  userDelete(name: string, opts: CallOpts = {}): Promise<etcdserverpb.AuthUserDeleteResponse> {
    const req = etcdserverpb.AuthUserDeleteRequest.fromPartial({ name });
    return this.conns.unary((c) => c.auth.userDelete.bind(c.auth), req, { ...opts, idempotent: false });
  }

  userChangePassword(name: string, password: string, opts: CallOpts = {}): Promise<etcdserverpb.AuthUserChangePasswordResponse> {
    const req = etcdserverpb.AuthUserChangePasswordRequest.fromPartial({ name, password });
    return this.conns.unary((c) => c.auth.userChangePassword.bind(c.auth), req, { ...opts, idempotent: false });
  }

  userGrantRole(user: string, role: string, opts: CallOpts = {}): Promise<etcdserverpb.AuthUserGrantRoleResponse> {
    const req = etcdserverpb.AuthUserGrantRoleRequest.fromPartial({ user, role });
    return this.conns.unary((c) => c.auth.userGrantRole.bind(c.auth), req, { ...opts, idempotent: false });
  }

  userRevokeRole(name: string, role: string, opts: CallOpts = {}): Promise<etcdserverpb.AuthUserRevokeRoleResponse> {
    const req = etcdserverpb.AuthUserRevokeRoleRequest.fromPartial({ name, role });
    return this.conns.unary((c) => c.auth.userRevokeRole.bind(c.auth), req, { ...opts, idempotent: false });
  }

  roleAdd(name: string, opts: CallOpts = {}): Promise<etcdserverpb.AuthRoleAddResponse> {
    const req = etcdserverpb.AuthRoleAddRequest.fromPartial({ name });
    return this.conns.unary((c) => c.auth.roleAdd.bind(c.auth), req, { ...opts, idempotent: false });
  }

  roleGet(role: string, opts: CallOpts = {}): Promise<etcdserverpb.AuthRoleGetResponse> {
    const req = etcdserverpb.AuthRoleGetRequest.fromPartial({ role });
    return this.conns.unary((c) => c.auth.roleGet.bind(c.auth), req, { ...opts, idempotent: true });
  }

  roleList(opts: CallOpts = {}): Promise<etcdserverpb.AuthRoleListResponse> {
    return this.conns.unary((c) => c.auth.roleList.bind(c.auth), {}, { ...opts, idempotent: true });
  }

  roleDelete(role: string, opts: CallOpts = {}): Promise<etcdserverpb.AuthRoleDeleteResponse> {
    const req = etcdserverpb.AuthRoleDeleteRequest.fromPartial({ role });
    return this.conns.unary((c) => c.auth.roleDelete.bind(c.auth), req, { ...opts, idempotent: false });
  }

  /** Grant `permType` on `key` (rangeEnd empty), `[key, rangeEnd)`, or from `key` on (rangeEnd "\0"). */
  roleGrantPermission(
    name: string,
    key: Bytes,
    rangeEnd: Bytes,
    permType: authpb.Permission_Type,
    opts: CallOpts = {},
  ): Promise<etcdserverpb.AuthRoleGrantPermissionResponse> {
    const req = etcdserverpb.AuthRoleGrantPermissionRequest.fromPartial({
      name,
      perm: { permType, key: toBuffer(key), rangeEnd: toBuffer(rangeEnd) },
    });
    return this.conns.unary((c) => c.auth.roleGrantPermission.bind(c.auth), req, { ...opts, idempotent: false });
  }

  roleRevokePermission(
    role: string,
    key: Bytes,
    rangeEnd: Bytes,
    opts: CallOpts = {},
  ): Promise<etcdserverpb.AuthRoleRevokePermissionResponse> {
    const req = etcdserverpb.AuthRoleRevokePermissionRequest.fromPartial({ role, key: toBuffer(key), rangeEnd: toBuffer(rangeEnd) });
    return this.conns.unary((c) => c.auth.roleRevokePermission.bind(c.auth), req, { ...opts, idempotent: false });
  }
}

function callOpts(o: CallOpts): CallOpts {
  return { timeoutMs: o.timeoutMs, signal: o.signal, requireLeader: o.requireLeader };
}

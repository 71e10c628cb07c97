// The replicated auth store (etcd's auth/store.go, 3.4 semantics): users, roles and their key
// permissions, the enabled flag and the auth revision. Every change arrives through the log and
// is applied here on every member alike; the state is persisted in the backend in etcd's buckets
// and encodings, in the batch of the entry that changed it:
//   auth:      "authEnabled" -> [1] | [0], "authRevision" -> u64 big endian
//   authUsers: name -> authpb.User     authRoles: name -> authpb.Role
//
// Invariants:
// - A mutating method validates everything before it changes anything: a request error (RpcError)
//   leaves the store and the batch untouched (the applier's rule).
// - The revision grows by one with every change of users, roles or permissions and with
//   AuthDisable (etcd: AuthEnable does not bump it); a permission check made with a token read
//   at revision r is refused with ErrAuthOldRevision once the store is past r.
// - The permission cache holds exactly the merged permissions of every user (rebuilt after
//   every change; etcd's refreshRangePermCache).
// - Nothing here reads a clock or randomness: members apply alike.
// - Passwords arrive hashed (bcrypt, hashed before proposing); no plain password is stored.
import { authpb, type etcdserverpb } from '@kv/api';
import { RpcError } from '../errors.js';
import { mergePerms, pointInterval, requestInterval, type UserPerms } from './perms.js';

export type AuthBucket = 'auth' | 'authUsers' | 'authRoles';

/** Where the store writes its changes: the batch of the entry being applied. */
export interface AuthWriter {
  put(bucket: AuthBucket, key: Buffer, value: Buffer): void;
  del(bucket: AuthBucket, key: Buffer): void;
}

/** What the store reads at open: the backend's auth buckets. */
export interface AuthSource {
  entries(bucket: AuthBucket): AsyncIterable<[Buffer, Buffer]>;
}

/** Who makes a request, as the API layer resolved it (etcd's AuthInfo). */
export interface AuthInfo {
  username: string;
  /** The auth revision the identity was resolved at; 0 = no identity. */
  revision: bigint;
}

/** What other parts learn of changes (open watches are re-checked). Tokens are ended by auth/apply.ts. */
export interface AuthEvents {
  /** Auth was enabled. */
  enabled?(): void;
  /** Any change of users, roles or permissions (the revision moved). */
  changed?(revision: bigint): void;
}

export const RootUser = 'root';
export const RootRole = 'root';
const EnabledKey = Buffer.from('authEnabled');
const RevisionKey = Buffer.from('authRevision');

function u64(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

function sortedInsert(list: string[], s: string): string[] {
  return [...list, s].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

/** Byte order of names, as bbolt iterates its buckets. */
function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export class AuthStore {
  private users = new Map<string, authpb.User>();
  private roles = new Map<string, authpb.Role>();
  private perms = new Map<string, UserPerms>();
  private _enabled = false;
  private _revision = 1n;
  events: AuthEvents = {};

  /** Loads the store from the backend's auth buckets (at start and after a snapshot install). */
  static async open(src: AuthSource): Promise<AuthStore> {
    const s = new AuthStore();
    for await (const [k, v] of src.entries('auth')) {
      if (k.equals(EnabledKey)) s._enabled = v.length === 1 && v[0] === 1;
      else if (k.equals(RevisionKey)) {
        if (v.length !== 8) throw new Error(`auth bucket: authRevision has ${v.length} bytes, want 8`);
        s._revision = v.readBigUInt64BE();
      }
    }
    // etcd commits revision 1 when it creates the auth store; a fresh backend has none yet.
    if (s._revision === 0n) s._revision = 1n;
    for await (const [k, v] of src.entries('authUsers')) s.users.set(k.toString(), authpb.User.decode(v));
    for await (const [k, v] of src.entries('authRoles')) s.roles.set(k.toString(), authpb.Role.decode(v));
    s.refreshPerms();
    return s;
  }

  get enabled(): boolean {
    return this._enabled;
  }

  get revision(): bigint {
    return this._revision;
  }

  getUser(name: string): authpb.User | undefined {
    return this.users.get(name);
  }

  getRole(name: string): authpb.Role | undefined {
    return this.roles.get(name);
  }

  // --- changes (applied from the log) ---

  private commitRevision(w: AuthWriter): void {
    this._revision += 1n;
    w.put('auth', RevisionKey, u64(this._revision));
  }

  private putUser(w: AuthWriter, u: authpb.User): void {
    this.users.set(u.name.toString(), u);
    w.put('authUsers', u.name, Buffer.from(authpb.User.encode(u).finish()));
  }

  private putRole(w: AuthWriter, r: authpb.Role): void {
    this.roles.set(r.name.toString(), r);
    w.put('authRoles', r.name, Buffer.from(authpb.Role.encode(r).finish()));
  }

  private changed(w: AuthWriter): void {
    this.commitRevision(w);
    this.refreshPerms();
    this.events.changed?.(this._revision);
  }

  authEnable(w: AuthWriter): void {
    if (this._enabled) return;
    const root = this.users.get(RootUser);
    if (!root) throw new RpcError('RootUserNotExist');
    if (!root.roles.includes(RootRole)) throw new RpcError('RootRoleNotExist');
    w.put('auth', EnabledKey, Buffer.from([1]));
    this._enabled = true;
    this.refreshPerms();
    this.events.enabled?.();
  }

  authDisable(w: AuthWriter): void {
    if (!this._enabled) return;
    w.put('auth', EnabledKey, Buffer.from([0]));
    this.commitRevision(w);
    this._enabled = false;
    this.events.changed?.(this._revision);
  }

  /** `hashedPassword` is the bcrypt hash made before proposing ("" for a no-password user). */
  userAdd(r: etcdserverpb.AuthUserAddRequest, w: AuthWriter): void {
    if (r.name.length === 0) throw new RpcError('UserEmpty');
    if (this.users.has(r.name)) throw new RpcError('UserAlreadyExist');
    const noPassword = r.options?.noPassword ?? false;
    // Invariant: the plain password never reaches the log (services/auth.ts hashes it first).
    if (r.password.length > 0) throw new RpcError('AuthFailed');
    this.putUser(w, {
      name: Buffer.from(r.name),
      password: noPassword ? Buffer.alloc(0) : Buffer.from(r.hashedPassword),
      roles: [],
      options: { noPassword },
    });
    this.changed(w);
  }

  userDelete(r: etcdserverpb.AuthUserDeleteRequest, w: AuthWriter): void {
    if (this._enabled && r.name === RootUser) throw new RpcError('InvalidAuthMgmt');
    if (!this.users.has(r.name)) throw new RpcError('UserNotFound');
    this.users.delete(r.name);
    w.del('authUsers', Buffer.from(r.name));
    this.changed(w);
  }

  userChangePassword(r: etcdserverpb.AuthUserChangePasswordRequest, w: AuthWriter): void {
    const u = this.users.get(r.name);
    if (!u) throw new RpcError('UserNotFound');
    if (r.password.length > 0) throw new RpcError('AuthFailed');
    this.putUser(w, { ...u, password: Buffer.from(r.hashedPassword) });
    this.changed(w);
  }

  userGrantRole(r: etcdserverpb.AuthUserGrantRoleRequest, w: AuthWriter): void {
    const u = this.users.get(r.user);
    if (!u) throw new RpcError('UserNotFound');
    // etcd: the root role may be granted before it exists.
    if (r.role !== RootRole && !this.roles.has(r.role)) throw new RpcError('RoleNotFound');
    if (u.roles.includes(r.role)) return; // etcd ignores a repeated grant (no revision bump)
    this.putUser(w, { ...u, roles: sortedInsert(u.roles, r.role) });
    this.changed(w);
  }

  userRevokeRole(r: etcdserverpb.AuthUserRevokeRoleRequest, w: AuthWriter): void {
    if (this._enabled && r.name === RootUser && r.role === RootRole) throw new RpcError('InvalidAuthMgmt');
    const u = this.users.get(r.name);
    if (!u) throw new RpcError('UserNotFound');
    if (!u.roles.includes(r.role)) throw new RpcError('RoleNotGranted');
    this.putUser(w, { ...u, roles: u.roles.filter((x) => x !== r.role) });
    this.changed(w);
  }

  roleAdd(r: etcdserverpb.AuthRoleAddRequest, w: AuthWriter): void {
    if (r.name.length === 0) throw new RpcError('RoleEmpty');
    if (this.roles.has(r.name)) throw new RpcError('RoleAlreadyExist');
    this.putRole(w, { name: Buffer.from(r.name), keyPermission: [] });
    this.changed(w);
  }

  roleDelete(r: etcdserverpb.AuthRoleDeleteRequest, w: AuthWriter): void {
    if (this._enabled && r.role === RootRole) throw new RpcError('InvalidAuthMgmt');
    if (!this.roles.has(r.role)) throw new RpcError('RoleNotFound');
    this.roles.delete(r.role);
    w.del('authRoles', Buffer.from(r.role));
    for (const u of [...this.users.values()]) {
      if (u.roles.includes(r.role)) this.putUser(w, { ...u, roles: u.roles.filter((x) => x !== r.role) });
    }
    this.changed(w);
  }

  roleGrantPermission(r: etcdserverpb.AuthRoleGrantPermissionRequest, w: AuthWriter): void {
    const role = this.roles.get(r.name);
    if (!role) throw new RpcError('RoleNotFound');
    const perm = r.perm;
    if (!perm || perm.permType < 0 || perm.permType > authpb.Permission_Type.READWRITE)
      // services/auth.ts refuses these first, with a clearer text.
      throw new RpcError('InvalidAuthMgmt');
    const np: authpb.Permission = { permType: perm.permType, key: Buffer.from(perm.key), rangeEnd: Buffer.from(perm.rangeEnd) };
    const same = role.keyPermission.findIndex((p) => p.key.equals(np.key) && p.rangeEnd.equals(np.rangeEnd));
    const keyPermission =
      same >= 0
        ? role.keyPermission.map((p, i) => (i === same ? np : p))
        : [...role.keyPermission, np].sort((a, b) => Buffer.compare(a.key, b.key));
    this.putRole(w, { name: role.name, keyPermission });
    this.changed(w);
  }

  roleRevokePermission(r: etcdserverpb.AuthRoleRevokePermissionRequest, w: AuthWriter): void {
    const role = this.roles.get(r.role);
    if (!role) throw new RpcError('RoleNotFound');
    const keyPermission = role.keyPermission.filter((p) => !p.key.equals(r.key) || !p.rangeEnd.equals(r.rangeEnd));
    if (keyPermission.length === role.keyPermission.length) throw new RpcError('PermissionNotGranted');
    this.putRole(w, { name: role.name, keyPermission });
    this.changed(w);
  }

  // --- reads ---

  userGet(name: string): string[] {
    const u = this.users.get(name);
    if (!u) throw new RpcError('UserNotFound');
    return [...u.roles];
  }

  userList(): string[] {
    return [...this.users.keys()].sort(byteOrder);
  }

  roleGet(name: string): authpb.Permission[] {
    const r = this.roles.get(name);
    if (!r) throw new RpcError('RoleNotFound');
    return r.keyPermission.map((p) => ({ ...p }));
  }

  roleList(): string[] {
    return [...this.roles.keys()].sort(byteOrder);
  }

  hasRole(user: string, role: string): boolean {
    return this.users.get(user)?.roles.includes(role) ?? false;
  }

  // --- permission checks (etcd's isOpPermitted / IsAdminPermitted) ---

  private refreshPerms(): void {
    this.perms.clear();
    for (const [name, u] of this.users) this.perms.set(name, mergePerms(u.roles.map((r) => this.roles.get(r))));
  }

  /**
   * Throws unless `ai` may do `kind` on [key, rangeEnd) (etcd's range rules: empty rangeEnd = the
   * key, "\0" = from key). With auth disabled everything is permitted.
   */
  checkOp(ai: AuthInfo | undefined, key: Buffer, rangeEnd: Buffer, kind: 'read' | 'write'): void {
    if (!this._enabled) return;
    if (!ai || ai.revision === 0n) throw new RpcError('UserEmpty');
    if (ai.revision < this._revision) throw new RpcError('AuthOldRevision');
    const u = this.users.get(ai.username);
    if (!u) throw new RpcError('PermissionDenied');
    if (u.roles.includes(RootRole)) return;
    const p = this.perms.get(ai.username);
    // An empty range (end <= key) reveals nothing, but is checked as its first key: never looser.
    const iv = requestInterval(key, rangeEnd) ?? pointInterval(key);
    if (!p || !(kind === 'read' ? p.read : p.write).covers(iv)) throw new RpcError('PermissionDenied');
  }

  checkRead(ai: AuthInfo | undefined, key: Buffer, rangeEnd: Buffer = Buffer.alloc(0)): void {
    this.checkOp(ai, key, rangeEnd, 'read');
  }

  checkWrite(ai: AuthInfo | undefined, key: Buffer, rangeEnd: Buffer = Buffer.alloc(0)): void {
    this.checkOp(ai, key, rangeEnd, 'write');
  }

  /** Root only (etcd's IsAdminPermitted); no-op with auth disabled. */
  checkAdmin(ai: AuthInfo | undefined): void {
    if (!this._enabled) return;
    if (!ai || ai.username === '') throw new RpcError('UserEmpty');
    const u = this.users.get(ai.username);
    if (!u) throw new RpcError('UserNotFound');
    if (!u.roles.includes(RootRole)) throw new RpcError('PermissionDenied');
  }
}

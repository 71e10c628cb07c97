// The auth store's rules and errors (etcd 3.4's auth/store.go), its permission checks (range
// perm cache semantics), and its persistence in the backend's auth buckets.
import { authpb, etcdserverpb } from '@kv/api';
import { Backend } from '@kv/mvcc';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { RpcError } from '../errors.js';
import { IntervalSet, pointInterval, requestInterval } from './perms.js';
import { AuthStore, type AuthBucket, type AuthWriter } from './store.js';

const { READ, WRITE, READWRITE } = authpb.Permission_Type;
const b = (s: string) => Buffer.from(s);
const none = Buffer.alloc(0);

/** A writer that records what would go into the batch. */
function recorder(): AuthWriter & { ops: string[] } {
  const ops: string[] = [];
  return {
    ops,
    put: (bucket: AuthBucket, k: Buffer) => ops.push(`put ${bucket}/${k.toString()}`),
    del: (bucket: AuthBucket, k: Buffer) => ops.push(`del ${bucket}/${k.toString()}`),
  };
}

function etcdErr(fn: () => void): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof RpcError) return err.message;
    throw err;
  }
  return 'ok';
}

const userAdd = (name: string, noPassword = false) =>
  etcdserverpb.AuthUserAddRequest.fromPartial({ name, hashedPassword: noPassword ? '' : '$2b$04$hash', options: { noPassword } });
const grant = (name: string, permType: authpb.Permission_Type, key: string, rangeEnd = '') =>
  etcdserverpb.AuthRoleGrantPermissionRequest.fromPartial({ name, perm: { permType, key: b(key), rangeEnd: b(rangeEnd) } });

/** root (with the root role) and alice (role r), auth enabled. */
function enabledStore(): { s: AuthStore; w: AuthWriter & { ops: string[] } } {
  const s = new AuthStore();
  const w = recorder();
  s.userAdd(userAdd('root'), w);
  s.userGrantRole({ user: 'root', role: 'root' }, w);
  s.userAdd(userAdd('alice'), w);
  s.roleAdd({ name: 'r' }, w);
  s.userGrantRole({ user: 'alice', role: 'r' }, w);
  s.authEnable(w);
  return { s, w };
}

describe('auth store rules (etcd 3.4)', () => {
  it('answers etcd errors, in order, for each rule', () => {
    const s = new AuthStore();
    const w = recorder();
    const table: [string, () => void, string][] = [
      ['enable without root', () => s.authEnable(w), 'etcdserver: root user does not exist'],
      ['empty user name', () => s.userAdd(userAdd(''), w), 'etcdserver: user name is empty'],
      ['add root', () => s.userAdd(userAdd('root'), w), 'ok'],
      ['add root twice', () => s.userAdd(userAdd('root'), w), 'etcdserver: user name already exists'],
      ['enable without root role', () => s.authEnable(w), 'etcdserver: root user does not have root role'],
      ['grant a missing role', () => s.userGrantRole({ user: 'root', role: 'nope' }, w), 'etcdserver: role name not found'],
      ['grant to a missing user', () => s.userGrantRole({ user: 'bob', role: 'root' }, w), 'etcdserver: user name not found'],
      ['grant root before it exists', () => s.userGrantRole({ user: 'root', role: 'root' }, w), 'ok'],
      ['empty role name', () => s.roleAdd({ name: '' }, w), 'etcdserver: role name is empty'],
      ['add role', () => s.roleAdd({ name: 'r' }, w), 'ok'],
      ['add role twice', () => s.roleAdd({ name: 'r' }, w), 'etcdserver: role name already exists'],
      ['grant perm to a missing role', () => s.roleGrantPermission(grant('x', READ, 'a'), w), 'etcdserver: role name not found'],
      [
        'revoke a perm never granted',
        () => s.roleRevokePermission({ role: 'r', key: b('a'), rangeEnd: none }, w),
        'etcdserver: permission is not granted to the role',
      ],
      [
        'revoke a role never granted',
        () => s.userRevokeRole({ name: 'root', role: 'r' }, w),
        'etcdserver: role is not granted to the user',
      ],
      ['enable', () => s.authEnable(w), 'ok'],
      ['delete root while enabled', () => s.userDelete({ name: 'root' }, w), 'etcdserver: invalid auth management'],
      [
        'revoke root from root while enabled',
        () => s.userRevokeRole({ name: 'root', role: 'root' }, w),
        'etcdserver: invalid auth management',
      ],
      ['delete the root role while enabled', () => s.roleDelete({ role: 'root' }, w), 'etcdserver: invalid auth management'],
      ['delete a missing user', () => s.userDelete({ name: 'bob' }, w), 'etcdserver: user name not found'],
      ['delete a missing role', () => s.roleDelete({ role: 'nope' }, w), 'etcdserver: role name not found'],
      [
        'change the password of a missing user',
        () => s.userChangePassword(etcdserverpb.AuthUserChangePasswordRequest.fromPartial({ name: 'bob', hashedPassword: 'h' }), w),
        'etcdserver: user name not found',
      ],
      ['get a missing user', () => s.userGet('bob'), 'etcdserver: user name not found'],
      ['get a missing role', () => s.roleGet('nope'), 'etcdserver: role name not found'],
      [
        'plain password in an entry',
        () => s.userAdd(etcdserverpb.AuthUserAddRequest.fromPartial({ name: 'p', password: 'x' }), w),
        'etcdserver: authentication failed, invalid user ID or password',
      ],
    ];
    const got = table.map(([what, fn]) => `${what}: ${etcdErr(fn)}`);
    expect(got).toEqual(table.map(([what, , want]) => `${what}: ${want}`));
  });

  it('moves the revision with every change, as etcd (enable does not, disable does; a repeated grant does not)', () => {
    const s = new AuthStore();
    const w = recorder();
    expect(s.revision).toBe(1n);
    s.userAdd(userAdd('root'), w); // 2
    s.userGrantRole({ user: 'root', role: 'root' }, w); // 3
    s.userGrantRole({ user: 'root', role: 'root' }, w); // ignored
    expect(s.revision).toBe(3n);
    s.authEnable(w);
    expect(s.revision).toBe(3n);
    s.authEnable(w); // already on: nothing
    s.authDisable(w);
    expect(s.revision).toBe(4n);
    expect(w.ops).toEqual([
      'put authUsers/root',
      'put auth/authRevision',
      'put authUsers/root',
      'put auth/authRevision',
      'put auth/authEnabled',
      'put auth/authEnabled',
      'put auth/authRevision',
    ]);
  });

  it('keeps permissions sorted by key, replaces a grant of the same range, removes a deleted role from its users', () => {
    const { s, w } = enabledStore();
    s.roleGrantPermission(grant('r', READ, 'b'), w);
    s.roleGrantPermission(grant('r', READ, 'a', 'c'), w);
    s.roleGrantPermission(grant('r', WRITE, 'b'), w);
    expect(s.roleGet('r').map((p) => `${p.permType}:${p.key}-${p.rangeEnd}`)).toEqual([`${READ}:a-c`, `${WRITE}:b-`]);
    s.roleDelete({ role: 'r' }, w);
    expect(s.userGet('alice')).toEqual([]);
    expect(s.roleList()).toEqual([]);
    expect(s.userList()).toEqual(['alice', 'root']);
  });
});

describe('permission checks', () => {
  it('covers key, range, prefix and from-key permissions like etcd range_perm_cache', () => {
    const { s, w } = enabledStore();
    s.roleGrantPermission(grant('r', READ, 'k1'), w); // one key
    s.roleGrantPermission(grant('r', READ, 'm', 'n'), w); // prefix m
    s.roleGrantPermission(grant('r', READWRITE, 'x', '\0'), w); // from key x
    s.roleGrantPermission(grant('r', WRITE, 'w1', 'w3'), w);
    const alice = { username: 'alice', revision: s.revision };
    const read = (k: string, e = '') => etcdErr(() => s.checkRead(alice, b(k), b(e)));
    const write = (k: string, e = '') => etcdErr(() => s.checkWrite(alice, b(k), b(e)));
    const denied = 'etcdserver: permission denied';
    expect([read('k1'), read('k2'), read('k1', 'k2'), read('k1', 'k1\0\0')]).toEqual(['ok', denied, denied, denied]);
    expect([read('m'), read('mzz'), read('m', 'n'), read('m', 'o'), read('l', 'n')]).toEqual(['ok', 'ok', 'ok', denied, denied]);
    expect([read('x'), read('zzz'), read('x', '\0'), read('w', '\0'), write('y', '\0')]).toEqual(['ok', 'ok', 'ok', denied, 'ok']);
    expect([write('w1'), write('w2', 'w3'), read('w1'), write('k1')]).toEqual(['ok', 'ok', denied, denied]);
    // Root may do anything; an unknown user nothing; no identity: user name is empty.
    expect(etcdErr(() => s.checkRead({ username: 'root', revision: s.revision }, b(''), b('\0')))).toBe('ok');
    expect(etcdErr(() => s.checkRead({ username: 'bob', revision: s.revision }, b('x')))).toBe(denied);
    expect(etcdErr(() => s.checkRead(undefined, b('x')))).toBe('etcdserver: user name is empty');
    expect(etcdErr(() => s.checkAdmin(alice))).toBe(denied);
    expect(etcdErr(() => s.checkAdmin({ username: 'bob', revision: s.revision }))).toBe('etcdserver: user name not found');
  });

  it('refuses a check made at an older auth revision (ErrAuthOldRevision), and sees a revoke at once', () => {
    const { s, w } = enabledStore();
    s.roleGrantPermission(grant('r', READ, 'a'), w);
    const at = { username: 'alice', revision: s.revision };
    expect(etcdErr(() => s.checkRead(at, b('a')))).toBe('ok');
    s.roleRevokePermission({ role: 'r', key: b('a'), rangeEnd: none }, w);
    expect(etcdErr(() => s.checkRead(at, b('a')))).toBe('etcdserver: revision of auth store is old');
    expect(etcdErr(() => s.checkRead({ username: 'alice', revision: s.revision }, b('a')))).toBe('etcdserver: permission denied');
  });

  it('with auth disabled permits everything', () => {
    const s = new AuthStore();
    expect(etcdErr(() => s.checkWrite(undefined, b('a')))).toBe('ok');
    expect(etcdErr(() => s.checkAdmin(undefined))).toBe('ok');
  });

  it('interval sets merge overlapping and touching intervals', () => {
    const set = new IntervalSet();
    set.add({ start: b('c'), end: b('e') });
    set.add({ start: b('a'), end: b('b') });
    set.add({ start: b('b'), end: b('c') }); // touches both: one interval a..e
    expect(set.size).toBe(1);
    expect(set.covers({ start: b('a'), end: b('e') })).toBe(true);
    expect(set.covers({ start: b('a'), end: b('f') })).toBe(false);
    set.add({ start: b('g') });
    expect(set.covers({ start: b('h') })).toBe(true);
    expect(set.covers({ start: b('f') })).toBe(false);
    expect(set.covers(pointInterval(b('d')))).toBe(true);
    expect(requestInterval(b('b'), b('a'))).toBeUndefined();
  });
});

describe('persistence in the backend (etcd buckets and encodings)', () => {
  it('restores users, roles, permissions, the enabled flag and the revision from the backend', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'kv-auth-store-'));
    try {
      let be = await Backend.open(dir);
      const s = await AuthStore.open(be);
      const tx = be.newBatch();
      const w: AuthWriter = { put: (bk, k, v) => tx.put(bk, k, v), del: (bk, k) => tx.del(bk, k) };
      s.userAdd(userAdd('root'), w);
      s.userGrantRole({ user: 'root', role: 'root' }, w);
      s.userAdd(userAdd('alice'), w);
      s.roleAdd({ name: 'r' }, w);
      s.roleGrantPermission(grant('r', READ, 'p/', 'p0'), w);
      s.userGrantRole({ user: 'alice', role: 'r' }, w);
      s.userAdd(userAdd('gone'), w);
      s.userDelete({ name: 'gone' }, w);
      s.authEnable(w);
      await be.commit(tx, { sync: true });
      // etcd's encodings, byte for byte.
      expect(await be.get('auth', b('authEnabled'))).toEqual(Buffer.from([1]));
      expect((await be.get('auth', b('authRevision')))?.readBigUInt64BE()).toBe(s.revision);
      const alice = authpb.User.decode((await be.get('authUsers', b('alice')))!);
      expect({ name: alice.name.toString(), roles: alice.roles, password: alice.password.toString() }).toEqual({
        name: 'alice',
        roles: ['r'],
        password: '$2b$04$hash',
      });
      await be.close();
      be = await Backend.open(dir);
      const r = await AuthStore.open(be);
      expect([r.enabled, r.revision, r.userList(), r.roleList(), r.userGet('alice')]).toEqual([
        true,
        s.revision,
        ['alice', 'root'],
        ['r'],
        ['r'],
      ]);
      expect(etcdErr(() => r.checkRead({ username: 'alice', revision: r.revision }, b('p/x')))).toBe('ok');
      expect(etcdErr(() => r.checkRead({ username: 'alice', revision: r.revision }, b('q')))).toBe('etcdserver: permission denied');
      await be.close();
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

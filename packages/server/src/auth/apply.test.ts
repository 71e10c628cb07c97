// The auth link of the apply chain, over the real applier, mvcc store and lessor: every hole
// etcd 3.4 had in it is a case here that a naive check (top-level keys only) gets wrong.
import { authpb, etcdserverpb } from '@kv/api';
import { Backend, KVStore } from '@kv/mvcc';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AlarmStore } from '../apply/alarms.js';
import { applyGroup } from '../apply/apply_group.js';
import { Applier, type ApplyResult } from '../apply/applier.js';
import { RpcError } from '../errors.js';
import { Lessor } from '../lease/lessor.js';
import { ManualClock } from '../testutil/manual_clock.js';
import { AuthStore } from './store.js';
import { SimpleTokens } from './tokens.js';

let dir: string;
let close: (() => Promise<void>) | undefined;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kv-auth-apply-'));
});
afterEach(async () => {
  await close?.();
  close = undefined;
  await rm(dir, { recursive: true, force: true });
});

const b = (s: string) => Buffer.from(s);
const { READ, READWRITE } = authpb.Permission_Type;

async function open() {
  const backend = await Backend.open(dir);
  const lessor = new Lessor({ now: () => 0, minTTL: 5n });
  const store = await KVStore.open(backend, { leases: lessor });
  const auth = await AuthStore.open(backend);
  const clock = new ManualClock();
  const tokens = new SimpleTokens(clock, { next: () => 0.5, bytes: (n) => Buffer.alloc(n, 7) }, 1000);
  const applier = new Applier({
    store,
    lessor,
    alarms: new AlarmStore(),
    auth,
    tokens,
    header: (revision) => ({ clusterId: 1n, memberId: 2n, revision, raftTerm: 3n }),
  });
  let index = 0n;
  let as = { username: '', authRevision: 0n };
  const apply = async (req: Partial<etcdserverpb.InternalRaftRequest>): Promise<ApplyResult> => {
    const full = etcdserverpb.InternalRaftRequest.fromPartial({ ...req, header: { ID: index + 1n, ...as } });
    const [r] = await applyGroup({ backend, store, applier, sync: false }, [{ index: ++index, req: full }]);
    return r ?? {};
  };
  /** The etcd error name of a result ('ok' for none). */
  const res = async (req: Partial<etcdserverpb.InternalRaftRequest>) => {
    const r = await apply(req);
    if (r.err === undefined) return 'ok';
    if (r.err instanceof RpcError) return r.err.etcdName;
    return (r.err as Error).name;
  };
  const become = (username: string) => {
    as = { username, authRevision: auth.revision };
  };
  const becomeAt = (username: string, authRevision: bigint) => {
    as = { username, authRevision };
  };
  close = async () => {
    await store.close?.();
    await backend.close();
  };
  // root; alice reads `a` only and read-writes `w/`; a lease over `a` and `secret`.
  const ok = async (req: Partial<etcdserverpb.InternalRaftRequest>) => expect(await res(req)).toBe('ok');
  await ok({ authUserAdd: { name: 'root', password: '', hashedPassword: 'h', options: { noPassword: false } } });
  await ok({ authUserGrantRole: { user: 'root', role: 'root' } });
  await ok({ authUserAdd: { name: 'alice', password: '', hashedPassword: 'h', options: { noPassword: false } } });
  await ok({ authRoleAdd: { name: 'ra' } });
  await ok({ authRoleGrantPermission: { name: 'ra', perm: { permType: READ, key: b('a'), rangeEnd: b('') } } });
  await ok({ authRoleGrantPermission: { name: 'ra', perm: { permType: READWRITE, key: b('w/'), rangeEnd: b('w0') } } });
  await ok({ authUserGrantRole: { user: 'alice', role: 'ra' } });
  await ok({ leaseGrant: { ID: 7n, TTL: 100n } });
  await ok({ put: { key: b('a'), value: b('A'), lease: 7n, prevKv: false, ignoreValue: false, ignoreLease: false } });
  await ok({ put: { key: b('secret'), value: b('S'), lease: 7n, prevKv: false, ignoreValue: false, ignoreLease: false } });
  await ok({ authEnable: {} });
  return { apply, res, become, becomeAt, auth, store, tokens, clock };
}

const put = (key: string, o: Partial<etcdserverpb.PutRequest> = {}) => ({
  put: etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b('v'), ...o }),
});
const rangeOp = (key: string, rangeEnd = '') =>
  etcdserverpb.RequestOp.fromPartial({ requestRange: { key: b(key), rangeEnd: b(rangeEnd) } });
const putOp = (key: string) => etcdserverpb.RequestOp.fromPartial({ requestPut: { key: b(key), value: b('v') } });
const txn = (t: Partial<etcdserverpb.TxnRequest>) => ({ txn: etcdserverpb.TxnRequest.fromPartial(t) });
const cmp = (key: string) =>
  etcdserverpb.Compare.fromPartial({
    key: b(key),
    target: etcdserverpb.Compare_CompareTarget.VALUE,
    value: b('S'),
    result: etcdserverpb.Compare_CompareResult.EQUAL,
  });

describe('auth link of the apply chain', () => {
  it('without identity: user name is empty; unknown user: permission denied; root: anything', async () => {
    const m = await open();
    expect(await m.res(put('w/x'))).toBe('UserEmpty');
    m.become('mallory');
    expect(await m.res(put('w/x'))).toBe('PermissionDenied');
    m.become('root');
    expect(await m.res(put('anything'))).toBe('ok');
  });

  it('a limited user writes inside its range only', async () => {
    const m = await open();
    m.become('alice');
    expect([await m.res(put('w/x')), await m.res(put('a')), await m.res(put('b'))]).toEqual(['ok', 'PermissionDenied', 'PermissionDenied']);
    expect(await m.res({ deleteRange: { key: b('w/'), rangeEnd: b('w0'), prevKv: false } })).toBe('ok');
    expect(await m.res({ deleteRange: { key: b('w/'), rangeEnd: b('x'), prevKv: false } })).toBe('PermissionDenied');
  });

  it('hole: a txn compare on a key without read permission is refused (it would leak the value)', async () => {
    const m = await open();
    m.become('alice');
    expect(await m.res(txn({ compare: [cmp('secret')], success: [putOp('w/yes')], failure: [putOp('w/no')] }))).toBe('PermissionDenied');
    expect(await m.res(txn({ compare: [cmp('a')], success: [putOp('w/yes')] }))).toBe('ok');
  });

  it('hole: a nested txn range or compare outside the read range is refused, at any depth', async () => {
    const m = await open();
    m.become('alice');
    const inner = etcdserverpb.RequestOp.fromPartial({ requestTxn: { success: [rangeOp('secret')] } });
    expect(await m.res(txn({ success: [putOp('w/1'), inner] }))).toBe('PermissionDenied');
    const deeper = etcdserverpb.RequestOp.fromPartial({
      requestTxn: { failure: [etcdserverpb.RequestOp.fromPartial({ requestTxn: { compare: [cmp('secret')] } })] },
    });
    expect(await m.res(txn({ failure: [putOp('w/1'), deeper] }))).toBe('PermissionDenied');
    const fine = etcdserverpb.RequestOp.fromPartial({ requestTxn: { success: [rangeOp('a'), putOp('w/2')] } });
    expect(await m.res(txn({ success: [putOp('w/1'), fine] }))).toBe('ok');
  });

  it('hole: prev_kv of a put or delete needs read permission', async () => {
    const m = await open();
    m.become('root');
    expect(await m.res({ authRoleAdd: { name: 'wo' } })).toBe('ok');
    expect(
      await m.res({
        authRoleGrantPermission: { name: 'wo', perm: { permType: authpb.Permission_Type.WRITE, key: b('s'), rangeEnd: b('t') } },
      }),
    ).toBe('ok');
    expect(await m.res({ authUserGrantRole: { user: 'alice', role: 'wo' } })).toBe('ok');
    m.become('alice');
    expect(await m.res(put('secret', { prevKv: true }))).toBe('PermissionDenied');
    expect(await m.res({ deleteRange: { key: b('secret'), rangeEnd: b(''), prevKv: true } })).toBe('PermissionDenied');
    const inTxn = etcdserverpb.RequestOp.fromPartial({ requestPut: { key: b('secret'), value: b('x'), prevKv: true } });
    expect(await m.res(txn({ success: [inTxn] }))).toBe('PermissionDenied');
    expect(await m.res(put('secret'))).toBe('ok'); // write-only is allowed without prev_kv
  });

  it('hole: revoking a lease (or putting with it) needs write permission on its keys', async () => {
    const m = await open();
    m.become('alice');
    expect(await m.res({ leaseRevoke: { ID: 7n } })).toBe('PermissionDenied');
    expect(await m.res(put('w/l', { lease: 7n }))).toBe('PermissionDenied');
    m.become('root');
    expect(await m.res({ leaseRevoke: { ID: 7n } })).toBe('ok');
  });

  it('hole: compaction and every auth change are root-only', async () => {
    const m = await open();
    m.become('alice');
    expect(await m.res({ compaction: { revision: 1n, physical: false } })).toBe('PermissionDenied');
    expect(await m.res({ authRoleGrantPermission: { name: 'ra', perm: { permType: READWRITE, key: b(''), rangeEnd: b('\0') } } })).toBe(
      'PermissionDenied',
    );
    expect(await m.res({ authUserList: {} })).toBe('PermissionDenied');
    expect(await m.res({ authDisable: {} })).toBe('PermissionDenied');
    // etcd: a user may read itself and the roles it holds.
    expect(await m.res({ authUserGet: { name: 'alice' } })).toBe('ok');
    expect(await m.res({ authRoleGet: { role: 'ra' } })).toBe('ok');
    expect(await m.res({ authUserGet: { name: 'root' } })).toBe('PermissionDenied');
  });

  it('a permission revoked between check and apply is enforced (ErrAuthOldRevision)', async () => {
    const m = await open();
    m.become('alice');
    const stale = m.auth.revision;
    expect(await m.res(put('w/x'))).toBe('ok');
    m.become('root');
    expect(await m.res({ authRoleRevokePermission: { role: 'ra', key: b('w/'), rangeEnd: b('w0') } })).toBe('ok');
    expect(m.auth.revision).toBeGreaterThan(stale);
    // An entry whose requester was resolved before the revoke names the old revision: refused.
    const before = m.store.currentRev();
    m.becomeAt('alice', stale);
    expect(await m.res(put('w/z'))).toBe('AuthOldRevision');
    expect(m.store.currentRev()).toBe(before);
    // Resolved again (what Member.proposeFull does on AuthOldRevision): now plainly denied.
    m.become('alice');
    expect(await m.res(put('w/z'))).toBe('PermissionDenied');
  });

  it('Authenticate assigns `<prefix>.<index>` tokens; deleting the user ends its tokens at once', async () => {
    const m = await open();
    const r = await m.apply({ authenticate: { name: 'alice', password: '', simpleToken: 'prefixprefixpref' } });
    const token = (r.resp as etcdserverpb.AuthenticateResponse).token;
    expect(token).toMatch(/^prefixprefixpref\.\d+$/);
    expect(m.tokens.user(token)).toBe('alice');
    expect(await m.res({ authenticate: { name: 'nobody', password: '', simpleToken: 'p' } })).toBe('AuthFailed');
    m.become('root');
    expect(await m.res({ authUserDelete: { name: 'alice' } })).toBe('ok');
    expect(m.tokens.user(token)).toBeUndefined();
  });

  it('a changed password or disabled auth ends tokens too; tokens expire after their TTL unless used', async () => {
    const m = await open();
    const login = async () =>
      (
        (await m.apply({ authenticate: { name: 'alice', password: '', simpleToken: 'pppppppppppppppp' } }))
          .resp as etcdserverpb.AuthenticateResponse
      ).token;
    const t1 = await login();
    m.become('root');
    expect(await m.res({ authUserChangePassword: { name: 'alice', password: '', hashedPassword: 'h2' } })).toBe('ok');
    expect(m.tokens.user(t1)).toBeUndefined();
    const t2 = await login();
    await m.clock.advance(900);
    expect(m.tokens.user(t2)).toBe('alice'); // used: renewed for another 1000 ms
    await m.clock.advance(900);
    expect(m.tokens.user(t2)).toBe('alice');
    await m.clock.advance(1000);
    expect(m.tokens.user(t2)).toBeUndefined();
    const t3 = await login();
    expect(await m.res({ authDisable: {} })).toBe('ok');
    expect(m.tokens.user(t3)).toBeUndefined();
    expect(await m.res({ authenticate: { name: 'alice', password: '', simpleToken: 'p' } })).toBe('AuthNotEnabled');
  });
});

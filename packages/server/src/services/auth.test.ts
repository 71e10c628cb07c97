// The Auth service and enforcement over gRPC, on one real member: tokens from metadata, the
// holes outside the log (LeaseTimeToLive keys, watches, maintenance, member changes), input that
// must get clear errors, and auth state across a restart.
import { authpb, etcdserverpb, requestTypeOf, v3electionpb, v3lockpb } from '@kv/api';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../testutil/harness.js';

const b = (s: string) => Buffer.from(s);
/** A watch's cancel reason when its user may not read the range: etcd's words, as Go prints a gRPC status. */
const DENIED_REASON = 'rpc error: code = PermissionDenied desc = etcdserver: permission denied';
let h: Harness;
let auth: etcdserverpb.AuthClient;

function withToken(token: string | undefined): Metadata {
  const md = new Metadata();
  if (token !== undefined) md.set('token', token);
  return md;
}

/** The request filled with defaults (ts-proto's fromPartial for the method's input type). */
function full<Req>(client: object, method: string, req: Req): Req {
  const def = (client.constructor as unknown as { service: Record<string, { path: string }> }).service[method];
  const typeName = requestTypeOf(def.path)!.split('.').pop()!;
  const T = (etcdserverpb as unknown as Record<string, { fromPartial(o: unknown): Req }>)[typeName];
  return T.fromPartial(req);
}

/** A unary call with metadata; resolves to the response or to the error's details. */
function rpc<Req, Res>(client: object, method: string, req: Partial<Req> | Record<string, unknown>, token?: string): Promise<Res> {
  return new Promise((resolve, reject) => {
    (client as Record<string, (r: Req, md: Metadata, cb: (e: ServiceError | null, r: Res) => void) => void>)[method](
      full(client, method, req as Req),
      withToken(token),
      (err, res) => (err ? reject(err) : resolve(res)),
    );
  });
}

async function errOf(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return 'ok';
  } catch (err) {
    const e = err as ServiceError;
    return `${e.code} ${e.details}`;
  }
}

async function login(name: string, password: string): Promise<string> {
  const r = await rpc<etcdserverpb.AuthenticateRequest, etcdserverpb.AuthenticateResponse>(auth, 'authenticate', { name, password });
  return r.token;
}

const grantPerm = (name: string, permType: authpb.Permission_Type, key: string, rangeEnd: string) =>
  etcdserverpb.AuthRoleGrantPermissionRequest.fromPartial({ name, perm: { permType, key: b(key), rangeEnd: b(rangeEnd) } });

let rootToken = '';
let aliceToken = '';

beforeAll(async () => {
  h = await startHarness({ bcryptCost: 4 });
  auth = new etcdserverpb.AuthClient(h.endpoint, credentials.createInsecure());
  await rpc(auth, 'userAdd', { name: 'root', password: 'rootpw' });
  await rpc(auth, 'userGrantRole', { user: 'root', role: 'root' });
  await rpc(auth, 'roleAdd', { name: 'reader' });
  await rpc(auth, 'roleGrantPermission', grantPerm('reader', authpb.Permission_Type.READWRITE, 'pub/', 'pub0'));
  await rpc(auth, 'userAdd', { name: 'alice', password: 'alicepw' });
  await rpc(auth, 'userGrantRole', { user: 'alice', role: 'reader' });
  await rpc(auth, 'authEnable', {});
  rootToken = await login('root', 'rootpw');
  aliceToken = await login('alice', 'alicepw');
}, 60_000);

afterAll(async () => {
  auth?.close();
  await h?.close();
});

describe('auth over gRPC', () => {
  it('puts and gets inside the permission, permission denied outside, user name is empty without a token', async () => {
    await rpc(h.kv, 'put', { key: b('pub/a'), value: b('1') }, aliceToken);
    const r = await rpc<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(h.kv, 'range', { key: b('pub/a') }, aliceToken);
    expect(r.kvs[0]?.value.toString()).toBe('1');
    expect(await errOf(rpc(h.kv, 'put', { key: b('priv'), value: b('x') }, aliceToken))).toBe('7 etcdserver: permission denied');
    expect(await errOf(rpc(h.kv, 'range', { key: b('priv') }, aliceToken))).toBe('7 etcdserver: permission denied');
    expect(await errOf(rpc(h.kv, 'range', { key: b('pub/a') }))).toBe('3 etcdserver: user name is empty');
    expect(await errOf(rpc(h.kv, 'range', { key: b('pub/a') }, 'bogus.1'))).toBe('16 etcdserver: invalid auth token');
    // A read-only txn is served locally: its compares are checked there too.
    const leak = etcdserverpb.TxnRequest.fromPartial({
      compare: [{ key: b('priv'), target: etcdserverpb.Compare_CompareTarget.VERSION, version: 0n }],
      success: [{ requestRange: { key: b('pub/a') } }],
    });
    expect(await errOf(rpc(h.kv, 'txn', leak, aliceToken))).toBe('7 etcdserver: permission denied');
  });

  it('hole: Lock and Election act as the caller: inside its permission they work, outside they are refused', async () => {
    const lock = new v3lockpb.LockClient(h.endpoint, credentials.createInsecure());
    const election = new v3electionpb.ElectionClient(h.endpoint, credentials.createInsecure());
    const call = <Res>(f: (cb: (e: ServiceError | null, r: Res) => void) => void) =>
      new Promise<Res>((resolve, reject) => f((e, r) => (e ? reject(e) : resolve(r))));
    try {
      const lease = await rpc<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(
        h.lease,
        'leaseGrant',
        { TTL: 30n },
        aliceToken,
      );
      const got = await call<v3lockpb.LockResponse>((cb) =>
        lock.lock(v3lockpb.LockRequest.fromPartial({ name: b('pub/lk'), lease: lease.ID }), withToken(aliceToken), cb),
      );
      expect(got.key.toString()).toMatch(/^pub\/lk\//);
      await call((cb) => lock.unlock(v3lockpb.UnlockRequest.fromPartial({ key: got.key }), withToken(aliceToken), cb));
      // Outside alice's range, and without a token: the KV calls' refusals (as UNKNOWN, as every
      // error of etcd 3.4's v3lock/v3election servers; see recipe_kv.ts).
      const denied = call((cb) =>
        lock.lock(v3lockpb.LockRequest.fromPartial({ name: b('priv/lk'), lease: lease.ID }), withToken(aliceToken), cb),
      );
      expect(await errOf(denied)).toBe('2 etcdserver: permission denied');
      const anon = call((cb) =>
        lock.lock(v3lockpb.LockRequest.fromPartial({ name: b('pub/lk'), lease: lease.ID }), withToken(undefined), cb),
      );
      expect(await errOf(anon)).toBe('2 etcdserver: user name is empty');
      // Election.Leader reads the election's keys: refused outside the permission.
      const leader = call((cb) =>
        election.leader(v3electionpb.LeaderRequest.fromPartial({ name: b('priv/el') }), withToken(aliceToken), cb),
      );
      expect(await errOf(leader)).toBe('2 etcdserver: permission denied');
      const campaign = call((cb) =>
        election.campaign(
          v3electionpb.CampaignRequest.fromPartial({ name: b('priv/el'), lease: lease.ID, value: b('me') }),
          withToken(aliceToken),
          cb,
        ),
      );
      expect(await errOf(campaign)).toBe('2 etcdserver: permission denied');
    } finally {
      lock.close();
      election.close();
    }
  });

  it('wrong password, unknown user: authentication failed (the same answer)', async () => {
    expect(await errOf(login('alice', 'nope'))).toBe('3 etcdserver: authentication failed, invalid user ID or password');
    expect(await errOf(login('nobody', 'nope'))).toBe('3 etcdserver: authentication failed, invalid user ID or password');
  });

  it('hole: LeaseTimeToLive(keys) needs read on every attached key', async () => {
    const g = await rpc<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(h.lease, 'leaseGrant', { TTL: 60n }, rootToken);
    await rpc(h.kv, 'put', { key: b('priv/leased'), value: b('s'), lease: g.ID }, rootToken);
    expect(await errOf(rpc(h.lease, 'leaseTimeToLive', { ID: g.ID, keys: true }, aliceToken))).toBe('7 etcdserver: permission denied');
    expect(await errOf(rpc(h.lease, 'leaseTimeToLive', { ID: g.ID, keys: false }, aliceToken))).toBe('ok');
    expect(await errOf(rpc(h.lease, 'leaseRevoke', { ID: g.ID }, aliceToken))).toBe('7 etcdserver: permission denied');
    expect(await errOf(rpc(h.lease, 'leaseRevoke', { ID: g.ID }, rootToken))).toBe('ok');
  });

  it('hole: defragment, hash, compaction and member changes are root-only', async () => {
    expect(await errOf(rpc(h.maint, 'defragment', {}, aliceToken))).toBe('7 etcdserver: permission denied');
    expect(await errOf(rpc(h.maint, 'hashKv', { revision: 0n }, aliceToken))).toBe('7 etcdserver: permission denied');
    expect(await errOf(rpc(h.kv, 'compact', { revision: 1n }, aliceToken))).toBe('7 etcdserver: permission denied');
    expect(await errOf(rpc(h.cluster, 'memberRemove', { ID: 12345n }, aliceToken))).toBe('7 etcdserver: permission denied');
    expect(await errOf(rpc(h.maint, 'status', {}, aliceToken))).toBe('ok');
    expect(await errOf(rpc(h.maint, 'hashKv', { revision: 0n }, rootToken))).toBe('ok');
    // A server stream: ended with the status before any chunk.
    const snap = h.maint.snapshot(etcdserverpb.SnapshotRequest.fromPartial({}), withToken(aliceToken));
    const ended = await new Promise<string>((resolve) => {
      snap.on('data', () => resolve('data'));
      snap.on('error', (e: ServiceError) => resolve(`${e.code} ${e.details}`));
      snap.on('end', () => resolve('end'));
    });
    expect(ended).toBe('7 etcdserver: permission denied');
  });

  it('hole: a watch outside the range is refused; an open watch is canceled when its role loses the permission', async () => {
    const md = withToken(aliceToken);
    const stream = h.watch.watch(md);
    const got: etcdserverpb.WatchResponse[] = [];
    stream.on('data', (r: etcdserverpb.WatchResponse) => got.push(r));
    stream.on('error', () => undefined);
    const wait = async (n: number) => {
      const deadline = Date.now() + 20_000;
      while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return got[n - 1];
    };
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b('priv'), rangeEnd: b('') } }));
    const denied = await wait(1);
    // etcd's text: Go's status error (rpctypes.ErrGRPCPermissionDenied.Error()).
    expect([denied?.created, denied?.canceled, denied?.cancelReason]).toEqual([true, true, DENIED_REASON]);
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b('pub/'), rangeEnd: b('pub0') } }));
    const created = await wait(2);
    expect([created?.created, created?.canceled]).toEqual([true, false]);
    await rpc(auth, 'roleRevokePermission', { role: 'reader', key: b('pub/'), rangeEnd: b('pub0') }, rootToken);
    const canceled = await wait(3);
    expect([canceled?.watchId, canceled?.canceled, canceled?.cancelReason]).toEqual([created?.watchId, true, DENIED_REASON]);
    stream.end();
    await rpc(auth, 'roleGrantPermission', grantPerm('reader', authpb.Permission_Type.READWRITE, 'pub/', 'pub0'), rootToken);
  });

  it("the member's own proposals run as root: an expired lease's keys are deleted with auth on", async () => {
    const g = await rpc<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(h.lease, 'leaseGrant', { TTL: 2n }, rootToken);
    await rpc(h.kv, 'put', { key: b('priv/expiring'), value: b('x'), lease: g.ID }, rootToken);
    const deadline = Date.now() + 30_000;
    let count = 1n;
    while (count > 0n && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      count = (await rpc<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(h.kv, 'range', { key: b('priv/expiring') }, rootToken))
        .count;
    }
    expect(count).toBe(0n);
  }, 60_000);

  it('bad input gets clear errors: a 1 MiB password, an empty user name, control characters in names', async () => {
    const big = 'x'.repeat(1024 * 1024);
    expect(await errOf(rpc(auth, 'userAdd', { name: 'big', password: big }, rootToken))).toMatch(
      /^3 etcdserver: password is 1048576 bytes; at most 72/,
    );
    expect(await errOf(login('alice', big))).toBe('3 etcdserver: authentication failed, invalid user ID or password');
    expect(await errOf(rpc(auth, 'userAdd', { name: '', password: 'p' }, rootToken))).toBe('3 etcdserver: user name is empty');
    expect(await errOf(rpc(auth, 'roleAdd', { name: 'bad\u0007role' }, rootToken))).toBe(
      '3 etcdserver: role name contains a control character (0x07)',
    );
    expect(await errOf(rpc(auth, 'userAdd', { name: 'a\nb', password: 'p' }, rootToken))).toBe(
      '3 etcdserver: user name contains a control character (0x0a)',
    );
    expect(await errOf(rpc(auth, 'roleGrantPermission', { name: 'reader' }, rootToken))).toBe('3 etcdserver: permission not given');
    // The member still serves.
    expect(await errOf(rpc(h.maint, 'status', {}, rootToken))).toBe('ok');
  });

  it("hole: a deleted user's token stops working at once; a limited user cannot manage auth", async () => {
    await rpc(auth, 'userAdd', { name: 'bob', password: 'bobpw' }, rootToken);
    await rpc(auth, 'userGrantRole', { user: 'bob', role: 'reader' }, rootToken);
    const t = await login('bob', 'bobpw');
    expect(await errOf(rpc(h.kv, 'range', { key: b('pub/a') }, t))).toBe('ok');
    expect(await errOf(rpc(auth, 'userAdd', { name: 'eve', password: 'p' }, t))).toBe('7 etcdserver: permission denied');
    await rpc(auth, 'userDelete', { name: 'bob' }, rootToken);
    expect(await errOf(rpc(h.kv, 'range', { key: b('pub/a') }, t))).toBe('16 etcdserver: invalid auth token');
  });

  it('keeps users, roles, permissions and the enabled flag across a restart; no plain password in the data dir', async () => {
    const before = await rpc<etcdserverpb.AuthRoleGetRequest, etcdserverpb.AuthRoleGetResponse>(
      auth,
      'roleGet',
      { role: 'reader' },
      rootToken,
    );
    await h.restart();
    // Tokens are memory only (as etcd's): log in again.
    rootToken = await login('root', 'rootpw');
    aliceToken = await login('alice', 'alicepw');
    const after = await rpc<etcdserverpb.AuthRoleGetRequest, etcdserverpb.AuthRoleGetResponse>(
      auth,
      'roleGet',
      { role: 'reader' },
      rootToken,
    );
    expect(after.perm).toEqual(before.perm);
    const users = await rpc<etcdserverpb.AuthUserListRequest, etcdserverpb.AuthUserListResponse>(auth, 'userList', {}, rootToken);
    expect(users.users).toEqual(['alice', 'root']); // bob was deleted
    expect(await errOf(rpc(h.kv, 'range', { key: b('priv') }, aliceToken))).toBe('7 etcdserver: permission denied');
    // Neither the WAL nor the backend holds a plain password (grep exits 1: no match).
    const g = spawnSync('grep', ['-rl', '-a', 'alicepw', h.dataDir], { encoding: 'utf8' });
    expect([g.status, g.stdout]).toEqual([1, '']);
  }, 60_000);

  it('disable: everyone may do everything again', async () => {
    await rpc(auth, 'authDisable', {}, rootToken);
    expect(await errOf(rpc(h.kv, 'range', { key: b('priv') }))).toBe('ok');
  });
});

describe('watches opened before AuthEnable', () => {
  it('are canceled at AuthEnable unless their user may read the range', async () => {
    const h2 = await startHarness({ bcryptCost: 4 });
    const a2 = new etcdserverpb.AuthClient(h2.endpoint, credentials.createInsecure());
    try {
      const stream = h2.watch.watch(new Metadata());
      const got: etcdserverpb.WatchResponse[] = [];
      stream.on('data', (r: etcdserverpb.WatchResponse) => got.push(r));
      stream.on('error', () => undefined);
      const wait = async (n: number) => {
        const deadline = Date.now() + 20_000;
        while (got.length < n && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
        return got[n - 1];
      };
      // With auth off an unknown token is still refused, as etcd's isWatchPermitted.
      const bogus = h2.watch.watch(withToken('nosuchtoken.7'));
      const refused = new Promise<etcdserverpb.WatchResponse>((r) => bogus.once('data', r));
      bogus.on('error', () => undefined);
      bogus.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b('k') } }));
      expect(await refused).toMatchObject({
        created: true,
        canceled: true,
        cancelReason: 'rpc error: code = Unauthenticated desc = etcdserver: invalid auth token',
      });
      bogus.end();
      stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b('k') } }));
      const created = await wait(1);
      expect([created?.created, created?.canceled]).toEqual([true, false]);
      await rpc(a2, 'userAdd', { name: 'root', password: 'rootpw' });
      await rpc(a2, 'userGrantRole', { user: 'root', role: 'root' });
      await rpc(a2, 'authEnable', {});
      const canceled = await wait(2);
      expect([canceled?.watchId, canceled?.canceled, canceled?.cancelReason]).toEqual([created?.watchId, true, DENIED_REASON]);
      stream.end();
    } finally {
      a2.close();
      await h2.close();
    }
  }, 60_000);
});

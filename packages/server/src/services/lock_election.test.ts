// The Lock and Election services of one in-process member over real gRPC on loopback: etcd's
// v3lock/v3election semantics (ordering by create revision, lease-bound keys, Observe streaming),
// cancellation and lease loss while waiting, and no watcher left behind by any wait.
import { etcdserverpb, v3electionpb, v3lockpb } from '@kv/api';
import { credentials, Server, ServerCredentials, status, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '@kv/testkit';
import { call, startHarness, type Harness } from '../testutil/harness.js';
import { memberKv, type RecipeKv } from './recipe_kv.js';
import { electionService, observe } from './election.js';
import { RpcError } from '../errors.js';

const b = (s: string) => Buffer.from(s);

interface Pending<T> {
  promise: Promise<T>;
  settled: () => boolean;
  cancel: () => void;
}

/** A unary call that can be cancelled and asked whether it has finished. */
function pending<Req, Res>(client: object, method: string, req: Req): Pending<Res> {
  let done = false;
  let c: { cancel(): void } | undefined;
  const promise = new Promise<Res>((resolve, reject) => {
    c = (client as Record<string, (r: Req, cb: (e: Error | null, r: Res) => void) => { cancel(): void }>)[method](req, (err, res) => {
      done = true;
      if (err) reject(err);
      else resolve(res);
    });
  });
  promise.catch(() => undefined);
  return { promise, settled: () => done, cancel: () => c?.cancel() };
}

async function rpcError(p: Promise<unknown>): Promise<ServiceError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e as ServiceError,
  );
  if (!err) throw new Error('expected the call to fail');
  return err;
}

describe('Lock and Election services', { timeout: 60_000 }, () => {
  let h: Harness;
  let lock: v3lockpb.LockClient;
  let election: v3electionpb.ElectionClient;
  let kv: RecipeKv;

  beforeAll(async () => {
    h = await startHarness();
    lock = new v3lockpb.LockClient(h.endpoint, credentials.createInsecure());
    election = new v3electionpb.ElectionClient(h.endpoint, credentials.createInsecure());
    kv = memberKv(h.server.member);
  });
  afterAll(async () => {
    lock?.close();
    election?.close();
    await h?.close();
  });

  const grant = async (ttl = 60n) =>
    (await call<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(h.lease, 'leaseGrant', { TTL: ttl, ID: 0n })).ID;
  const revoke = (id: bigint) =>
    call<etcdserverpb.LeaseRevokeRequest, etcdserverpb.LeaseRevokeResponse>(h.lease, 'leaseRevoke', { ID: id });
  const lockCall = (name: string, lease: bigint) =>
    pending<v3lockpb.LockRequest, v3lockpb.LockResponse>(lock, 'lock', { name: b(name), lease });
  const unlock = (key: Buffer) => call<v3lockpb.UnlockRequest, v3lockpb.UnlockResponse>(lock, 'unlock', { key });
  const range = (key: string, prefix = false) =>
    call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
      h.kv,
      'range',
      etcdserverpb.RangeRequest.fromPartial({
        key: b(key),
        rangeEnd: prefix ? b(key.slice(0, -1) + String.fromCharCode(key.charCodeAt(key.length - 1) + 1)) : undefined,
      }),
    );
  /** Waits until `n` keys exist under prefix (a waiter has written its key). */
  const keysUnder = (prefix: string, n: number) =>
    until(async () => (await range(prefix, true)).kvs.length === n, { what: `${n} keys under ${prefix}` });
  const idleWatchers = () => until(() => kv.watcherCount() === 0, { what: 'no watchers left' });

  it('grants the lock in create-revision order: one owner at a time, each waiter after the one before', async () => {
    const [l1, l2, l3] = [await grant(), await grant(), await grant()];
    const first = lockCall('mx', l1);
    const r1 = await first.promise;
    expect(r1.key.toString()).toBe(`mx/${l1.toString(16)}`);
    const second = lockCall('mx', l2);
    await keysUnder('mx/', 2);
    const third = lockCall('mx', l3);
    await keysUnder('mx/', 3);
    expect(second.settled()).toBe(false);
    await unlock(r1.key);
    const r2 = await second.promise;
    expect(r2.key.toString()).toBe(`mx/${l2.toString(16)}`);
    // The third waits for the second's key, which still exists.
    expect(third.settled()).toBe(false);
    const owner = (await range(r2.key.toString())).kvs[0];
    expect(owner.lease).toBe(l2);
    await unlock(r2.key);
    const r3 = await third.promise;
    expect(r3.key.toString()).toBe(`mx/${l3.toString(16)}`);
    expect(r3.header!.revision).toBeGreaterThan(r2.header!.revision);
    await unlock(r3.key);
    await idleWatchers();
  });

  it('the same lease locking again reuses its key and owns it at once', async () => {
    const l = await grant();
    const a = await lockCall('again', l).promise;
    const b2 = await lockCall('again', l).promise;
    expect(b2.key).toEqual(a.key);
    await unlock(a.key);
  });

  it('a revoked holder lease releases the lock to the next waiter', async () => {
    const [l1, l2] = [await grant(), await grant()];
    await lockCall('rv', l1).promise;
    const next = lockCall('rv', l2);
    await keysUnder('rv/', 2);
    await revoke(l1);
    expect((await next.promise).key.toString()).toBe(`rv/${l2.toString(16)}`);
    await revoke(l2);
    await idleWatchers();
  });

  it('an expiring holder lease releases the lock (TTL runs out)', async () => {
    const l1 = await grant(1n);
    const l2 = await grant();
    await lockCall('exp', l1).promise;
    const next = lockCall('exp', l2);
    expect((await next.promise).key.toString()).toBe(`exp/${l2.toString(16)}`);
    expect((await range(`exp/${l1.toString(16)}`)).kvs).toEqual([]);
    await revoke(l2);
  }, 30_000);

  it('a waiter whose own lease is revoked fails with ErrSessionExpired and leaves no watcher', async () => {
    const [l1, l2] = [await grant(), await grant()];
    await lockCall('own', l1).promise;
    const waiter = lockCall('own', l2);
    await keysUnder('own/', 2);
    await revoke(l2);
    const err = await rpcError(waiter.promise);
    expect(err.code).toBe(status.UNKNOWN);
    expect(err.details).toBe('mutex: session is expired');
    await revoke(l1);
    await idleWatchers();
  });

  it('a cancelled waiter deletes its key and leaves no watcher; the holder is unaffected', async () => {
    const [l1, l2] = [await grant(), await grant()];
    const held = await lockCall('cx', l1).promise;
    const waiter = lockCall('cx', l2);
    await keysUnder('cx/', 2);
    await until(() => kv.watcherCount() > 0, { what: 'the waiter watches' });
    waiter.cancel();
    expect((await rpcError(waiter.promise)).code).toBe(status.CANCELLED);
    await keysUnder('cx/', 1);
    await idleWatchers();
    expect((await range(held.key.toString())).kvs.length).toBe(1);
    await unlock(held.key);
  });

  it('lock errors as etcd: unknown lease; lease 0 gets a fresh 60 s lease', async () => {
    const err = await rpcError(lockCall('nl', 0x1234n).promise);
    expect(err.code).toBe(status.UNKNOWN);
    expect(err.details).toBe('etcdserver: requested lease not found');
    const r = await lockCall('nl', 0n).promise;
    const kvs = (await range(r.key.toString())).kvs;
    expect(kvs[0].lease).not.toBe(0n);
    expect(r.key.toString()).toBe(`nl/${kvs[0].lease.toString(16)}`);
    const ttl = await call<etcdserverpb.LeaseTimeToLiveRequest, etcdserverpb.LeaseTimeToLiveResponse>(h.lease, 'leaseTimeToLive', {
      ID: kvs[0].lease,
      keys: false,
    });
    expect(ttl.grantedTTL).toBe(60n);
    await revoke(kvs[0].lease);
  });

  const campaign = (name: string, lease: bigint, value: string) =>
    pending<v3electionpb.CampaignRequest, v3electionpb.CampaignResponse>(election, 'campaign', { name: b(name), lease, value: b(value) });
  const proclaim = (leader: v3electionpb.LeaderKey | undefined, value: string) =>
    call<v3electionpb.ProclaimRequest, v3electionpb.ProclaimResponse>(election, 'proclaim', { leader, value: b(value) });
  const resign = (leader: v3electionpb.LeaderKey | undefined) =>
    call<v3electionpb.ResignRequest, v3electionpb.ResignResponse>(election, 'resign', { leader });
  const leader = (name: string) => call<v3electionpb.LeaderRequest, v3electionpb.LeaderResponse>(election, 'leader', { name: b(name) });

  it('campaign, proclaim, resign and leader; Observe sees every leader and value in order', async () => {
    const name = 'el';
    expect((await rpcError(leader(name))).details).toBe('election: no leader');
    const seen: string[] = [];
    const stream: ClientReadableStream<v3electionpb.LeaderResponse> = election.observe({ name: b(name) });
    stream.on('data', (r: v3electionpb.LeaderResponse) => seen.push(r.kv!.value.toString()));
    stream.on('error', () => undefined);
    const [l1, l2] = [await grant(), await grant()];
    const a = await campaign(name, l1, 'a1').promise;
    expect(a.leader!.key.toString()).toBe(`el/${l1.toString(16)}`);
    expect(a.leader!.rev).toBe(a.header!.revision);
    expect(a.leader!.lease).toBe(l1);
    expect(a.leader!.name.toString()).toBe(name);
    await until(() => seen.length === 1, { what: 'first leader observed' });
    const bCamp = campaign(name, l2, 'b1');
    await keysUnder('el/', 2);
    await proclaim(a.leader, 'a2');
    expect((await leader(name)).kv!.value.toString()).toBe('a2');
    // A non-leader cannot proclaim: B's key with A's revision does not match.
    const notLeader = await rpcError(proclaim({ ...a.leader!, key: b(`el/${l2.toString(16)}`) }, 'x'));
    expect(notLeader.code).toBe(status.UNKNOWN);
    expect(notLeader.details).toBe('election: not leader');
    expect(bCamp.settled()).toBe(false);
    await resign(a.leader);
    const bl = (await bCamp.promise).leader!;
    expect(bl.key.toString()).toBe(`el/${l2.toString(16)}`);
    await proclaim(bl, 'b2');
    await until(() => seen.length === 4, { what: 'four observed values' });
    expect(seen).toEqual(['a1', 'a2', 'b1', 'b2']);
    // Resigning a leadership no longer held is no error; proclaiming it is.
    await resign(a.leader);
    expect((await rpcError(proclaim(a.leader, 'late'))).details).toBe('election: not leader');
    expect((await rpcError(proclaim(undefined, 'x'))).details).toBe('"leader" field must be provided');
    expect((await rpcError(resign(undefined))).details).toBe('"leader" field must be provided');
    await revoke(l2);
    await until(() => seen.length === 4 && stream.readable, { what: 'stream still open' });
    stream.cancel();
    await idleWatchers();
  });

  it('campaigning again with the same lease and another value proclaims it', async () => {
    const l = await grant();
    await campaign('same', l, 'v1').promise;
    const again = await campaign('same', l, 'v2').promise;
    expect((await leader('same')).kv!.value.toString()).toBe('v2');
    await resign(again.leader);
    await revoke(l);
  });

  it('a cancelled campaign resigns and leaves no watcher', async () => {
    const [l1, l2] = [await grant(), await grant()];
    await campaign('cc', l1, 'one').promise;
    const waiting = campaign('cc', l2, 'two');
    await keysUnder('cc/', 2);
    waiting.cancel();
    await rpcError(waiting.promise);
    await keysUnder('cc/', 1);
    await idleWatchers();
    await revoke(l1);
  });

  it('observe ends on its abort signal (the hook for require-leader) without a watcher left', async () => {
    const ac = new AbortController();
    const got: string[] = [];
    const done = observe(kv, b('ob'), ac.signal, async (r) => {
      got.push(r.kv!.value.toString());
    });
    const l = await grant();
    await campaign('ob', l, 'x').promise;
    await until(() => got.length === 1, { what: 'observed' });
    ac.abort(new Error('etcdserver: no leader'));
    await expect(done).rejects.toThrow('etcdserver: no leader');
    await idleWatchers();
    await revoke(l);
  });

  it('an Observe stream ended from the server side reaches the client with its status, and leaves no watcher', async () => {
    // What the require-leader monitor and the observeAbort hook do: end the stream with a status.
    // (A destroyed grpc-js stream never sends one: the observer would wait forever.)
    const ac = new AbortController();
    const srv = new Server();
    srv.addService(v3electionpb.ElectionService, electionService(h.server.member, { observeAbort: () => ac.signal }) as never);
    const port = await new Promise<number>((res, rej) =>
      srv.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
    );
    const c = new v3electionpb.ElectionClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const l = await grant();
      await campaign('ob2', l, 'y').promise;
      const stream = c.observe({ name: b('ob2') });
      const ended = new Promise<ServiceError>((resolve) => stream.on('error', resolve));
      const first = await new Promise<v3electionpb.LeaderResponse>((resolve) => stream.once('data', resolve));
      expect(first.kv!.value.toString()).toBe('y');
      ac.abort(new RpcError('NoLeader'));
      const err = await ended;
      expect([err.code, err.details]).toEqual([status.UNAVAILABLE, 'etcdserver: no leader']);
      await idleWatchers();
      await revoke(l);
    } finally {
      c.close();
      srv.forceShutdown();
    }
  });
});

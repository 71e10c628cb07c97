// JWTs on a three-member cluster in one process: a1 and a2 hold the ES256 key pair, a3 only the
// public key (verify-only). A token issued by one member works on every other at once, with no
// replication of the token; a verify-only member refuses to issue; a token signed with another
// key is refused everywhere; after an auth change, and for a deleted user, a JWT is refused with
// etcd's `revision of auth store is old` (checked against etcd 3.4: same code and text).
import { authpb, etcdserverpb } from '@kv/api';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { generateKeyPairSync, type KeyPairKeyObjectResult } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@kv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../config.js';
import { KvServer } from '../server.js';
import { startTestServers, until } from '../testutil/harness.js';
import { JwtTokens } from './jwt.js';
import { ManualClock } from '../testutil/manual_clock.js';
import type { JwtTokenConfig } from './token_options.js';

const b = (s: string) => Buffer.from(s);
const pem = (k: KeyPairKeyObjectResult) => ({
  privateKey: k.privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
  publicKey: k.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
});
const pair = pem(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }));
const foreign = pem(generateKeyPairSync('ec', { namedCurve: 'prime256v1' }));
const jwt = (keys: { privateKey?: string; publicKey?: string }): JwtTokenConfig => ({
  type: 'jwt',
  signMethod: 'ES256',
  ttlMs: 300_000,
  unknownOptions: [],
  privateKey: keys.privateKey === undefined ? undefined : Buffer.from(keys.privateKey),
  publicKey: keys.publicKey === undefined ? undefined : Buffer.from(keys.publicKey),
});

describe('JWT tokens on a three-member cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-jwt-cluster-'));
  const servers: KvServer[] = [];
  const clients: { close(): void }[] = [];
  const endpoint = (i: number) => `127.0.0.1:${servers[i]!.clientPorts[0]}`;
  const unary = <Res>(make: 'auth' | 'kv', i: number, method: string, req: unknown, token?: string): Promise<Res> => {
    const c =
      make === 'auth'
        ? new etcdserverpb.AuthClient(endpoint(i), credentials.createInsecure())
        : new etcdserverpb.KVClient(endpoint(i), credentials.createInsecure());
    clients.push(c);
    const md = new Metadata();
    if (token) md.set('token', token);
    return new Promise((resolve, reject) =>
      (c as unknown as Record<string, (r: unknown, m: Metadata, cb: (e: ServiceError | null, r: Res) => void) => void>)[method](
        req,
        md,
        (e, r) => (e ? reject(e) : resolve(r)),
      ),
    );
  };
  const errOf = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (err) {
      return `${(err as ServiceError).code} ${(err as ServiceError).details}`;
    }
  };
  const R = etcdserverpb;
  const login = async (i: number, name: string, password: string) =>
    (await unary<etcdserverpb.AuthenticateResponse>('auth', i, 'authenticate', R.AuthenticateRequest.fromPartial({ name, password })))
      .token;
  const get = (i: number, key: string, token?: string) => unary('kv', i, 'range', R.RangeRequest.fromPartial({ key: b(key) }), token);
  const put = (i: number, key: string, token?: string) =>
    unary('kv', i, 'put', R.PutRequest.fromPartial({ key: b(key), value: b('v') }), token);

  beforeAll(async () => {
    servers.push(
      ...(await startTestServers(['a1', 'a2', 'a3'], (name, i, { clientUrl, peerUrl, initialCluster }) =>
        resolveConfig({
          name,
          dataDir: join(dir, name),
          listenClientUrls: [clientUrl],
          advertiseClientUrls: [clientUrl],
          listenPeerUrls: [peerUrl],
          initialAdvertisePeerUrls: [peerUrl],
          initialCluster,
          initialClusterToken: 'jwt-cluster',
          unsafeNoFsync: true,
          bcryptCost: 4,
          authToken: jwt(i < 2 ? pair : { publicKey: pair.publicKey }),
        }),
      )),
    );
    await until('root added', () => unary('auth', 0, 'userAdd', R.AuthUserAddRequest.fromPartial({ name: 'root', password: 'rootpw' })));
    await unary('auth', 0, 'userGrantRole', R.AuthUserGrantRoleRequest.fromPartial({ user: 'root', role: 'root' }));
    await unary('auth', 0, 'roleAdd', R.AuthRoleAddRequest.fromPartial({ name: 'pub' }));
    await unary(
      'auth',
      0,
      'roleGrantPermission',
      R.AuthRoleGrantPermissionRequest.fromPartial({
        name: 'pub',
        perm: { permType: authpb.Permission_Type.READWRITE, key: b('pub/'), rangeEnd: b('pub0') },
      }),
    );
    for (const u of ['alice', 'bob']) {
      await unary('auth', 0, 'userAdd', R.AuthUserAddRequest.fromPartial({ name: u, password: `${u}pw` }));
      await unary('auth', 0, 'userGrantRole', R.AuthUserGrantRoleRequest.fromPartial({ user: u, role: 'pub' }));
    }
    await unary('auth', 0, 'authEnable', R.AuthEnableRequest.fromPartial({}));
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s.stop().catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a JWT issued by one member works on every member, the verify-only one too', async () => {
    const t = await login(1, 'alice', 'alicepw');
    expect(t.split('.')).toHaveLength(3);
    for (const i of [0, 1, 2]) {
      expect(await errOf(put(i, 'pub/x', t))).toBe('ok');
      expect(await errOf(get(i, 'pub/x', t))).toBe('ok');
      expect(await errOf(get(i, 'secret', t))).toBe('7 etcdserver: permission denied');
    }
  });

  it('a verify-only member cannot issue (etcd: UNKNOWN, its ErrVerifyOnly text); a wrong password fails first', async () => {
    expect(await errOf(login(2, 'alice', 'alicepw'))).toBe('2 auth: token signing attempted with verify-only key');
    expect(await errOf(login(2, 'alice', 'nope'))).toBe('3 etcdserver: authentication failed, invalid user ID or password');
  });

  it('a token signed with another key, or tampered with, is an invalid auth token everywhere', async () => {
    const clock = new ManualClock(Date.now());
    const forged = await new JwtTokens(jwt(foreign), clock).issue({ username: 'root', revision: 1000n });
    const real = await login(0, 'alice', 'alicepw');
    const tampered = real.slice(0, -4) + (real.endsWith('AAAA') ? 'BBBB' : 'AAAA');
    for (const i of [0, 1, 2]) {
      expect(await errOf(get(i, 'pub/x', forged))).toBe('16 etcdserver: invalid auth token');
      expect(await errOf(get(i, 'pub/x', tampered))).toBe('16 etcdserver: invalid auth token');
    }
  });

  it("@kv/client authenticates again when its JWT got old (an auth change since), as etcd's client", async () => {
    const c = new Client({
      endpoints: [endpoint(0), endpoint(1)],
      auth: { username: 'alice', password: 'alicepw' },
      requestTimeoutMs: 20_000,
    });
    try {
      await c.put('pub/c', '1');
      const root = await login(0, 'root', 'rootpw');
      await unary('auth', 0, 'roleAdd', R.AuthRoleAddRequest.fromPartial({ name: 'unrelated' }), root);
      // Its token names the old auth revision: refused once, then a fresh token.
      await c.put('pub/c', '2');
      expect((await c.get('pub/c')).kvs[0]?.value.toString()).toBe('2');
    } finally {
      c.close();
    }
  });

  it("after an auth change a JWT is refused as old (etcd); a deleted user's JWT stays refused", async () => {
    const bob = await login(0, 'bob', 'bobpw');
    const root = await login(1, 'root', 'rootpw');
    expect(await errOf(get(2, 'pub/x', bob))).toBe('ok');
    await unary('auth', 1, 'userDelete', R.AuthUserDeleteRequest.fromPartial({ name: 'bob' }), root);
    // Every member has applied the delete once a1 has (its linearizable read waits for it).
    for (const i of [0, 1, 2]) {
      await until(`delete applied on a${i + 1}`, async () => ((await errOf(get(i, 'pub/x', bob))) === 'ok' ? undefined : true));
      expect(await errOf(get(i, 'pub/x', bob))).toBe('3 etcdserver: revision of auth store is old');
      expect(await errOf(put(i, 'pub/x', bob))).toBe('3 etcdserver: revision of auth store is old');
    }
    expect(await errOf(login(0, 'bob', 'bobpw'))).toBe('3 etcdserver: authentication failed, invalid user ID or password');
    // A fresh token of a user that still exists works again.
    const alice = await login(1, 'alice', 'alicepw');
    for (const i of [0, 1, 2]) expect(await errOf(get(i, 'pub/x', alice))).toBe('ok');
  });
});

// Auth state on a three-member cluster in one process: replicated through raft, tokens known to
// every member (a token from one member works on another at once), kept through the loss of the
// leader, and carried by a snapshot to a member that fell behind.
import { authpb, etcdserverpb } from '@kv/api';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig, type ServerConfig } from '../config.js';
import { KvServer } from '../server.js';
import { startTestServers, until } from '../testutil/harness.js';

const b = (s: string) => Buffer.from(s);

describe('auth on a three-member cluster', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-auth-cluster-'));
  const configs: ServerConfig[] = [];
  const servers: (KvServer | undefined)[] = [];
  const endpoint = (i: number) => `127.0.0.1:${servers[i]!.clientPorts[0]}`;
  const clients: { close(): void }[] = [];
  const client = <C extends { close(): void }>(
    make: new (addr: string, creds: ReturnType<typeof credentials.createInsecure>) => C,
    i: number,
  ): C => {
    const c = new make(endpoint(i), credentials.createInsecure());
    clients.push(c);
    return c;
  };
  const md = (token?: string) => {
    const m = new Metadata();
    if (token) m.set('token', token);
    return m;
  };
  const unary = <Res>(c: object, method: string, req: unknown, token?: string): Promise<Res> =>
    new Promise((resolve, reject) =>
      (c as Record<string, (r: unknown, m: Metadata, cb: (e: ServiceError | null, r: Res) => void) => void>)[method](
        req,
        md(token),
        (e, r) => (e ? reject(e) : resolve(r)),
      ),
    );
  const auth = (i: number) => client(etcdserverpb.AuthClient, i);
  const kv = (i: number) => client(etcdserverpb.KVClient, i);
  const errOf = async (p: Promise<unknown>) => {
    try {
      await p;
      return 'ok';
    } catch (err) {
      return (err as ServiceError).details;
    }
  };
  const login = async (i: number, name: string, password: string) =>
    (
      await unary<etcdserverpb.AuthenticateResponse>(
        auth(i),
        'authenticate',
        etcdserverpb.AuthenticateRequest.fromPartial({ name, password }),
      )
    ).token;
  const get = (i: number, key: string, token?: string) =>
    unary<etcdserverpb.RangeResponse>(kv(i), 'range', etcdserverpb.RangeRequest.fromPartial({ key: b(key) }), token);

  beforeAll(async () => {
    servers.push(
      ...(await startTestServers(['a1', 'a2', 'a3'], (name, i, { clientUrl, peerUrl, initialCluster }) => {
        configs[i] = resolveConfig({
          name,
          dataDir: join(dir, name),
          listenClientUrls: [clientUrl],
          advertiseClientUrls: [clientUrl],
          listenPeerUrls: [peerUrl],
          initialAdvertisePeerUrls: [peerUrl],
          initialCluster,
          initialClusterToken: 'auth-cluster',
          snapshotCount: 50,
          snapshotCatchUpEntries: 10,
          unsafeNoFsync: true,
          bcryptCost: 4,
        });
        return configs[i];
      })),
    );
    const a = auth(0);
    const R = etcdserverpb;
    await until('root added', () => unary(a, 'userAdd', R.AuthUserAddRequest.fromPartial({ name: 'root', password: 'rootpw' })));
    await unary(a, 'userGrantRole', R.AuthUserGrantRoleRequest.fromPartial({ user: 'root', role: 'root' }));
    await unary(a, 'roleAdd', R.AuthRoleAddRequest.fromPartial({ name: 'pub' }));
    await unary(
      a,
      'roleGrantPermission',
      R.AuthRoleGrantPermissionRequest.fromPartial({
        name: 'pub',
        perm: { permType: authpb.Permission_Type.READWRITE, key: b('pub/'), rangeEnd: b('pub0') },
      }),
    );
    await unary(a, 'userAdd', R.AuthUserAddRequest.fromPartial({ name: 'alice', password: 'alicepw' }));
    await unary(a, 'userGrantRole', R.AuthUserGrantRoleRequest.fromPartial({ user: 'alice', role: 'pub' }));
    await unary(a, 'authEnable', R.AuthEnableRequest.fromPartial({}));
  }, 90_000);

  afterAll(async () => {
    for (const c of clients) c.close();
    await Promise.all(servers.map((s) => s?.stop().catch(() => undefined)));
    rmSync(dir, { recursive: true, force: true });
  });

  it('a token from one member works on every member at once', async () => {
    const t = await login(1, 'alice', 'alicepw');
    for (const i of [2, 0, 1]) expect(await errOf(get(i, 'pub/x', t))).toBe('ok');
    for (const i of [0, 1, 2]) expect(await errOf(get(i, 'secret', t))).toBe('etcdserver: permission denied');
  });

  it('LeaseTimeToLive(keys) through a follower is checked for the caller (its token goes to the leader)', async () => {
    const rootToken = await login(0, 'root', 'rootpw');
    const aliceToken = await login(0, 'alice', 'alicepw');
    const lease = client(etcdserverpb.LeaseClient, 0);
    const g = await unary<etcdserverpb.LeaseGrantResponse>(
      lease,
      'leaseGrant',
      etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: 60n }),
      rootToken,
    );
    await unary(kv(0), 'put', etcdserverpb.PutRequest.fromPartial({ key: b('secret/l'), value: b('x'), lease: g.ID }), rootToken);
    const follower = servers.findIndex((x) => x !== undefined && !x.member.consensus.isLeader());
    const ttl = (token: string) =>
      unary<etcdserverpb.LeaseTimeToLiveResponse>(
        client(etcdserverpb.LeaseClient, follower),
        'leaseTimeToLive',
        etcdserverpb.LeaseTimeToLiveRequest.fromPartial({ ID: g.ID, keys: true }),
        token,
      );
    expect((await ttl(rootToken)).keys.map(String)).toEqual(['secret/l']);
    expect(await errOf(ttl(aliceToken))).toBe('etcdserver: permission denied');
  });

  it('keeps auth through the loss of the leader, and a member that fell behind gets it by snapshot', async () => {
    const leader = servers.findIndex((s) => s?.member.consensus.isLeader());
    expect(leader).toBeGreaterThanOrEqual(0);
    await servers[leader]!.stop();
    servers[leader] = undefined;
    const live = [0, 1, 2].filter((i) => i !== leader);
    const rootToken = await until('root logs in on a survivor', () => login(live[0], 'root', 'rootpw'));
    // While it is down: alice loses pub/, bob appears, and enough writes for a snapshot.
    await unary(
      auth(live[0]),
      'roleRevokePermission',
      etcdserverpb.AuthRoleRevokePermissionRequest.fromPartial({ role: 'pub', key: b('pub/'), rangeEnd: b('pub0') }),
      rootToken,
    );
    await unary(auth(live[0]), 'userAdd', etcdserverpb.AuthUserAddRequest.fromPartial({ name: 'bob', password: 'bobpw' }), rootToken);
    for (let n = 0; n < 120; n++)
      await unary(kv(live[1]), 'put', etcdserverpb.PutRequest.fromPartial({ key: b(`s${n}`), value: b('x') }), rootToken);
    const logged: string[] = [];
    servers[leader] = await KvServer.start({
      config: configs[leader],
      logger: pino({ level: 'info' }, { write: (l: string) => void logged.push(l) }),
    });
    await until('caught up', async () =>
      servers[leader]!.member.store.currentRev() >= servers[live[0]]!.member.store.currentRev() ? true : undefined,
    );
    expect(logged.some((l) => l.includes('installed snapshot'))).toBe(true);
    const m = servers[leader]!.member;
    expect([m.auth.enabled, m.auth.userList(), m.auth.roleGet('pub')]).toEqual([true, ['alice', 'bob', 'root'], []]);
    // And it enforces that state: alice is denied, bob can log in through it.
    const t = await login(leader, 'alice', 'alicepw');
    expect(await errOf(get(leader, 'pub/x', t))).toBe('etcdserver: permission denied');
    expect(await errOf(login(leader, 'bob', 'bobpw'))).toBe('ok');
  }, 120_000);
});

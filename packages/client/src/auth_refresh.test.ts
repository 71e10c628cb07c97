// An authenticated client survives a member restart: tokens live in the member's memory only, so
// after the restart every token the client holds is `invalid auth token`. Unary calls, the watch
// stream (its watchers are created again from where they were, as etcd's Go client does), lease
// keep-alives and the Lock/Election clients made from the Client log in again by themselves.
// Also the Auth API itself (users, roles, permissions) against real etcd and kvd.
import { describe, expect, it } from 'vitest';
import { authpb, type mvccpb } from '@kv/api';
import { serverKinds, startServer } from '@kv/testkit';
import { Client, ElectionClient, LockClient, PermissionDeniedError, strToPermissionType } from './index.js';

async function next<T>(it: AsyncIterator<T>, ms: number): Promise<IteratorResult<T>> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, rej) => {
    timer = setTimeout(() => rej(new Error(`no item within ${ms}ms`)), ms);
  });
  try {
    return await Promise.race([it.next(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

for (const { kind, skip } of serverKinds()) {
  describe.skipIf(skip !== undefined)(`auth token refresh against ${kind}`, () => {
    it('keeps unary calls, watches, keep-alives, Lock and Election working across a restart', async () => {
      const server = await startServer(kind);
      const admin = new Client({ endpoints: [server.endpoint], requestTimeoutMs: 20_000 });
      let c: Client | undefined;
      try {
        // users, roles and permissions through the Auth API
        await admin.auth.userAdd('root', 'rootpw');
        await admin.auth.userAdd('app', 'apppw');
        await admin.auth.roleAdd('app');
        await admin.auth.roleGrantPermission('app', 'w/', 'w0', strToPermissionType('readwrite'));
        await admin.auth.userGrantRole('app', 'app');
        expect((await admin.auth.roleGet('app')).perm).toEqual([
          { permType: authpb.Permission_Type.READWRITE, key: Buffer.from('w/'), rangeEnd: Buffer.from('w0') },
        ]);
        expect((await admin.auth.userList()).users).toEqual(['app', 'root']);
        await admin.auth.roleAdd('root');
        await admin.auth.userGrantRole('root', 'root');
        await admin.auth.authEnable();

        c = new Client({ endpoints: [server.endpoint], requestTimeoutMs: 20_000, auth: { username: 'root', password: 'rootpw' } });
        const app = new Client({ endpoints: [server.endpoint], requestTimeoutMs: 20_000, auth: { username: 'app', password: 'apppw' } });
        try {
          await app.put('w/a', '1');
          expect(await app.put('x', '1').catch((e: unknown) => e)).toBeInstanceOf(PermissionDeniedError);
        } finally {
          app.close();
        }

        const w = c.watch('w/', { prefix: true });
        await w.created;
        const events = w[Symbol.asyncIterator]();
        await c.put('w/b', '1');
        expect((await next(events, 20_000)).value!.events[0]!.kv!.key.toString()).toBe('w/b');
        const g = await c.lease.grant(60);
        const ka = c.lease.keepAlive(g.ID);
        const kas = ka[Symbol.asyncIterator]();
        expect((await next(kas, 20_000)).value!.ID).toBe(g.ID);
        const locks = new LockClient(c);
        const elections = new ElectionClient(c);
        const before = await locks.lock('L', g.ID, { timeoutMs: 20_000 });
        await locks.unlock(before.key, { timeoutMs: 20_000 });

        await server.restart();

        // every token the client holds is unknown to the restarted member now
        await c.put('w/c', '2', { timeoutMs: 30_000 });
        const r = await next(events, 30_000);
        expect(r.value!.events.map((e: mvccpb.Event) => e.kv!.key.toString())).toEqual(['w/c']);
        // a watch created after the restart (same stream, new token)
        const w2 = c.watch('w/d');
        await w2.created;
        await c.put('w/d', '3');
        expect((await next(w2[Symbol.asyncIterator](), 20_000)).value!.events[0]!.kv!.value.toString()).toBe('3');
        // the keep-alive goes on (it is never answered for a lease the member lost: it was not)
        const k = await next(kas, 30_000);
        expect(k.done).toBe(false);
        expect(k.value!.ID).toBe(g.ID);
        // Lock and Election log in again too
        const after = await locks.lock('L', g.ID, { timeoutMs: 30_000 });
        expect(after.key.toString().startsWith('L/')).toBe(true);
        await locks.unlock(after.key, { timeoutMs: 20_000 });
        const won = await elections.campaign('E', g.ID, 'me', { timeoutMs: 20_000 });
        expect((await elections.leader('E', { timeoutMs: 20_000 })).kv!.value.toString()).toBe('me');
        await elections.resign(won.leader!, { timeoutMs: 20_000 });
        ka.stop();
        w.cancel();
        w2.cancel();
        locks.close();
        elections.close();
      } finally {
        c?.close();
        admin.close();
        await server.stop();
      }
    }, 180_000);
  });
}

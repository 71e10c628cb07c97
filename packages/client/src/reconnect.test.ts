// Behaviour across a server restart, and the auth token flow. Each test starts its own server.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import type { mvccpb } from '@kv/api';
import { AuthFailedError, Client, EtcdError } from './index.js';
import { ETCDCTL_BIN, serverKinds, startServer } from '@kv/testkit';

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
  describe.skipIf(skip !== undefined)(`restart of ${kind}`, () => {
    it('resumes watchers and keep-alives after the server restarts', async () => {
      const server = await startServer(kind);
      const client = new Client({ endpoints: [server.endpoint] });
      try {
        const w = client.watch('rc/', { prefix: true });
        await w.created;
        const it = w[Symbol.asyncIterator]();
        await client.put('rc/a', '1');
        expect((await next(it, 10_000)).value!.events[0]!.kv!.key.toString()).toBe('rc/a');
        // The keep-alive ends by itself when no answer comes within the TTL (as Go's client):
        // the TTL must outlast the restart, which takes ~6 s for kvd on a loaded machine.
        const g = await client.lease.grant(30);
        const ka = client.lease.keepAlive(g.ID);
        const kit = ka[Symbol.asyncIterator]();
        expect((await next(kit, 10_000)).value!.ID).toBe(g.ID);

        await server.restart();

        await client.put('rc/b', '2', { timeoutMs: 20_000 });
        const r = await next(it, 20_000);
        // Exactly the events after the last delivered one: nothing lost, nothing repeated.
        expect(r.value!.events.map((e: mvccpb.Event) => e.kv!.key.toString())).toEqual(['rc/b']);
        const k = await next(kit, 20_000);
        expect(k.done).toBe(false);
        expect(k.value!.ID).toBe(g.ID);
        ka.stop();
        w.cancel();
      } finally {
        client.close();
        await server.stop();
      }
    }, 90_000);
  });
}

describe('auth (real etcd)', () => {
  it('logs in, sends the token, and reports bad credentials', async () => {
    const server = await startServer('etcd');
    const ctl = (...args: string[]) =>
      execFileSync(ETCDCTL_BIN, [`--endpoints=${server.endpoint}`, ...args], {
        env: { ETCDCTL_API: '3', PATH: process.env.PATH ?? '' },
        stdio: 'pipe',
      });
    try {
      ctl('user', 'add', 'root:secret');
      ctl('auth', 'enable');
      const good = new Client({ endpoints: [server.endpoint], auth: { username: 'root', password: 'secret' } });
      const anon = new Client({ endpoints: [server.endpoint] });
      const bad = new Client({ endpoints: [server.endpoint], auth: { username: 'root', password: 'wrong' } });
      try {
        await good.put('a/k', 'v', { timeoutMs: 10_000 });
        expect((await good.get('a/k')).kvs[0]!.value.toString()).toBe('v');
        const w = good.watch('a/k');
        await w.created;
        w.cancel();
        const anonErr = await anon.get('a/k', { timeoutMs: 10_000 }).catch((e) => e);
        expect(anonErr).toBeInstanceOf(EtcdError);
        expect(await bad.get('a/k', { timeoutMs: 10_000 }).catch((e) => e)).toBeInstanceOf(AuthFailedError);
      } finally {
        good.close();
        anon.close();
        bad.close();
      }
    } finally {
      await server.stop();
    }
  }, 60_000);
});

// The `etcd3` npm client, unchanged, against kvd.
import { startServer, type RunningServer } from '@kv/testkit';
import { Etcd3 } from 'etcd3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

describe('etcd3 npm client against kvd', () => {
  let server: RunningServer;
  let client: Etcd3;
  beforeAll(async () => {
    server = await startServer('kvd', { name: 'e1' });
    client = new Etcd3({ hosts: server.endpoint });
  }, 30_000);
  afterAll(async () => {
    client?.close();
    await server?.stop();
  });

  it('puts, gets, lists prefixes, deletes', async () => {
    await client.put('fruit/apple').value('red');
    await client.put('fruit/banana').value('yellow');
    expect(await client.get('fruit/apple').string()).toBe('red');
    expect(await client.getAll().prefix('fruit/').strings()).toEqual({ 'fruit/apple': 'red', 'fruit/banana': 'yellow' });
    expect(await client.getAll().prefix('fruit/').count()).toBe(2);
    await client.delete().key('fruit/apple');
    expect(await client.get('fruit/apple').string()).toBeNull();
  });

  it('runs if/then/else transactions', async () => {
    await client.put('cas').value('1');
    const ok = await client.if('cas', 'Value', '==', '1').then(client.put('cas').value('2')).else(client.get('cas')).commit();
    expect(ok.succeeded).toBe(true);
    const no = await client.if('cas', 'Value', '==', '1').then(client.put('cas').value('3')).commit();
    expect(no.succeeded).toBe(false);
    expect(await client.get('cas').string()).toBe('2');
  });

  it('grants leases and attaches keys', async () => {
    const lease = client.lease(60, { autoKeepAlive: false });
    await lease.put('leased').value('v');
    expect(await client.get('leased').string()).toBe('v');
    const ka = await lease.keepaliveOnce();
    expect(Number(ka.TTL)).toBe(60);
    await lease.revoke();
    expect(await client.get('leased').string()).toBeNull();
  });

  it('watches', async () => {
    const watcher = await client.watch().key('watched').create();
    const seen = new Promise<string>((resolve) => watcher.on('put', (kv) => resolve(kv.value.toString())));
    await client.put('watched').value('hello');
    expect(await seen).toBe('hello');
    await watcher.cancel();
  });
});

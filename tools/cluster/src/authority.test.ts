// etcdctl's --cluster commands dial every member by its full client URL, so grpc-go sends
// `:authority: http://127.0.0.1:port`, which Node's HTTP/2 server (nghttp2) resets with
// PROTOCOL_ERROR unless kvd fixes it on the connection (packages/server/src/authority.ts).
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster, type Cluster } from './index.js';

const run = promisify(execFile);

async function etcdctlInstalled(): Promise<boolean> {
  try {
    await run('etcdctl', ['version'], { timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

const haveEtcdctl = await etcdctlInstalled();

describe.skipIf(!haveEtcdctl)('etcdctl --cluster commands against a kvd cluster of three (needs etcdctl on PATH)', () => {
  let cluster: Cluster;
  let endpoint: string;
  const ctl = (...args: string[]) =>
    run('etcdctl', ['--endpoints', endpoint, '--command-timeout', '20s', ...args], {
      timeout: 60_000,
      env: { ...process.env, ETCDCTL_API: '3' },
    });

  beforeAll(async () => {
    cluster = await startCluster({ server: 'kvd', size: 3, readyTimeoutMs: 30_000, stopTimeoutMs: 5_000 });
    endpoint = cluster.members[0].endpoint;
  }, 60_000);

  afterAll(async () => {
    await cluster?.stop();
  });

  const urls = () => cluster.members.map((m) => (m.endpoint.startsWith('http') ? m.endpoint : `http://${m.endpoint}`)).sort();

  it('endpoint status --cluster: every member answers', async () => {
    const { stdout, stderr } = await ctl('endpoint', 'status', '--cluster', '-w', 'json');
    expect(stderr).not.toMatch(/PROTOCOL_ERROR|Failed/);
    const rows = JSON.parse(stdout) as { Endpoint: string; Status: { header: { member_id: number } } }[];
    expect(rows.map((r) => r.Endpoint).sort()).toEqual(urls());
    expect(new Set(rows.map((r) => r.Status.header.member_id)).size).toBe(3);
  }, 90_000);

  it('endpoint hashkv --cluster: every member answers', async () => {
    const { stdout, stderr } = await ctl('endpoint', 'hashkv', '--cluster', '-w', 'json');
    expect(stderr).not.toMatch(/PROTOCOL_ERROR|Failed/);
    const rows = JSON.parse(stdout) as { Endpoint: string; HashKV: { hash: number } }[];
    expect(rows.map((r) => r.Endpoint).sort()).toEqual(urls());
    for (const r of rows) expect(typeof r.HashKV.hash).toBe('number');
  }, 90_000);

  it('defrag --cluster: every member is defragmented', async () => {
    const { stdout, stderr } = await ctl('defrag', '--cluster');
    expect(stderr).not.toMatch(/PROTOCOL_ERROR|Failed/);
    const done = stdout
      .split('\n')
      .filter((l) => l.startsWith('Finished defragmenting etcd member['))
      .map((l) => l.slice('Finished defragmenting etcd member['.length, -1))
      .sort();
    expect(done).toEqual(urls());
  }, 90_000);
});

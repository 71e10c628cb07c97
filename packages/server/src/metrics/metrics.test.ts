// /metrics of real in-process members (gRPC and HTTP over loopback TCP): etcd 3.4's names and
// types, counters that move with requests, --metrics extensive, --listen-metrics-urls, and a
// 3-member cluster's leader gauges and peer traffic.
import { etcdserverpb } from '@kv/api';
import { rmSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KvServer } from '../server.js';
import { call, loopbackMemberConfig, startHarness, startTestServers, until, type Harness } from '../testutil/harness.js';
import { parseScrape, value, type Scrape } from '../testutil/prom_scrape.js';
import { MemberCounters } from './counters.js';

/**
 * From a real etcd 3.4.23's /metrics (single member, --metrics extensive, after one put and one
 * get), `# TYPE` lines filtered to issue 13's names and the others kvd implements; the peer
 * metrics, which a single etcd member does not list, from etcdserver/api/rafthttp/metrics.go.
 */
const etcd34Types: [string, string][] = [
  ['etcd_cluster_version', 'gauge'],
  ['etcd_debugging_mvcc_compact_revision', 'gauge'],
  ['etcd_debugging_mvcc_current_revision', 'gauge'],
  ['etcd_debugging_mvcc_db_total_size_in_bytes', 'gauge'],
  ['etcd_debugging_mvcc_delete_total', 'counter'],
  ['etcd_debugging_mvcc_keys_total', 'gauge'],
  ['etcd_debugging_mvcc_put_total', 'counter'],
  ['etcd_debugging_mvcc_range_total', 'counter'],
  ['etcd_debugging_mvcc_slow_watcher_total', 'gauge'],
  ['etcd_debugging_mvcc_total_put_size_in_bytes', 'gauge'],
  ['etcd_debugging_mvcc_txn_total', 'counter'],
  ['etcd_debugging_mvcc_watch_stream_total', 'gauge'],
  ['etcd_debugging_mvcc_watcher_total', 'gauge'],
  ['etcd_disk_backend_commit_duration_seconds', 'histogram'],
  ['etcd_disk_backend_snapshot_duration_seconds', 'histogram'],
  ['etcd_disk_wal_fsync_duration_seconds', 'histogram'],
  ['etcd_disk_wal_write_bytes_total', 'gauge'],
  ['etcd_mvcc_db_total_size_in_bytes', 'gauge'],
  ['etcd_mvcc_db_total_size_in_use_in_bytes', 'gauge'],
  ['etcd_mvcc_delete_total', 'counter'],
  ['etcd_mvcc_put_total', 'counter'],
  ['etcd_mvcc_range_total', 'counter'],
  ['etcd_mvcc_txn_total', 'counter'],
  ['etcd_network_client_grpc_received_bytes_total', 'counter'],
  ['etcd_network_client_grpc_sent_bytes_total', 'counter'],
  ['etcd_network_peer_received_bytes_total', 'counter'],
  ['etcd_network_peer_round_trip_time_seconds', 'histogram'],
  ['etcd_network_peer_sent_bytes_total', 'counter'],
  ['etcd_network_peer_sent_failures_total', 'counter'],
  ['etcd_server_has_leader', 'gauge'],
  ['etcd_server_heartbeat_send_failures_total', 'counter'],
  ['etcd_server_id', 'gauge'],
  ['etcd_server_is_leader', 'gauge'],
  ['etcd_server_is_learner', 'gauge'],
  ['etcd_server_leader_changes_seen_total', 'counter'],
  ['etcd_server_proposals_applied_total', 'gauge'],
  ['etcd_server_proposals_committed_total', 'gauge'],
  ['etcd_server_proposals_failed_total', 'counter'],
  ['etcd_server_proposals_pending', 'gauge'],
  ['etcd_server_quota_backend_bytes', 'gauge'],
  ['etcd_server_slow_apply_total', 'counter'],
  ['etcd_server_version', 'gauge'],
  ['grpc_server_handled_total', 'counter'],
  ['grpc_server_handling_seconds', 'histogram'],
  ['grpc_server_msg_received_total', 'counter'],
  ['grpc_server_msg_sent_total', 'counter'],
  ['grpc_server_started_total', 'counter'],
  ['process_cpu_seconds_total', 'counter'],
  ['process_max_fds', 'gauge'],
  ['process_open_fds', 'gauge'],
  ['process_resident_memory_bytes', 'gauge'],
  ['process_start_time_seconds', 'gauge'],
  ['process_virtual_memory_bytes', 'gauge'],
];

async function scrape(port: number, path = '/metrics'): Promise<Scrape> {
  const res = await fetch(`http://127.0.0.1:${port}${path}`);
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
  return parseScrape(await res.text());
}

const putOk = { grpc_type: 'unary', grpc_service: 'etcdserverpb.KV', grpc_method: 'Put', grpc_code: 'OK' };

describe('GET /metrics on one member (--metrics extensive, --listen-metrics-urls)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ metrics: 'extensive', listenMetricsUrls: ['http://127.0.0.1:0'] });
  });
  afterAll(async () => {
    await h?.close();
  });

  it("exports etcd 3.4's metric names with etcd's types, and the nodejs_* defaults", async () => {
    const s = await scrape(h.server.clientPorts[0]!);
    const missing = etcd34Types.filter(([n]) => !s.types.has(n)).map(([n]) => n);
    expect(missing).toEqual([]);
    const wrongType = etcd34Types.filter(([n, t]) => s.types.get(n) !== t).map(([n, t]) => `${n}: ${s.types.get(n)} (etcd: ${t})`);
    expect(wrongType).toEqual([]);
    expect([...s.types.keys()].some((n) => n.startsWith('nodejs_'))).toBe(true);
    // The member's identity and versions as etcd's info gauges.
    expect(value(s, 'etcd_server_id', { server_id: h.server.member.memberId.toString(16) })).toBe(1);
    expect(value(s, 'etcd_cluster_version', { cluster_version: '3.4' })).toBe(1);
    expect(value(s, 'etcd_server_has_leader')).toBe(1);
    expect(value(s, 'etcd_server_is_leader')).toBe(1);
    // Every method is listed from the start, at 0, with every code (go-grpc-prometheus pre-registers them).
    expect(value(s, 'grpc_server_handled_total', { ...putOk, grpc_code: 'Unavailable' })).toBe(0);
    expect(
      value(s, 'grpc_server_started_total', { grpc_type: 'bidi_stream', grpc_service: 'etcdserverpb.Watch', grpc_method: 'Watch' }),
    ).toBe(0);
  });

  it('counts a put: mvcc puts, the gRPC method by code, messages, client bytes, the handling histogram, keys', async () => {
    const port = h.server.clientPorts[0]!;
    const before = await scrape(port);
    await call(h.kv, 'put', etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('m/a'), value: Buffer.from('1') }));
    await call(h.kv, 'range', etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('m/a') }));
    await expect(call(h.kv, 'range', etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('') }))).rejects.toThrow(
      /key is not provided/,
    );
    // The backend commits its batch after the apply, on its own schedule: wait for that commit.
    const moved = (x: Awaited<ReturnType<typeof scrape>>, name: string) => (value(x, name) ?? 0) - (value(before, name) ?? 0);
    const after = await until('the backend commit is counted', async () => {
      const x = await scrape(port);
      return moved(x, 'etcd_disk_backend_commit_duration_seconds_count') >= 1 ? x : undefined;
    });
    const delta = (name: string, labels: Record<string, string> = {}) =>
      (value(after, name, labels) ?? NaN) - (value(before, name, labels) ?? 0);
    expect(delta('etcd_mvcc_put_total')).toBe(1);
    expect(delta('etcd_debugging_mvcc_put_total')).toBe(1);
    expect(delta('etcd_mvcc_range_total')).toBe(1);
    expect(delta('grpc_server_handled_total', putOk)).toBe(1);
    expect(delta('grpc_server_started_total', { grpc_type: 'unary', grpc_service: 'etcdserverpb.KV', grpc_method: 'Put' })).toBe(1);
    expect(delta('grpc_server_msg_sent_total', { grpc_type: 'unary', grpc_service: 'etcdserverpb.KV', grpc_method: 'Put' })).toBe(1);
    expect(delta('grpc_server_handled_total', { ...putOk, grpc_method: 'Range', grpc_code: 'InvalidArgument' })).toBe(1);
    expect(delta('grpc_server_handling_seconds_count', { grpc_type: 'unary', grpc_service: 'etcdserverpb.KV', grpc_method: 'Put' })).toBe(
      1,
    );
    expect(delta('etcd_network_client_grpc_received_bytes_total')).toBeGreaterThan(0);
    expect(delta('etcd_network_client_grpc_sent_bytes_total')).toBeGreaterThan(0);
    expect(delta('etcd_server_proposals_applied_total')).toBeGreaterThanOrEqual(1);
    expect(delta('etcd_disk_backend_commit_duration_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(delta('etcd_disk_wal_write_bytes_total')).toBeGreaterThan(0);
    expect(value(after, 'etcd_debugging_mvcc_keys_total')).toBeGreaterThanOrEqual(1);
    // etcd's buckets: 1 ms doubling to 8.192 s.
    expect(after.text).toContain('etcd_disk_wal_fsync_duration_seconds_bucket{le="8.192"}');
    expect(after.text).toContain('etcd_disk_backend_snapshot_duration_seconds_bucket{le="655.36"}');
  });

  it('counts watchers and watch streams while a watch is open', async () => {
    const port = h.server.clientPorts[0]!;
    const stream = h.watch.watch();
    stream.on('error', () => undefined);
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from('m/w') } }));
    const s = await until('the watcher is counted', async () => {
      const x = await scrape(port);
      return (value(x, 'etcd_debugging_mvcc_watcher_total') ?? 0) >= 1 ? x : undefined;
    });
    expect(value(s, 'etcd_debugging_mvcc_watch_stream_total')).toBeGreaterThanOrEqual(1);
    expect(
      value(s, 'grpc_server_msg_received_total', { grpc_type: 'bidi_stream', grpc_service: 'etcdserverpb.Watch', grpc_method: 'Watch' }),
    ).toBe(1);
    stream.cancel();
  });

  it('--listen-metrics-urls serves /metrics and the health endpoints on its own port, nothing else', async () => {
    const port = h.server.metricsPorts[0]!;
    expect(port).toBeGreaterThan(0);
    expect(port).not.toBe(h.server.clientPorts[0]);
    const s = await scrape(port);
    expect(s.types.get('etcd_server_has_leader')).toBe('gauge');
    const health = await fetch(`http://127.0.0.1:${port}/health`);
    expect(await health.json()).toEqual({ health: 'true', reason: '' });
    expect((await fetch(`http://127.0.0.1:${port}/version`)).status).toBe(404);
    const post = await fetch(`http://127.0.0.1:${port}/metrics`, { method: 'POST' });
    expect(post.status).toBe(405);
  });
});

describe('--metrics basic', () => {
  it('has no grpc_server_handling_seconds', async () => {
    const h = await startHarness();
    try {
      const s = await scrape(h.server.clientPorts[0]!);
      expect(s.types.has('grpc_server_handling_seconds')).toBe(false);
      expect(s.types.get('grpc_server_handled_total')).toBe('counter');
    } finally {
      await h.close();
    }
  });
});

describe('a 3-member cluster', () => {
  const dirs: string[] = [];
  let servers: KvServer[] = [];
  beforeAll(async () => {
    servers = await startTestServers(['m1', 'm2', 'm3'], (name, _i, u) => {
      const dataDir = mkdtempSync(join(tmpdir(), `kv-metrics-${name}-`));
      dirs.push(dataDir);
      return loopbackMemberConfig(name, dataDir, u);
    });
  });
  afterAll(async () => {
    for (const s of servers) await s.stop().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('the leader reports is_leader 1, the others 0, all has_leader 1; peer bytes grow', async () => {
    await until('a leader known everywhere', async () =>
      servers.every((s) => s.member.consensus.leader() !== 0n && s.member.consensus.leader() === servers[0]!.member.consensus.leader())
        ? true
        : undefined,
    );
    const leaderId = servers[0]!.member.consensus.leader();
    const scrapes = await Promise.all(servers.map((s) => scrape(s.clientPorts[0]!)));
    for (const [i, s] of scrapes.entries()) {
      expect(value(s, 'etcd_server_has_leader')).toBe(1);
      expect(value(s, 'etcd_server_is_leader')).toBe(servers[i]!.member.memberId === leaderId ? 1 : 0);
    }
    const leader = servers.find((s) => s.member.memberId === leaderId)!;
    const follower = servers.find((s) => s.member.memberId !== leaderId)!;
    const to = follower.member.memberId.toString(16);
    const from = leaderId.toString(16);
    const sent0 = value(await scrape(leader.clientPorts[0]!), 'etcd_network_peer_sent_bytes_total', { To: to }) ?? 0;
    const recv0 = value(await scrape(follower.clientPorts[0]!), 'etcd_network_peer_received_bytes_total', { From: from }) ?? 0;
    const creds = (await import('@grpc/grpc-js')).credentials.createInsecure();
    const kv = new etcdserverpb.KVClient(`127.0.0.1:${leader.clientPorts[0]}`, creds);
    try {
      await call(kv, 'put', etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('m/peer'), value: Buffer.alloc(1000, 1) }));
    } finally {
      kv.close();
    }
    await until('the follower applied the put', async () => (follower.member.store.keyCount() >= 1 ? true : undefined));
    const sent1 = value(await scrape(leader.clientPorts[0]!), 'etcd_network_peer_sent_bytes_total', { To: to }) ?? 0;
    const recv1 = value(await scrape(follower.clientPorts[0]!), 'etcd_network_peer_received_bytes_total', { From: from }) ?? 0;
    expect(sent1 - sent0).toBeGreaterThanOrEqual(1000);
    expect(recv1 - recv0).toBeGreaterThanOrEqual(1000);
    // mvcc puts are counted where they are applied: on every member.
    expect(value(await scrape(follower.clientPorts[0]!), 'etcd_mvcc_put_total')).toBe(1);
  });
});

describe('MemberCounters', () => {
  it("counts a txn as etcd's metricsTxnWrite: compares and ranges as ranges, ops of the branch taken, nested txns", () => {
    const c = new MemberCounters();
    const put = { requestPut: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('k'), value: Buffer.from('vv') }) };
    const req = etcdserverpb.TxnRequest.fromPartial({
      compare: [{ key: Buffer.from('k') }],
      success: [put, { requestTxn: { success: [put, { requestDeleteRange: { key: Buffer.from('k') } }] } }],
      failure: [{ requestRange: { key: Buffer.from('k') } }],
    });
    const resp = etcdserverpb.TxnResponse.fromPartial({
      succeeded: true,
      responses: [{ responsePut: {} }, { responseTxn: { succeeded: true, responses: [{ responsePut: {} }, { responseDeleteRange: {} }] } }],
    });
    c.countTxn(req, resp);
    expect({ range: c.range, put: c.put, deleteRange: c.deleteRange, txn: c.txn, putBytes: c.putBytes }).toEqual({
      range: 1,
      put: 2,
      deleteRange: 1,
      txn: 1,
      putBytes: 6,
    });
    // A txn of one operation is not a txn to etcd.
    c.countTxn(etcdserverpb.TxnRequest.fromPartial({ success: [put] }), etcdserverpb.TxnResponse.fromPartial({ succeeded: true }));
    expect(c.txn).toBe(1);
    expect(c.put).toBe(3);
  });
});

// /metrics on a real three-member cluster, kvd beside etcd 3.4 (the oracle): has_leader 1 on
// every member and is_leader 1 on the agreed leader only; a put through the leader moves
// grpc_server_handled_total{grpc_method="Put",grpc_code="OK"} there and etcd_mvcc_put_total on
// every member (each applies it); the leader's etcd_network_peer_sent_bytes_total to each follower
// and the followers' received bytes from it grow by at least the value's size. The metric names
// both servers export have the same TYPE.
import { Client } from '@kv/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster, unavailableReason } from './index.js';
import { agreedLeader } from './leader.js';
import { until } from './until.js';

interface Scrape {
  types: Map<string, string>;
  samples: Map<string, number>;
}

async function scrape(clientUrl: string): Promise<Scrape> {
  const res = await fetch(`${clientUrl}/metrics`, { signal: AbortSignal.timeout(20_000) });
  expect(res.status).toBe(200);
  const types = new Map<string, string>();
  const samples = new Map<string, number>();
  for (const line of (await res.text()).split('\n')) {
    const t = /^# TYPE (\S+) (\S+)$/.exec(line);
    if (t) types.set(t[1]!, t[2]!);
    else if (line !== '' && !line.startsWith('#')) {
      const i = line.lastIndexOf(' ');
      samples.set(line.slice(0, i), Number(line.slice(i + 1)));
    }
  }
  return { types, samples };
}

/** A sample's value, its labels matched in any order (Go and prom-client sort them differently). */
function value(s: Scrape, name: string, labels: Record<string, string> = {}): number {
  const want = Object.entries(labels).map(([k, v]) => `${k}="${v}"`);
  for (const [key, v] of s.samples) {
    const m = /^([^{]+)(?:\{(.*)\})?$/.exec(key);
    if (!m || m[1] !== name) continue;
    const have = m[2] ? m[2].split(',') : [];
    if (have.length === want.length && want.every((w) => have.includes(w))) return v;
  }
  return 0; // a labelled series not yet created reads as 0, as Prometheus treats it
}

const putOk = { grpc_type: 'unary', grpc_service: 'etcdserverpb.KV', grpc_method: 'Put', grpc_code: 'OK' };
const typesSeen: Record<string, Map<string, string>> = {};

for (const server of ['kvd', 'etcd'] as const) {
  const skip = unavailableReason(server);
  describe.skipIf(skip !== undefined)(`${server}: /metrics on three members`, () => {
    let cluster: Cluster;
    const clients: Client[] = [];

    beforeAll(async () => {
      cluster = await startCluster({ server, size: 3, readyTimeoutMs: 60_000, stopTimeoutMs: 5_000 });
      for (const m of cluster.members) clients.push(new Client({ endpoints: [m.endpoint], requestTimeoutMs: 10_000 }));
    }, 120_000);

    afterAll(async () => {
      for (const c of clients) c.close();
      await cluster?.stop();
    });

    it('leader gauges, counters moved by a put, peer bytes', async () => {
      const { index: li } = await agreedLeader(clients, 30_000);
      const ids = await Promise.all(
        clients.map(async (c) => (await c.maintenance.status({ timeoutMs: 5_000 })).header!.memberId.toString(16)),
      );
      const before = await Promise.all(cluster.members.map((m) => scrape(m.clientUrl)));
      typesSeen[server] = before[0]!.types;
      for (const [i, s] of before.entries()) {
        expect(value(s, 'etcd_server_has_leader')).toBe(1);
        expect(value(s, 'etcd_server_is_leader')).toBe(i === li ? 1 : 0);
        expect(value(s, 'etcd_server_id', { server_id: ids[i]! })).toBe(1);
      }
      await clients[li]!.put('metrics/k', 'x'.repeat(4096), { timeoutMs: 10_000 });
      // Followers apply a little later; wait until each has counted the put.
      const after = await until('every member counted the put', async () => {
        const s = await Promise.all(cluster.members.map((m) => scrape(m.clientUrl)));
        return s.every((x, i) => value(x, 'etcd_mvcc_put_total') - value(before[i]!, 'etcd_mvcc_put_total') >= 1) ? s : undefined;
      });
      expect(value(after[li]!, 'grpc_server_handled_total', putOk) - value(before[li]!, 'grpc_server_handled_total', putOk)).toBe(1);
      for (const [i, id] of ids.entries()) {
        if (i === li) continue;
        const sent = (s: Scrape) => value(s, 'etcd_network_peer_sent_bytes_total', { To: id });
        const recv = (s: Scrape) => value(s, 'etcd_network_peer_received_bytes_total', { From: ids[li]! });
        expect(sent(after[li]!) - sent(before[li]!)).toBeGreaterThanOrEqual(4096);
        expect(recv(after[i]!) - recv(before[i]!)).toBeGreaterThanOrEqual(4096);
      }
    });
  });
}

describe.skipIf(unavailableReason('kvd') !== undefined || unavailableReason('etcd') !== undefined)('kvd and etcd', () => {
  it('give the names both export the same TYPE', () => {
    const kvd = typesSeen.kvd;
    const etcd = typesSeen.etcd;
    expect(kvd && etcd).toBeTruthy();
    const both = [...kvd!.keys()].filter((n) => etcd!.has(n));
    expect(both.length).toBeGreaterThan(40);
    expect(both.filter((n) => kvd!.get(n) !== etcd!.get(n)).map((n) => `${n}: kvd ${kvd!.get(n)}, etcd ${etcd!.get(n)}`)).toEqual([]);
  });
});

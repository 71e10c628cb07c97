// etcd 3.4's own Grafana dashboard and Prometheus alert rules (as Debian's etcd-server ships them
// in /usr/share/doc/etcd-server/op-guide/) against a 3-member kv cluster's /metrics: every metric
// they select is exported with the label values they match on, the dashboard's sums come out
// as etcd's would, and docs/operations.md names exactly the alerts that work.
import { etcdserverpb } from '@kv/api';
import { credentials } from '@grpc/grpc-js';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import type { KvServer } from '../server.js';
import { call, loopbackMemberConfig, startTestServers, until } from '../testutil/harness.js';
import { sampleLabels, scrape, sumOf, type Scrape } from '../testutil/prom_scrape.js';

const opGuide = '/usr/share/doc/etcd-server/op-guide';
const rulesFile = join(opGuide, 'etcd3_alert.rules.yml.gz');
const grafanaFile = join(opGuide, 'grafana.json.gz');
const operationsDoc = new URL('../../../../docs/operations.md', import.meta.url);
const missing = [rulesFile, grafanaFile].find((f) => !existsSync(f));

/** The v2 API's metrics the 3.4 rules query; kvd serves v3 only (docs/operations.md says so). */
const v2Only = new Set(['etcd_http_failed_total', 'etcd_http_received_total', 'etcd_http_successful_duration_seconds_bucket']);
/** Prometheus' own series, not a member's. */
const prometheusOwn = new Set(['up']);

interface Selector {
  metric: string;
  /** Equality matchers other than job/instance (which Prometheus adds at scrape). */
  equal: Record<string, string>;
}

/**
 * The selectors of a PromQL expression: `metric{matchers}` or a bare `metric[range]` (every
 * selector in etcd's files has one of the two; function names and `by (...)` labels have neither).
 */
function selectors(expr: string): Selector[] {
  const out: Selector[] = [];
  for (const m of expr.matchAll(/([a-zA-Z_:][a-zA-Z0-9_:]*)\s*(?:\{([^}]*)\}|\[)/g)) {
    const equal: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/(\w+)\s*(=~|!~|!=|=)\s*"([^"]*)"/g)) {
      if (l[2] === '=' && l[1] !== 'job' && l[1] !== 'instance') equal[l[1]!] = l[3]!;
    }
    out.push({ metric: m[1]!, equal });
  }
  return out;
}

/** Is `metric` (possibly a histogram's _bucket/_sum/_count series) exported, with a sample matching `equal`? */
function exported(s: Scrape, sel: Selector): boolean {
  const base = sel.metric.replace(/_(bucket|sum|count)$/, '');
  const name = s.types.has(sel.metric) ? sel.metric : s.types.get(base) === 'histogram' ? base : undefined;
  if (name === undefined) return false;
  for (const key of s.samples.keys()) {
    const got = sampleLabels(key);
    if (got?.name !== sel.metric) continue;
    if (Object.entries(sel.equal).every(([k, v]) => got.labels.get(k) === v)) return true;
  }
  return false;
}

interface Rule {
  alert: string;
  expr: string;
}

function loadRules(): Rule[] {
  const doc = parseYaml(gunzipSync(readFileSync(rulesFile)).toString('utf8')) as { groups: { rules: Rule[] }[] };
  return doc.groups.flatMap((g) => g.rules);
}

function loadDashboardExprs(): string[] {
  const exprs: string[] = [];
  const walk = (x: unknown): void => {
    if (Array.isArray(x)) for (const y of x) walk(y);
    else if (x !== null && typeof x === 'object') {
      for (const [k, v] of Object.entries(x)) {
        if (k === 'expr' && typeof v === 'string') exprs.push(v);
        else walk(v);
      }
    }
  };
  walk(JSON.parse(gunzipSync(readFileSync(grafanaFile)).toString('utf8')));
  return exprs;
}

describe.skipIf(missing !== undefined)("etcd 3.4's dashboard and alert rules on a 3-member cluster (--metrics extensive)", () => {
  const dirs: string[] = [];
  let servers: KvServer[] = [];
  let scrapes: Scrape[] = [];
  beforeAll(async () => {
    servers = await startTestServers(['d1', 'd2', 'd3'], (name, _i, u) => {
      const dataDir = mkdtempSync(join(tmpdir(), `kv-dash-${name}-`));
      dirs.push(dataDir);
      return loopbackMemberConfig(name, dataDir, u, { metrics: 'extensive' });
    });
    await until('a leader known everywhere', async () =>
      servers.every((s) => s.member.consensus.leader() !== 0n && s.member.consensus.leader() === servers[0]!.member.consensus.leader())
        ? true
        : undefined,
    );
    // One put through the leader so the histograms the dashboard reads have observations.
    const leader = servers.find((s) => s.member.memberId === s.member.consensus.leader())!;
    const kv = new etcdserverpb.KVClient(`127.0.0.1:${leader.clientPorts[0]}`, credentials.createInsecure());
    try {
      await call(kv, 'put', etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('dash/k'), value: Buffer.from('v') }));
    } finally {
      kv.close();
    }
    // Peer round trips are observed by the HTTP/2 pings every 5 s (etcd's prober: every 30 s);
    // as with etcd, the series exists once the first one is measured.
    scrapes = await until(
      'a peer round trip measured on every member',
      async () => {
        const all = await Promise.all(servers.map((s) => scrape(s.clientPorts[0]!)));
        return all.every((s) => exported(s, { metric: 'etcd_network_peer_round_trip_time_seconds_bucket', equal: {} })) ? all : undefined;
      },
      60_000,
    );
  }, 90_000);
  afterAll(async () => {
    for (const s of servers) await s.stop().catch(() => undefined);
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('every metric the Grafana dashboard selects is exported by every member, with the label values it matches', () => {
    const exprs = loadDashboardExprs();
    expect(exprs.length).toBeGreaterThan(10);
    const absent = new Set<string>();
    for (const sel of exprs.flatMap(selectors)) {
      for (const [i, s] of scrapes.entries()) if (!exported(s, sel)) absent.add(`${sel.metric}${JSON.stringify(sel.equal)} on member ${i}`);
    }
    expect([...absent]).toEqual([]);
  });

  it("the dashboard's panels add up: three members with a leader, and the open watch stream counted as active", async () => {
    expect(scrapes.reduce((n, s) => n + sumOf(s, 'etcd_server_has_leader'), 0)).toBe(3);
    // "Active Streams": started - handled of the Watch service's bidi streams.
    const target = servers[1]!;
    const activeWatches = (s: Scrape): number =>
      sumOf(s, 'grpc_server_started_total', { grpc_service: 'etcdserverpb.Watch', grpc_type: 'bidi_stream' }) -
      sumOf(s, 'grpc_server_handled_total', { grpc_service: 'etcdserverpb.Watch', grpc_type: 'bidi_stream' });
    const before = activeWatches(await scrape(target.clientPorts[0]!));
    const watch = new etcdserverpb.WatchClient(`127.0.0.1:${target.clientPorts[0]}`, credentials.createInsecure());
    try {
      const stream = watch.watch();
      stream.on('error', () => undefined);
      stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: Buffer.from('dash/w') } }));
      await until('the watch stream is active on the dashboard', async () =>
        activeWatches(await scrape(target.clientPorts[0]!)) === before + 1 ? true : undefined,
      );
      stream.cancel();
      await until('and no longer once it ended', async () =>
        activeWatches(await scrape(target.clientPorts[0]!)) === before ? true : undefined,
      );
    } finally {
      watch.close();
    }
  });

  it('the alert rules select only exported metrics, except the v2 API ones; docs/operations.md names which alerts work', () => {
    const rules = loadRules();
    expect(rules.length).toBeGreaterThan(5);
    const working = new Set<string>();
    const notWorking = new Set<string>();
    const unknown: string[] = [];
    for (const r of rules) {
      let works = true;
      for (const sel of selectors(r.expr)) {
        if (prometheusOwn.has(sel.metric)) continue;
        if (scrapes.every((s) => exported(s, sel))) continue;
        works = false;
        if (!v2Only.has(sel.metric)) unknown.push(`${r.alert}: ${sel.metric}${JSON.stringify(sel.equal)}`);
      }
      (works ? working : notWorking).add(r.alert);
    }
    expect(unknown).toEqual([]);
    // The doc lists the working alerts, then (after "These query the v2 API") the others.
    const doc = readFileSync(operationsDoc, 'utf8');
    const start = doc.indexOf("Of etcd 3.4's Prometheus rules");
    const split = doc.indexOf('These query the v2 API', start);
    expect(start).toBeGreaterThanOrEqual(0);
    expect(split).toBeGreaterThan(start);
    const named = (text: string) => new Set([...text.matchAll(/`(etcd[A-Za-z]+)`/g)].map((m) => m[1]!));
    const [saysWorking, saysNot] = [named(doc.slice(start, split)), named(doc.slice(split, doc.indexOf('\n\n', split)))];
    for (const a of saysNot) saysWorking.delete(a);
    expect([...saysWorking].sort()).toEqual([...working].sort());
    expect([...saysNot].sort()).toEqual([...notWorking].sort());
  });
});

// etcd 3.4's JSON gateway, kvd beside etcd: one curl script (the same requests, in order) runs
// against a one-member kvd and a one-member etcd, and every answer — HTTP status and body — is
// compared after normalising what differs by nature (ids, terms, raft indexes, db sizes, URLs,
// tokens, hashes). Covers KV (put, range, deleterange, txn, compaction and a compacted read),
// leases (grant, timetolive, leases, revoke), member list, status, alarm list, auth (user and
// role add, enable, authenticate, a call with and without the token, a denied call), bad JSON
// (status and code only: the parser's wording differs), /v3beta/, an unknown path and a GET.
// Then a second script over https on three members of each: writes through followers, reads and
// streams at every member, a token got at one member used at another.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { makeTestCerts, opensslUnavailable, type TestCerts } from '@kv/testkit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster, unavailableReason } from './index.js';

const run = promisify(execFile);
const b64 = (s: string) => Buffer.from(s).toString('base64');

interface Answer {
  status: number;
  body: unknown;
}

/** One POST (or other method) with curl; the status line is appended by -w. */
async function curl(
  base: string,
  path: string,
  body: string | undefined,
  opts: { method?: string; token?: string; seconds?: number; cacert?: string } = {},
): Promise<Answer> {
  const args = ['-s', '-N', '-m', String(opts.seconds ?? 20), '-X', opts.method ?? 'POST', '-w', '\n%{http_code}', `${base}${path}`];
  if (opts.cacert) args.push('--cacert', opts.cacert);
  if (body !== undefined) args.push('-d', body);
  if (opts.token) args.push('-H', `Authorization: ${opts.token}`);
  // A stream ends when -m's time is up (curl exits 28): its output so far is the answer.
  const { stdout } = await run('curl', args, { timeout: 30_000 }).catch((err: { code?: number; stdout?: string }) => {
    if (err.code === 28 && typeof err.stdout === 'string') return { stdout: err.stdout };
    throw err;
  });
  const nl = stdout.lastIndexOf('\n');
  const text = stdout.slice(0, nl);
  let parsed: unknown = text;
  try {
    parsed =
      opts.seconds === undefined
        ? JSON.parse(text)
        : text
            .split('\n')
            .filter((l) => l !== '')
            .map((l) => JSON.parse(l));
  } catch {
    // plain text answers (404, 405) stay text
  }
  return { status: Number(stdout.slice(nl + 1)), body: parsed };
}

// Values that differ between any two clusters, replaced by their key's name.
const volatile = new Set([
  'cluster_id',
  'member_id',
  'raft_term',
  'ID',
  'leader',
  'dbSize',
  'dbSizeInUse',
  'raftIndex',
  'raftAppliedIndex',
  'raftTerm',
  'version',
  'token',
  'hash',
  'peerURLs',
  'clientURLs',
  'name',
  'memberID',
  'TTL',
]);
function normalise(v: unknown, key = ''): unknown {
  if (volatile.has(key)) return `<${key}>`;
  if (Array.isArray(v)) return v.map((x) => normalise(x));
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, normalise(x, k)]));
  return v;
}

/** The script: each step's answer, normalised; the token from authenticate is used after it. */
async function script(base: string): Promise<Record<string, Answer>> {
  const out: Record<string, Answer> = {};
  const step = async (name: string, path: string, body?: string, opts?: { method?: string; token?: string; seconds?: number }) => {
    const a = await curl(base, path, body, opts);
    out[name] = { status: a.status, body: normalise(a.body) };
    return a;
  };
  await step('put', '/v3/kv/put', JSON.stringify({ key: b64('foo'), value: b64('bar') }));
  await step('put2', '/v3/kv/put', JSON.stringify({ key: b64('foo'), value: b64('baz'), prev_kv: true }));
  await step('range', '/v3/kv/range', JSON.stringify({ key: b64('foo') }));
  await step('range-beta', '/v3beta/kv/range', JSON.stringify({ key: b64('f'), range_end: b64('g'), keysOnly: true }));
  await step(
    'txn',
    '/v3/kv/txn',
    JSON.stringify({
      compare: [{ key: b64('foo'), result: 'EQUAL', target: 'VALUE', value: b64('baz') }],
      success: [{ request_put: { key: b64('t'), value: b64('1') } }, { request_range: { key: b64('foo') } }],
      failure: [{ request_delete_range: { key: b64('foo') } }],
    }),
  );
  await step('compaction', '/v3/kv/compaction', JSON.stringify({ revision: '3' }));
  await step('compacted', '/v3/kv/range', JSON.stringify({ key: b64('foo'), revision: '2' }));
  await step('future', '/v3/kv/range', JSON.stringify({ key: b64('foo'), revision: '100' }));
  await step('deleterange', '/v3/kv/deleterange', JSON.stringify({ key: b64('t'), prev_kv: true }));
  await step('no-key', '/v3/kv/put', '{}');
  await step('lease-grant', '/v3/lease/grant', JSON.stringify({ TTL: 600, ID: '4242' }));
  await step('lease-put', '/v3/kv/put', JSON.stringify({ key: b64('l'), value: b64('v'), lease: '4242' }));
  await step('lease-ttl', '/v3/lease/timetolive', JSON.stringify({ ID: '4242', keys: true }));
  await step('lease-ttl-kv', '/v3/kv/lease/timetolive', JSON.stringify({ ID: '4242' }));
  await step('leases', '/v3/lease/leases', '{}');
  // Streams, bounded by curl's -m: the history of foo from revision 3 (no waiting on a put), one keep-alive.
  await step('watch', '/v3/watch', JSON.stringify({ create_request: { key: b64('foo'), start_revision: '3' } }), { seconds: 3 });
  await step('keepalive', '/v3/lease/keepalive', JSON.stringify({ ID: '4242' }), { seconds: 3 });
  await step('lease-revoke', '/v3/lease/revoke', JSON.stringify({ ID: '4242' }));
  await step('lease-revoke-again', '/v3/lease/revoke', JSON.stringify({ ID: '4242' }));
  await step('member-list', '/v3/cluster/member/list', '{}');
  await step('status', '/v3/maintenance/status', '{}');
  await step('alarm', '/v3/maintenance/alarm', JSON.stringify({ action: 'GET' }));
  await step('bad-json', '/v3/kv/range', '{bad');
  await step('unknown-path', '/v3/kv/nope', '{}');
  await step('get', '/v3/kv/range', undefined, { method: 'GET' });
  await step('role-add', '/v3/auth/role/add', JSON.stringify({ name: 'r' }));
  await step('user-add-root', '/v3/auth/user/add', JSON.stringify({ name: 'root', password: 'rootpw' }));
  await step('grant-root', '/v3/auth/user/grant', JSON.stringify({ user: 'root', role: 'root' }));
  await step('user-add', '/v3/auth/user/add', JSON.stringify({ name: 'u', password: 'upw' }));
  await step('grant-u', '/v3/auth/user/grant', JSON.stringify({ user: 'u', role: 'r' }));
  await step('auth-enable', '/v3/auth/enable', '{}');
  await step('no-token', '/v3/kv/put', JSON.stringify({ key: b64('a'), value: b64('b') }));
  await step('bad-password', '/v3/auth/authenticate', JSON.stringify({ name: 'root', password: 'nope' }));
  const root = (await step('auth-root', '/v3/auth/authenticate', JSON.stringify({ name: 'root', password: 'rootpw' }))).body as {
    token: string;
  };
  await step('root-put', '/v3/kv/put', JSON.stringify({ key: b64('a'), value: b64('b') }), { token: root.token });
  const u = (await step('auth-u', '/v3/auth/authenticate', JSON.stringify({ name: 'u', password: 'upw' }))).body as { token: string };
  await step('denied-put', '/v3/kv/put', JSON.stringify({ key: b64('a'), value: b64('c') }), { token: u.token });
  await step('denied-status', '/v3/maintenance/status', '{}', { token: u.token });
  await step('user-list', '/v3/auth/user/list', '{}', { token: root.token });
  await step('bad-token', '/v3/kv/range', JSON.stringify({ key: b64('a') }), { token: 'junk' });
  return out;
}

const skip = unavailableReason('kvd') ?? unavailableReason('etcd');
describe.skipIf(skip !== undefined)('JSON gateway: the same curl script on kvd and etcd 3.4', () => {
  const clusters: Cluster[] = [];
  beforeAll(async () => {
    for (const server of ['kvd', 'etcd'] as const) clusters.push(await startCluster({ server, size: 1, readyTimeoutMs: 60_000 }));
  }, 150_000);
  afterAll(async () => {
    for (const c of clusters) await c.stop();
  });

  it("answers every step with etcd's status and body", async () => {
    const [kvd, etcd] = [await script(clusters[0]!.members[0]!.clientUrl), await script(clusters[1]!.members[0]!.clientUrl)];
    // The JSON parser's wording differs from Go's encoding/json: compare status and code only.
    for (const a of [kvd, etcd]) a['bad-json'] = { status: a['bad-json']!.status, body: (a['bad-json']!.body as { code: number }).code };
    // kvd's Status (gRPC too) leaves dbSizeInUse out when its backend reports none in use.
    for (const step of ['status', 'denied-status'])
      for (const a of [kvd, etcd]) delete (a[step]!.body as { dbSizeInUse?: string }).dbSizeInUse;
    expect(kvd).toEqual(etcd);
    expect(Object.keys(kvd)).toEqual(Object.keys(etcd));
  }, 120_000);
});

/**
 * Three members over https: each step goes to a chosen member (writes through followers, reads,
 * streams and a token from one member used at another), curl checking the members' certificate
 * against the test CA.
 */
async function clusterScript(bases: readonly string[], cacert: string): Promise<{ steps: Record<string, Answer>; leaders: unknown[] }> {
  const steps: Record<string, Answer> = {};
  const at = async (i: number, name: string, path: string, body?: string, opts: { token?: string; seconds?: number } = {}) => {
    const a = await curl(bases[i]!, path, body, { ...opts, cacert });
    steps[name] = { status: a.status, body: normalise(a.body) };
    return a;
  };
  const leaders: unknown[] = [];
  for (const i of [0, 1, 2]) {
    await at(i, `member-list-${i}`, '/v3/cluster/member/list', '{}');
    leaders.push(((await at(i, `status-${i}`, '/v3/maintenance/status', '{}')).body as { leader?: string }).leader);
  }
  await at(1, 'put-m2', '/v3/kv/put', JSON.stringify({ key: b64('k'), value: b64('v1') }));
  await at(2, 'put-m3', '/v3/kv/put', JSON.stringify({ key: b64('k'), value: b64('v2'), prev_kv: true }));
  for (const i of [0, 1, 2]) await at(i, `range-${i}`, '/v3/kv/range', JSON.stringify({ key: b64('k') }));
  await at(0, 'serializable', '/v3/kv/range', JSON.stringify({ key: b64('k'), serializable: true, keys_only: true }));
  await at(
    2,
    'txn-m3',
    '/v3/kv/txn',
    JSON.stringify({
      compare: [{ key: b64('k'), result: 'EQUAL', target: 'VERSION', version: '2' }],
      success: [{ request_put: { key: b64('t'), value: b64('1') } }],
    }),
  );
  await at(1, 'watch-m2', '/v3/watch', JSON.stringify({ create_request: { key: b64('k'), start_revision: '2' } }), { seconds: 3 });
  await at(2, 'lease-grant-m3', '/v3/lease/grant', JSON.stringify({ TTL: 600, ID: '77' }));
  // Keep-alives and time-to-live at every member: followers forward them to the leader.
  for (const i of [0, 1, 2]) {
    await at(i, `lease-ttl-${i}`, '/v3/lease/timetolive', JSON.stringify({ ID: '77' }));
    await at(i, `keepalive-${i}`, '/v3/lease/keepalive', JSON.stringify({ ID: '77' }), { seconds: 3 });
  }
  await at(1, 'alarm-m2', '/v3/maintenance/alarm', JSON.stringify({ action: 'GET' }));
  await at(0, 'user-add-root', '/v3/auth/user/add', JSON.stringify({ name: 'root', password: 'rootpw' }));
  await at(1, 'grant-root', '/v3/auth/user/grant', JSON.stringify({ user: 'root', role: 'root' }));
  await at(2, 'auth-enable', '/v3/auth/enable', '{}');
  await at(1, 'no-token-m2', '/v3/kv/range', JSON.stringify({ key: b64('k') }));
  const root = (await at(0, 'auth-m1', '/v3/auth/authenticate', JSON.stringify({ name: 'root', password: 'rootpw' }))).body as {
    token: string;
  };
  // A simple token is known to every member (it is assigned through the log).
  await at(2, 'token-at-m3', '/v3/kv/range', JSON.stringify({ key: b64('k') }), { token: root.token });
  await at(1, 'auth-disable-m2', '/v3/auth/disable', '{}', { token: root.token });
  return { steps, leaders };
}

describe.skipIf(skip !== undefined || opensslUnavailable() !== undefined)(
  'JSON gateway over https on three members: kvd as etcd 3.4',
  () => {
    const clusters: Cluster[] = [];
    const dir = mkdtempSync(join(tmpdir(), 'kv-gateway-tls-'));
    let certs: TestCerts;
    beforeAll(async () => {
      certs = makeTestCerts(dir);
      const m = certs.get('member');
      for (const server of ['kvd', 'etcd'] as const)
        clusters.push(
          await startCluster({
            server,
            size: 3,
            readyTimeoutMs: 60_000,
            tls: { certFile: m.certFile, keyFile: m.keyFile, caFile: m.caFile },
          }),
        );
    }, 150_000);
    afterAll(async () => {
      for (const c of clusters) await c.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    it("answers every step at every member with etcd's status and body", async () => {
      const ca = certs.get('ca').certFile;
      const [kvd, etcd] = [await clusterScript(clusters[0]!.clientUrls, ca), await clusterScript(clusters[1]!.clientUrls, ca)];
      for (const r of [kvd, etcd]) {
        // Every member names the same leader.
        expect(new Set(r.leaders).size, JSON.stringify(r.leaders)).toBe(1);
        for (const i of [0, 1, 2]) delete (r.steps[`status-${i}`]!.body as { dbSizeInUse?: string }).dbSizeInUse;
      }
      expect(kvd.steps).toEqual(etcd.steps);
      expect(Object.keys(kvd.steps)).toEqual(Object.keys(etcd.steps));
    }, 180_000);
  },
);

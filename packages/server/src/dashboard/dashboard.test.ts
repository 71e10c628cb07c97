// The dashboard's HTTP side on a real member: the redirect, index.html and the hashed assets it
// names (types, nosniff, CSP, cache headers), 404 for unknown /ui/ paths and on a metrics
// listener, --enable-ui=false, and /ui/api/members refusing without a valid token when auth is on.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freeLoopbackPorts, startMember, type EmbeddedMember } from '../embed.js';
import { contentSecurityPolicy } from './http.js';

const started: EmbeddedMember[] = [];
async function member(opts: Parameters<typeof startMember>[0] = {}): Promise<EmbeddedMember> {
  const m = await startMember(opts);
  started.push(m);
  await m.ready;
  return m;
}
afterAll(async () => {
  for (const m of started) await m.stop();
});

const get = (url: string) => fetch(url, { redirect: 'manual', signal: AbortSignal.timeout(20_000) });
const post = (url: string, body: unknown, token?: string) =>
  fetch(url, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: token } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });

describe('dashboard assets', () => {
  let base: string;
  let metricsBase: string;
  beforeAll(async () => {
    const [mp] = await freeLoopbackPorts(1);
    const m = await member({ name: 'ui', listenMetricsUrls: [`http://127.0.0.1:${mp}`] });
    base = m.clientUrls[0]!;
    metricsBase = `http://127.0.0.1:${m.server.metricsPorts[0]}`;
  }, 60_000);

  it('redirects /ui to /ui/ and serves index.html with its hashed script and style', async () => {
    const r = await get(`${base}/ui`);
    expect(r.status).toBe(301);
    expect(r.headers.get('location')).toBe('/ui/');
    const index = await get(`${base}/ui/`);
    expect(index.status).toBe(200);
    expect(index.headers.get('content-type')).toBe('text/html; charset=utf-8');
    expect(index.headers.get('cache-control')).toBe('no-cache');
    expect(index.headers.get('x-content-type-options')).toBe('nosniff');
    expect(index.headers.get('content-security-policy')).toBe(contentSecurityPolicy);
    expect(contentSecurityPolicy).toMatch(/^default-src 'self';/);
    const html = await index.text();
    const js = /src="(\/ui\/app-[A-Z0-9]+\.js)"/.exec(html)?.[1];
    const css = /href="(\/ui\/style-[A-Z0-9]+\.css)"/.exec(html)?.[1];
    expect(js && css).toBeTruthy();
    for (const [path, type] of [
      [js!, 'text/javascript; charset=utf-8'],
      [css!, 'text/css; charset=utf-8'],
    ]) {
      const a = await get(`${base}${path}`);
      expect(a.status).toBe(200);
      expect(a.headers.get('content-type')).toBe(type);
      expect(a.headers.get('cache-control')).toBe('public, max-age=31536000, immutable');
      expect(a.headers.get('x-content-type-options')).toBe('nosniff');
      expect((await a.text()).length).toBeGreaterThan(1000);
    }
    // Nothing on the page reaches outside its origin.
    expect(html).not.toMatch(/https?:\/\//);
  });

  it('answers 404 for unknown /ui/ paths and 405 for other methods', async () => {
    for (const p of ['/ui/nope.js', '/ui/app.js', '/ui/index.html', '/ui/api/nope']) {
      const r = await get(`${base}${p}`);
      expect(r.status, p).toBe(404);
      expect(r.headers.get('x-content-type-options')).toBe('nosniff');
    }
    expect((await post(`${base}/ui/`, {})).status).toBe(405);
    expect((await get(`${base}/ui/api/members`)).status).toBe(405);
  });

  it('is not served on --listen-metrics-urls', async () => {
    expect((await get(`${metricsBase}/ui/`)).status).toBe(404);
    expect((await get(`${metricsBase}/metrics`)).status).toBe(200);
  });

  it('lists no other member of a one-member cluster', async () => {
    const r = await post(`${base}/ui/api/members`, {});
    expect(r.status).toBe(200);
    expect(await r.json()).toEqual({ members: [] });
  });
});

describe('--enable-ui=false', () => {
  it('answers 404 on /ui and /ui/', async () => {
    const m = await member({ name: 'noui', enableUi: false });
    for (const p of ['/ui', '/ui/']) expect((await get(`${m.clientUrls[0]}${p}`)).status).toBe(404);
  }, 60_000);
});

describe('/ui/api/members with auth enabled', () => {
  it('refuses without a token or with a bad one, as the gateway refuses a read', async () => {
    const m = await member({ name: 'uiauth' });
    const base = m.clientUrls[0]!;
    for (const [path, body] of [
      ['/v3/auth/role/add', { name: 'root' }],
      ['/v3/auth/user/add', { name: 'root', password: 'rootpw' }],
      ['/v3/auth/user/grant', { user: 'root', role: 'root' }],
      ['/v3/auth/enable', {}],
    ] as const)
      expect((await post(`${base}${path}`, body)).status, path).toBe(200);
    // The gateway's own answers, which /ui/api/members must match.
    const rangeNoToken = await post(`${base}/v3/kv/range`, { key: 'YQ==' });
    const uiNoToken = await post(`${base}/ui/api/members`, {});
    expect(uiNoToken.status).toBe(rangeNoToken.status);
    expect(await uiNoToken.json()).toEqual(await rangeNoToken.json());
    const rangeBad = await post(`${base}/v3/kv/range`, { key: 'YQ==' }, 'forged.1');
    const uiBad = await post(`${base}/ui/api/members`, {}, 'forged.1');
    expect(uiBad.status).toBe(rangeBad.status);
    expect(await uiBad.json()).toEqual(await rangeBad.json());
    expect(uiBad.status).toBe(401);
    const { token } = (await (await post(`${base}/v3/auth/authenticate`, { name: 'root', password: 'rootpw' })).json()) as {
      token: string;
    };
    const ok = await post(`${base}/ui/api/members`, {}, token);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({ members: [] });
    // What operations.md says: Status and the member list need no token, as on etcd 3.4.
    expect((await post(`${base}/v3/maintenance/status`, {})).status).toBe(200);
    expect((await post(`${base}/v3/cluster/member/list`, {})).status).toBe(200);
  }, 60_000);
});

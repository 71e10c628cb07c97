// The /ui dashboard in a real browser (playwright-core driving Debian's chromium) against real
// kvd members: a 3-member cluster (cluster view: 3 members, one leader, every member's Status;
// key browser: a prefix listed page by page, a key's value and its history after 3 writes;
// watch pane: a put and a delete made after the watch started; charts: points with proposals
// and fsyncs after writes), a one-member cluster with auth on (login form, etcd's error for a
// wrong password, the dashboard after the right one, nothing shown before), and
// --enable-ui=false (404). Every request the page makes stays on the member's origin and the
// page logs no CSP violation or error. KV_UPDATE_DOCS=1 writes the screenshots of docs/images/.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@kv/client';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Cluster, startCluster, unavailableReason } from './index.js';
import { agreedLeader } from './leader.js';
import { until } from './until.js';

const chromiumPath = '/usr/bin/chromium';
const haveChromium = existsSync(chromiumPath);
const skipKvd = unavailableReason('kvd');
const docsImages = new URL('../../../docs/images/', import.meta.url);
const updateDocs = process.env.KV_UPDATE_DOCS === '1';

// chromium is part of the CI machine (.ci/run installs it): missing there is a failure, not a skip.
if (!haveChromium && process.env.CI) {
  describe('dashboard in a browser', () => {
    it('needs chromium', () => {
      throw new Error(
        `${chromiumPath} is missing: install Debian's chromium (apt-get install -y chromium) to run the dashboard's browser test`,
      );
    });
  });
}

/** A fresh profile and the flags without which chromium dials out (refused on a closed network). */
async function launch(): Promise<{ ctx: BrowserContext; dir: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'kv-chromium-'));
  const ctx = await chromium.launchPersistentContext(dir, {
    executablePath: chromiumPath,
    headless: true,
    viewport: { width: 1360, height: 860 },
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return { ctx, dir };
}

/** A page that records what would make the test fail at the end: foreign requests, errors, CSP reports. */
async function watchedPage(ctx: BrowserContext, origin: string): Promise<{ page: Page; problems: string[] }> {
  const page = await ctx.newPage();
  const problems: string[] = [];
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(`${origin}/`) && !u.startsWith('data:')) problems.push(`request outside the origin: ${u}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/Failed to load resource.*40[01]/.test(m.text())) problems.push(`console error: ${m.text()}`);
  });
  return { page, problems };
}

async function shot(page: Page, name: string): Promise<void> {
  if (!updateDocs) return;
  await mkdir(docsImages, { recursive: true });
  await page.screenshot({ path: new URL(name, docsImages).pathname, fullPage: true });
}

const cellTexts = (page: Page, sel: string) => page.locator(sel).allTextContents();

describe.skipIf(!haveChromium || skipKvd !== undefined)('dashboard in a browser: three kvd members', () => {
  let cluster: Cluster;
  let client: Client;
  let ctx: BrowserContext;
  let profile: string;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    cluster = await startCluster({ server: 'kvd', size: 3, readyTimeoutMs: 60_000, stopTimeoutMs: 5_000 });
    client = new Client({ endpoints: [...cluster.endpoints], requestTimeoutMs: 10_000 });
    ({ ctx, dir: profile } = await launch());
    ({ page, problems } = await watchedPage(ctx, cluster.clientUrls[0]!));
  }, 180_000);

  afterAll(async () => {
    await ctx?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    client?.close();
    await cluster?.stop();
  });

  it('cluster view: three members, one leader, every member answering its Status', { timeout: 120_000 }, async () => {
    const clients = cluster.endpoints.map((e) => new Client({ endpoints: [e], requestTimeoutMs: 10_000 }));
    try {
      const lead = await agreedLeader(clients, 30_000);
      const leaderName = cluster.members[lead.index]!.name;
      const res = await page.goto(`${cluster.clientUrls[0]}/ui`);
      expect(res?.status()).toBe(200);
      expect(page.url()).toBe(`${cluster.clientUrls[0]}/ui/`);
      const rows = page.locator('#cluster tr[data-member]');
      await expect.poll(() => rows.count(), { timeout: 30_000 }).toBe(3);
      await expect.poll(() => cellTexts(page, '#cluster td.status'), { timeout: 30_000 }).toEqual(['ok', 'ok', 'ok']);
      expect(await page.locator('#cluster tr.leader').count()).toBe(1);
      expect(await page.locator('#cluster tr.leader').getAttribute('data-member')).toBe(leaderName);
      expect((await cellTexts(page, '#cluster tr[data-member] td:first-child')).sort()).toEqual(cluster.members.map((m) => m.name).sort());
      // Each row's numbers are that member's own (ask each one directly): terms equal, indexes set.
      const term = String((await clients[0]!.maintenance.status()).raftTerm);
      for (const [i, m] of cluster.members.entries()) {
        const row = page.locator(`#cluster tr[data-member="${m.name}"] td`);
        const cells = await row.allTextContents();
        expect(cells[1]).toBe((await clients[i]!.maintenance.status()).header!.memberId.toString(16));
        expect(cells[5]).toBe(term);
        expect(Number(cells[6])).toBeGreaterThan(0);
        expect(Number(cells[7])).toBeGreaterThan(0);
        expect(cells[8]).toMatch(/\d/);
        expect(cells[11]).toBe('none');
      }
      await shot(page, 'dashboard-cluster.png');
    } finally {
      for (const c of clients) c.close();
    }
  });

  it('key browser: a prefix listed page by page, a value, its history after three writes, bytes as hex', { timeout: 120_000 }, async () => {
    for (const v of ['replicas=1', 'replicas=2', 'replicas=3']) await client.put('ui/app/config', v);
    await client.put('ui/app/bin', new Uint8Array([0xff, 0x00, 0x7f]));
    await client.put('ui/app/motd', 'hello, <b>world</b> & "friends"');
    await client.put('ui/zzz-other', 'not listed');
    await page.click('#tab-keys');
    await page.fill('#prefix', 'ui/app/');
    await page.fill('#limit', '2');
    await page.click('#keys button[type=submit]');
    const keys = page.locator('#keys .keylist button.key');
    await expect.poll(() => keys.allTextContents(), { timeout: 20_000 }).toEqual(['ui/app/bin', 'ui/app/config']);
    await page.click('#next-page');
    await expect.poll(() => keys.allTextContents(), { timeout: 20_000 }).toEqual(['ui/app/bin', 'ui/app/config', 'ui/app/motd']);
    expect(await page.locator('#next-page').isHidden()).toBe(true);
    // Markup in a value stays text.
    await keys.filter({ hasText: 'ui/app/motd' }).click();
    await expect.poll(() => page.locator('#keys pre.value').textContent(), { timeout: 20_000 }).toBe('hello, <b>world</b> & "friends"');
    expect(await page.locator('#keys pre.value b').count()).toBe(0);
    await keys.filter({ hasText: 'ui/app/bin' }).click();
    await expect.poll(() => page.locator('#keys pre.value').textContent(), { timeout: 20_000 }).toBe('hex: ff 00 7f');
    await keys.filter({ hasText: 'ui/app/config' }).click();
    await expect.poll(() => page.locator('#keys pre.value').textContent(), { timeout: 20_000 }).toBe('replicas=3');
    const hist = page.locator('#keys table.hist tbody tr');
    await expect.poll(() => hist.count(), { timeout: 20_000 }).toBe(3);
    const got = await client.get('ui/app/config');
    const kv = got.kvs[0]!;
    const rows = await Promise.all([0, 1, 2].map((i) => hist.nth(i).locator('td').allTextContents()));
    expect(rows.map((r) => [r[0], r[3]])).toEqual([
      ['3', 'replicas=3'],
      ['2', 'replicas=2'],
      ['1', 'replicas=1'],
    ]);
    expect(rows[0]![1]).toBe(String(kv.modRevision));
    expect(await page.locator('#keys .end').textContent()).toContain('version 1');
    const meta = await page.locator('#keys dl.meta dd').allTextContents();
    expect(meta.slice(0, 3)).toEqual([String(kv.createRevision), String(kv.modRevision), '3']);
    await shot(page, 'dashboard-keys.png');
  });

  it('watch pane: a put and a delete made after the watch started appear live', { timeout: 120_000 }, async () => {
    await page.click('#tab-watch');
    await page.fill('#watch-key', 'ui/live/');
    await page.click('#watch-start');
    await expect.poll(() => page.locator('#watch-state').textContent(), { timeout: 20_000 }).toContain('Watching prefix');
    const put = await client.put('ui/live/a', 'first');
    await client.put('ui/live/b', 'second');
    await client.delete('ui/live/a');
    const rows = page.locator('#watch-events tr');
    await expect.poll(() => rows.count(), { timeout: 20_000 }).toBe(3);
    const texts = await Promise.all([0, 1, 2].map((i) => rows.nth(i).locator('td').allTextContents()));
    // Newest first.
    expect(texts.map((t) => [t[0], t[1], t[2]])).toEqual([
      ['DELETE', 'ui/live/a', ''],
      ['PUT', 'ui/live/b', 'second'],
      ['PUT', 'ui/live/a', 'first'],
    ]);
    expect(texts[2]![3]).toBe(String(put.header!.revision));
    await shot(page, 'dashboard-watch.png');
    await page.click('#watch-stop');
    expect(await page.locator('#watch-state').textContent()).toBe('Stopped.');
    await client.put('ui/live/c', 'after stop');
    // Give a stopped watch time to (wrongly) deliver; then the table must be unchanged.
    await client.get('ui/live/c');
    await new Promise((r) => setTimeout(r, 1000));
    expect(await rows.count()).toBe(3);
  });

  it('charts: points from /metrics, with proposals and fsyncs while writes go on', { timeout: 120_000 }, async () => {
    await page.click('#tab-charts');
    // Two watchers on the page's member, so the watch chart has something to count.
    const watcher = new Client({ endpoints: [cluster.endpoints[0]!], requestTimeoutMs: 10_000 });
    const watches = ['ui/load/', 'ui/live/'].map((p) => watcher.watch(p, { prefix: true }));
    await Promise.all(watches.map((w) => w.created));
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing && i < 2000; i++) await client.put(`ui/load/${i % 50}`, `v${i}`);
    })();
    try {
      await until(
        'a chart point with proposals/s > 0 and fsyncs',
        async () => {
          const d = await page.locator('#charts').evaluate((e) => ({ ...(e as unknown as { dataset: Record<string, string> }).dataset }));
          return Number(d.points) >= (updateDocs ? 8 : 3) &&
            Number(d.proposalsPerSecond) > 0 &&
            Number(d.fsyncs) > 0 &&
            Number(d.watchers) >= 2
            ? d
            : undefined;
        },
        60_000,
        250,
      );
      expect(await page.locator('#charts canvas').count()).toBe(3);
      await shot(page, 'dashboard-charts.png');
    } finally {
      writing = false;
      await writer;
      for (const w of watches) w.cancel();
      watcher.close();
    }
  });

  it('cluster view: a stopped member shows unreachable, the others stay ok', { timeout: 120_000 }, async () => {
    const gone = cluster.members[2]!;
    await gone.stop();
    await page.click('#tab-cluster');
    const status = (name: string) => page.locator(`#cluster tr[data-member="${name}"] td.status`).textContent();
    await expect.poll(() => status(gone.name), { timeout: 30_000 }).toMatch(/^unreachable: http:\/\/127\.0\.0\.1:\d+: /);
    for (const m of cluster.members.slice(0, 2)) await expect.poll(() => status(m.name), { timeout: 30_000 }).toBe('ok');
    // No numbers are shown for it: its cells are empty, not stale or made up.
    const cells = await page.locator(`#cluster tr[data-member="${gone.name}"] td`).allTextContents();
    expect(cells.slice(5, 11)).toEqual(['—', '—', '—', '—', '—', '—']);
    expect(problems).toEqual([]);
  });
});

/** Gateway POST as a curl script would send it. */
async function gw(base: string, path: string, body: unknown, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const r = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: token } : {}) },
    body: JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  return { status: r.status, json: (await r.json()) as Record<string, unknown> };
}

describe.skipIf(!haveChromium || skipKvd !== undefined)('dashboard in a browser: auth, and --enable-ui=false', () => {
  let ctx: BrowserContext;
  let profile: string;
  const clusters: Cluster[] = [];

  beforeAll(async () => {
    ({ ctx, dir: profile } = await launch());
  }, 60_000);
  afterAll(async () => {
    await ctx?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    for (const c of clusters) await c.stop();
  });

  it('with auth on: a login form, etcd’s error for a wrong password, the dashboard after the right one', { timeout: 180_000 }, async () => {
    const c = await startCluster({ server: 'kvd', size: 1, readyTimeoutMs: 60_000, stopTimeoutMs: 5_000 });
    clusters.push(c);
    const base = c.clientUrls[0]!;
    for (const [path, body] of [
      ['/v3/auth/role/add', { name: 'root' }],
      ['/v3/auth/user/add', { name: 'root', password: 'rootpw' }],
      ['/v3/auth/user/grant', { user: 'root', role: 'root' }],
      ['/v3/kv/put', { key: Buffer.from('secret/k').toString('base64'), value: Buffer.from('hidden').toString('base64') }],
      ['/v3/auth/enable', {}],
    ] as const)
      expect((await gw(base, path, body)).status, path).toBe(200);
    const wrong = await gw(base, '/v3/auth/authenticate', { name: 'root', password: 'nope' });
    const { page, problems } = await watchedPage(ctx, base);
    await page.goto(`${base}/ui/`);
    await page.locator('#login').waitFor({ timeout: 20_000 });
    // Nothing from the cluster before logging in.
    expect(await page.locator('#cluster, #keys, tr[data-member]').count()).toBe(0);
    await page.fill('#login-password', 'nope');
    await page.click('#login button[type=submit]');
    await expect.poll(() => page.locator('#login-error').textContent(), { timeout: 20_000 }).toBe(String(wrong.json.message));
    expect(wrong.json.message).toBe('etcdserver: authentication failed, invalid user ID or password');
    await shot(page, 'dashboard-login.png');
    await page.fill('#login-password', 'rootpw');
    await page.click('#login button[type=submit]');
    await expect.poll(() => cellTexts(page, '#cluster td.status'), { timeout: 30_000 }).toEqual(['ok']);
    // The token goes with every call: the key browser reads the protected key.
    await page.click('#tab-keys');
    await page.fill('#prefix', 'secret/');
    await page.click('#keys button[type=submit]');
    await expect.poll(() => page.locator('#keys .keylist button.key').allTextContents(), { timeout: 20_000 }).toEqual(['secret/k']);
    // Logging out forgets the token: the form again, and a reload does not bring the data back.
    await page.click('#logout');
    await page.locator('#login').waitFor({ timeout: 20_000 });
    await page.reload();
    await page.locator('#login').waitFor({ timeout: 20_000 });
    expect(problems).toEqual([]);
  });

  it('--enable-ui=false: /ui and /ui/ are 404, the gateway still answers', { timeout: 120_000 }, async () => {
    const c = await startCluster({
      server: 'kvd',
      size: 1,
      extraArgs: ['--enable-ui=false'],
      readyTimeoutMs: 60_000,
      stopTimeoutMs: 5_000,
    });
    clusters.push(c);
    const base = c.clientUrls[0]!;
    const page = await ctx.newPage();
    expect((await page.goto(`${base}/ui`))?.status()).toBe(404);
    expect((await page.goto(`${base}/ui/`))?.status()).toBe(404);
    expect((await gw(base, '/v3/maintenance/status', {})).status).toBe(200);
  });
});

import { connect, createServer, type Http2Session, type ServerHttp2Stream } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { enforceKeepalivePolicy } from './keepalive_policy.js';

/** A loopback h2c server with the policy on every session; streams stay open until the test ends. */
async function serve(minTimeMs: number, now: () => number) {
  const open: ServerHttp2Stream[] = [];
  const server = createServer();
  server.on('session', (s: Http2Session) => enforceKeepalivePolicy(s, { minTimeMs, now }));
  server.on('stream', (st) => open.push(st));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return { port, open, close: () => new Promise<void>((r) => server.close(() => r())) };
}

function ping(c: Http2Session): Promise<void> {
  return new Promise((resolve, reject) => {
    if (!c.ping((err) => (err ? reject(err) : resolve()))) reject(new Error('ping not sent'));
  });
}

describe('--grpc-keepalive-min-time enforcement (grpc-go rules)', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c(); // clients first: a server closes once its sessions are gone
  });

  const goaway = (c: Http2Session) =>
    new Promise<{ code: number; data: string }>((resolve) =>
      c.once('goaway', (code, _last, data) => resolve({ code, data: data?.toString() ?? '' })),
    );

  it('sends GOAWAY ENHANCE_YOUR_CALM too_many_pings after the third too-early ping with a stream open', async () => {
    let t = 0;
    const s = await serve(5000, () => t);
    cleanups.push(s.close);
    const c = connect(`http://127.0.0.1:${s.port}`);
    cleanups.push(() => c.destroy());
    c.on('error', () => undefined);
    const req = c.request({ ':method': 'POST', ':path': '/x' }); // an open stream the server never answers
    req.on('error', () => undefined);
    while (s.open.length === 0) await new Promise((r) => setTimeout(r, 10));
    const away = goaway(c);
    await ping(c); // first: never judged
    t += 1000;
    await ping(c); // strike 1
    t += 1000;
    await ping(c); // strike 2
    t += 1000;
    await ping(c).catch(() => undefined); // strike 3 > 2: GOAWAY
    expect(await away).toEqual({ code: 11, data: 'too_many_pings' });
  });

  it('lets a client ping every min-time while a stream is open', async () => {
    let t = 0;
    const s = await serve(5000, () => t);
    cleanups.push(s.close);
    const c = connect(`http://127.0.0.1:${s.port}`);
    cleanups.push(() => c.destroy());
    let away = false;
    c.on('goaway', () => (away = true));
    const req = c.request({ ':method': 'POST', ':path': '/x' });
    req.on('error', () => undefined);
    while (s.open.length === 0) await new Promise((r) => setTimeout(r, 10));
    for (let i = 0; i < 6; i++) {
      await ping(c);
      t += 5000;
    }
    expect(away).toBe(false);
    expect(c.closed).toBe(false);
  });
});

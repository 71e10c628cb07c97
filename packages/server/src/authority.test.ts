import http2 from 'node:http2';
import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeLiterals, fixAuthorities, fixAuthority, frame, gateHttp2, GateScanner } from './authority.js';

describe('fixAuthority', () => {
  it.each([
    ['http://127.0.0.1:2379', '127.0.0.1:2379'],
    ['https://127.0.0.1:2379/', '127.0.0.1:2379'],
    ['http://[::1]:2379', '[::1]:2379'],
    ['http://user@h:1/x?y', 'h:1'],
    ['h:2379/', 'h:2379'],
    ['unix://sock:0', 'sock:0'],
  ])('%s -> %s', (v, want) => expect(fixAuthority(v)).toBe(want));

  it.each(['127.0.0.1:2379', 'host', '[::1]:1', ''])('%s is left as it is', (v) => expect(fixAuthority(v)).toBeUndefined());

  it('gives up on values with nothing acceptable in them', () => {
    expect(fixAuthority('a b')).toBeUndefined();
    expect(fixAuthority('http:///x')).toBeUndefined();
  });
});

describe('fixAuthorities in front of node:http2', () => {
  let h2: http2.Http2Server;
  let proxy: net.Server;
  let port = 0;

  beforeAll(async () => {
    h2 = http2.createServer();
    h2.on('stream', (st, h) => {
      st.respond({ ':status': 200 });
      st.end(JSON.stringify({ authority: h[':authority'], big: String(h['x-big'] ?? '').length, n: h['x-n'] }));
    });
    proxy = net.createServer((s) => h2.emit('connection', fixAuthorities(s)));
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', r));
    port = (proxy.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((r) => proxy.close(r));
    h2.close();
  });

  const get = (c: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders) =>
    new Promise<{ authority: string; big: number; n: string }>((resolve, reject) => {
      const req = c.request({ ':path': '/', ...headers });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => resolve(JSON.parse(body)));
      req.on('error', reject);
      req.end();
    });

  it('serves every request of a connection whose :authority carries a scheme', async () => {
    const c = http2.connect(`http://127.0.0.1:${port}`);
    try {
      for (let n = 0; n < 5; n++) {
        // Repeated fields come from the client's dynamic table after the first request.
        const r = await get(c, { ':authority': 'http://127.0.0.1:2379', 'x-n': String(n) });
        expect(r).toEqual({ authority: '127.0.0.1:2379', big: 0, n: String(n) });
      }
      // A header block larger than one frame is split into CONTINUATION frames.
      const r = await get(c, { ':authority': 'http://127.0.0.1:2379/', 'x-big': 'v'.repeat(40_000), 'x-n': 'big' });
      expect(r).toEqual({ authority: '127.0.0.1:2379', big: 40_000, n: 'big' });
    } finally {
      c.close();
    }
  });

  it('passes a connection with a plain :authority through unchanged', async () => {
    const c = http2.connect(`http://127.0.0.1:${port}`);
    try {
      expect(await get(c, { ':authority': 'h:1', 'x-n': '1' })).toEqual({ authority: 'h:1', big: 0, n: '1' });
      expect(await get(c, { ':authority': 'h:1', 'x-n': '2' })).toEqual({ authority: 'h:1', big: 0, n: '2' });
    } finally {
      c.close();
    }
  });

  it('still lets nghttp2 reset what cannot be fixed', async () => {
    const c = http2.connect(`http://127.0.0.1:${port}`);
    try {
      await expect(get(c, { ':authority': 'a b' })).rejects.toThrow(/PROTOCOL_ERROR/);
    } finally {
      c.close();
    }
  });
});

describe('gateHttp2: only a connection whose first request needs it goes through the fixer', () => {
  let h2: http2.Http2Server;
  let gate: net.Server;
  let port = 0;
  const handed: { native: boolean }[] = [];

  beforeAll(async () => {
    h2 = http2.createServer();
    h2.on('stream', (st, h) => {
      st.respond({ ':status': 200 });
      st.end(JSON.stringify({ authority: h[':authority'], big: 0, n: h['x-n'] }));
    });
    gate = net.createServer((s) =>
      gateHttp2(s, {
        initial: Buffer.alloc(0),
        settings: http2.getPackedSettings({ maxHeaderListSize: 65536 }),
        idleMs: 200,
        maxWaitMs: 1_000,
        handOff: (c) => {
          handed.push({ native: c === s });
          h2.emit('connection', c);
        },
      }),
    );
    await new Promise<void>((r) => gate.listen(0, '127.0.0.1', r));
    port = (gate.address() as net.AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise((r) => gate.close(r));
    h2.close();
  });

  const get = (c: http2.ClientHttp2Session, headers: http2.OutgoingHttpHeaders) =>
    new Promise<{ authority: string; n: string }>((resolve, reject) => {
      const req = c.request({ ':path': '/', ...headers });
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => {
        const { authority, n } = JSON.parse(body) as { authority: string; n: string };
        resolve({ authority, n });
      });
      req.on('error', reject);
      req.end();
    });

  it('hands a connection with a plain :authority to the server untouched', async () => {
    handed.length = 0;
    const c = http2.connect(`http://127.0.0.1:${port}`);
    try {
      for (let n = 0; n < 3; n++)
        expect(await get(c, { ':authority': 'h:1', 'x-n': String(n) })).toEqual({ authority: 'h:1', n: String(n) });
      expect(handed).toEqual([{ native: true }]);
    } finally {
      c.close();
    }
  });

  it('puts the fixer in front of a connection whose first :authority carries a scheme', async () => {
    handed.length = 0;
    const c = http2.connect(`http://127.0.0.1:${port}`);
    try {
      for (let n = 0; n < 3; n++) {
        expect(await get(c, { ':authority': 'http://127.0.0.1:2379', 'x-n': String(n) })).toEqual({
          authority: '127.0.0.1:2379',
          n: String(n),
        });
      }
      expect(handed).toEqual([{ native: false }]);
    } finally {
      c.close();
    }
  });

  it('hands an idle connection over untouched, and it serves later', async () => {
    handed.length = 0;
    const c = http2.connect(`http://127.0.0.1:${port}`);
    try {
      await new Promise((r) => setTimeout(r, 500));
      expect(handed).toEqual([{ native: true }]);
      expect(await get(c, { ':authority': 'h:1', 'x-n': 'late' })).toEqual({ authority: 'h:1', n: 'late' });
    } finally {
      c.close();
    }
  });

  it('answers with the server settings at once, and hands over a client that never acknowledges them', async () => {
    handed.length = 0;
    const s = net.connect(port, '127.0.0.1');
    const got: Buffer[] = [];
    s.on('data', (d: Buffer) => got.push(d));
    s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
    await new Promise((r) => setTimeout(r, 300));
    expect(Buffer.concat(got)).toEqual(Buffer.from('000006040000000000000600010000', 'hex'));
    expect(handed).toEqual([]);
    const until = Date.now() + 5_000;
    while (handed.length === 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
    expect(handed).toEqual([{ native: true }]);
    s.destroy();
  });
});

describe('GateScanner', () => {
  const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
  const fr = frame;
  const settings = fr(4, 0, 0, Buffer.alloc(0));
  const ack = fr(4, 1, 0, Buffer.alloc(0));
  const winUpdate = fr(8, 0, 0, Buffer.from([0, 0, 0x10, 0]));
  const block = (authority: string) =>
    encodeLiterals([
      { name: ':method', value: 'POST', neverIndex: false },
      { name: ':authority', value: authority, neverIndex: false },
      { name: ':path', value: '/x', neverIndex: false },
    ]);

  it.each([
    ['ACK before the request (grpc-go)', (b: Buffer) => [settings, winUpdate, ack, fr(1, 4, 1, b)]],
    ['request before the ACK (node:http2 clients)', (b: Buffer) => [settings, fr(1, 4, 1, b), fr(0, 1, 1, Buffer.from('d')), ack]],
    ['header block in CONTINUATION frames', (b: Buffer) => [settings, ack, fr(1, 0, 1, b.subarray(0, 5)), fr(9, 4, 1, b.subarray(5))]],
  ])('%s: decides from the first block and takes out only the ACK', (_n, frames) => {
    for (const [authority, verdict] of [
      ['127.0.0.1:2379', 'native'],
      ['http://127.0.0.1:2379', 'fix'],
    ] as const) {
      const parts = frames(block(authority));
      const all = Buffer.concat([preface, ...parts]);
      const scan = new GateScanner();
      // Byte by byte: frames split anywhere still scan the same.
      for (let i = 0; i < all.length; i++) scan.feed(all.subarray(i, i + 1));
      expect(scan.acked).toBe(true);
      expect(scan.verdict).toBe(verdict);
      expect(scan.bytes()).toEqual(Buffer.concat([preface, ...parts.filter((p) => p !== ack)]));
    }
  });

  it('calls a connection whose first frame is not a header block native, and keeps a second ACK', () => {
    const scan = new GateScanner();
    const ping = fr(6, 0, 0, Buffer.alloc(8));
    scan.feed(Buffer.concat([preface, settings, ping, ack, ack]));
    expect(scan.verdict).toBe('native');
    expect(scan.bytes()).toEqual(Buffer.concat([preface, settings, ping, ack]));
  });
});

// The edges of the client port: HTTP/2 header list limits, non-gRPC HTTP/2 requests (h2c and TLS),
// and logged TLS handshake rejections.
import { makeTestCerts, opensslUnavailable, type TestCerts } from '@kv/testkit';
import { mkdtempSync, rmSync } from 'node:fs';
import {
  connect as h2connect,
  type ClientHttp2Session,
  type IncomingHttpHeaders,
  type OutgoingHttpHeaders,
  type SecureClientSessionOptions,
} from 'node:http2';
import { tmpdir } from 'node:os';
import { createConnection } from 'node:net';
import { join } from 'node:path';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from './config.js';
import { maxHeaderListBytes } from './grpc_http2.js';
import { LogBudget } from './listener.js';
import { KvServer } from './server.js';
import { startHarness, until, type Harness } from './testutil/harness.js';

/** A Range for key "a" as one gRPC message. */
const rangeA = Buffer.from([0, 0, 0, 0, 3, 0x0a, 1, 0x61]);
const grpcHeaders = { ':method': 'POST', ':path': '/etcdserverpb.KV/Range', 'content-type': 'application/grpc', te: 'trailers' };

interface Answer {
  headers?: IncomingHttpHeaders;
  trailers?: IncomingHttpHeaders;
  body: string;
  rstCode?: number;
}

/** One request on `session`; resolves when its stream closes, however it closes. */
function request(session: ClientHttp2Session, headers: OutgoingHttpHeaders, body?: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const a: Answer = { body: '' };
    const s = session.request(headers);
    s.on('response', (h) => (a.headers = h));
    s.on('trailers', (h) => (a.trailers = h));
    s.on('data', (d: Buffer) => (a.body += d.toString('latin1')));
    s.on('error', () => {});
    s.on('close', () => resolve({ ...a, rstCode: s.rstCode }));
    s.end(body);
  });
}

/**
 * A raw HTTP/2 connection (no client library to refuse it) that sends one request with a single
 * header of `size` bytes, ignoring the server's SETTINGS. Resolves with the GOAWAY error code seen
 * and whether the server closed the socket (false: still open after 20 s, the test's bound).
 */
function hugeHeaderConnection(host: string, port: number, size: number): Promise<{ goaway?: number; closedByServer: boolean }> {
  const frame = (type: number, flags: number, stream: number, payload: Buffer) => {
    const head = Buffer.alloc(9);
    head.writeUIntBE(payload.length, 0, 3);
    head[3] = type;
    head[4] = flags;
    head.writeUInt32BE(stream, 5);
    return Buffer.concat([head, payload]);
  };
  // HPACK integer with a 7-bit prefix, and a literal field without indexing (RFC 7541 6.2.2).
  const int7 = (n: number) => {
    if (n < 127) return Buffer.from([n]);
    const out = [127];
    for (n -= 127; n >= 128; n = Math.floor(n / 128)) out.push((n % 128) + 128);
    out.push(n);
    return Buffer.from(out);
  };
  const field = (name: string, value: string) =>
    Buffer.concat([Buffer.from([0]), int7(name.length), Buffer.from(name), int7(value.length), Buffer.from(value)]);
  const block = Buffer.concat([
    ...Object.entries({
      ':method': 'POST',
      ':scheme': 'http',
      ':path': '/etcdserverpb.KV/Range',
      ':authority': host,
      'content-type': 'application/grpc',
      te: 'trailers',
    }).map(([k, v]) => field(k, v)),
    field('x-huge', 'h'.repeat(size)),
  ]);
  return new Promise((resolve) => {
    let goaway: number | undefined;
    let buf = Buffer.alloc(0);
    const sock = createConnection(port, host, () => {
      sock.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'));
      sock.write(frame(4, 0, 0, Buffer.alloc(0)));
      for (let off = 0; off < block.length; off += 16384) {
        const last = off + 16384 >= block.length;
        sock.write(frame(off === 0 ? 1 : 9, last ? 4 : 0, 1, block.subarray(off, off + 16384)));
      }
    });
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 9 && buf.length >= 9 + buf.readUIntBE(0, 3)) {
        const len = buf.readUIntBE(0, 3);
        if (buf[3] === 7) goaway = buf.readUInt32BE(9 + 4);
        buf = buf.subarray(9 + len);
      }
    });
    sock.on('error', () => {});
    const bound = setTimeout(() => {
      sock.destroy();
      resolve({ goaway, closedByServer: false });
    }, 20_000);
    sock.on('close', () => {
      clearTimeout(bound);
      resolve({ goaway, closedByServer: true });
    });
  });
}

function openSession(url: string, opts: SecureClientSessionOptions = {}): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = h2connect(url, { maxSendHeaderBlockLength: 1 << 24, ...opts });
    s.once('remoteSettings', () => resolve(s));
    s.once('error', reject);
  });
}

describe('client port over h2c', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
    await until('leader', async () => (h.server.member.consensus.leader() !== 0n ? true : undefined));
  });
  afterAll(async () => {
    await h.close();
  });

  it('advertises a header list limit, resets a stream over it and keeps the connection serving', async () => {
    const s = await openSession(`http://${h.endpoint}`);
    try {
      expect(s.remoteSettings.maxHeaderListSize).toBe(maxHeaderListBytes);
      // nghttp2 applies its limit once the client acknowledged nghttp2's own SETTINGS, which the
      // client sends after authority.ts's gate handed the connection over: a first request
      // makes sure of that (before it, the limit is the client's to keep, as grpc-go does).
      const first = await request(s, grpcHeaders, rangeA);
      expect(first.trailers?.['grpc-status'] ?? first.headers?.['grpc-status']).toBe('0');
      const big: OutgoingHttpHeaders = { ...grpcHeaders };
      for (let i = 0; i < 100; i++) big[`x-meta-${i}`] = 'm'.repeat(1000); // ~100 KiB in small fields
      const refused = await request(s, big, rangeA);
      expect(refused.rstCode).toBeGreaterThan(0);
      expect(refused.trailers).toBeUndefined();
      // The same connection still serves gRPC.
      const ok = await request(s, grpcHeaders, rangeA);
      expect(ok.trailers?.['grpc-status'] ?? ok.headers?.['grpc-status']).toBe('0');
    } finally {
      s.destroy();
    }
  });

  it('closes a connection that sent a header nghttp2 cannot decode, and keeps serving others', async () => {
    const [host, port] = h.endpoint.split(':');
    const { goaway, closedByServer } = await hugeHeaderConnection(host, Number(port), 1024 * 1024);
    expect(goaway).toBe(9); // COMPRESSION_ERROR
    expect(closedByServer).toBe(true); // before: the socket stayed open until the client gave up
    const s = await openSession(`http://${h.endpoint}`);
    try {
      const ok = await request(s, grpcHeaders, rangeA);
      expect(ok.trailers?.['grpc-status'] ?? ok.headers?.['grpc-status']).toBe('0');
    } finally {
      s.destroy();
    }
  }, 30_000);

  it('serves /health, /version and 404 to HTTP/2 requests that are not gRPC', async () => {
    const s = await openSession(`http://${h.endpoint}`);
    try {
      const health = await request(s, { ':path': '/health' });
      expect(health.headers?.[':status']).toBe(200);
      expect(JSON.parse(health.body)).toEqual({ health: 'true', reason: '' });
      const version = await request(s, { ':path': '/version' });
      expect(JSON.parse(version.body).etcdcluster).toBe('3.4.0');
      const missing = await request(s, { ':path': '/nope' });
      expect(missing.headers?.[':status']).toBe(404);
      // gRPC on the same session is untouched.
      const ok = await request(s, grpcHeaders, rangeA);
      expect(ok.trailers?.['grpc-status'] ?? ok.headers?.['grpc-status']).toBe('0');
    } finally {
      s.destroy();
    }
  });
});

describe.skipIf(opensslUnavailable() !== undefined)('client port over TLS with --client-cert-auth', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-client-port-tls-'));
  const p = (s: string) => join(dir, s);
  const lines: string[] = [];
  let server: KvServer;
  let url = '';

  let certs: TestCerts;
  const tlsFiles = (name: string) => {
    const c = certs.get(name);
    return { ca: c.ca, cert: c.cert, key: c.key };
  };

  beforeAll(async () => {
    certs = makeTestCerts(dir, {
      cas: ['ca', 'other-ca'],
      certs: [{ name: 'member' }, { name: 'client' }, { name: 'stranger', ca: 'other-ca' }],
    });
    const member = certs.get('member');
    const config = resolveConfig({
      name: 't',
      dataDir: p('data'),
      listenClientUrls: ['https://127.0.0.1:0'],
      advertiseClientUrls: ['https://127.0.0.1:2379'],
      listenPeerUrls: ['http://127.0.0.1:0'],
      initialAdvertisePeerUrls: ['http://127.0.0.1:2380'],
      initialCluster: [{ name: 't', peerUrls: ['http://127.0.0.1:2380'] }],
      clientTls: { certFile: member.certFile, keyFile: member.keyFile, trustedCaFile: member.caFile, clientCertAuth: true },
      unsafeNoFsync: true,
    });
    const logger = pino({ level: 'info' }, { write: (s: string) => void lines.push(s) });
    server = await KvServer.start({ config, logger });
    url = `https://127.0.0.1:${server.clientPorts[0]}`;
    await until('leader', async () => (server.member.consensus.leader() !== 0n ? true : undefined));
  }, 60_000);

  afterAll(async () => {
    await server?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it('serves /health to HTTP/2 over TLS (ALPN h2)', async () => {
    const s = await openSession(url, { ...tlsFiles('client'), servername: 'localhost' });
    try {
      expect(s.alpnProtocol).toBe('h2');
      const health = await request(s, { ':path': '/health' });
      expect(health.headers?.[':status']).toBe(200);
      expect(JSON.parse(health.body)).toEqual({ health: 'true', reason: '' });
    } finally {
      s.destroy();
    }
  });

  /** A TLS connection attempt that the server is expected to refuse; resolves once it is gone. */
  const attempt = (opts: ConnectionOptions) =>
    new Promise<void>((resolve) => {
      const port = server.clientPorts[0];
      const s = tlsConnect({ host: '127.0.0.1', port, servername: 'localhost', ca: tlsFiles('client').ca, ...opts }, () => s.write('x'));
      s.on('error', () => resolve());
      s.on('close', () => resolve());
      s.setTimeout(10_000, () => s.destroy());
    });

  it('logs each rejected handshake at warn with the remote address, reason and server name', async () => {
    const warnsFor = (re: RegExp) =>
      lines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.level === 40 && re.test(String(l.msg)));
    await attempt({}); // no client certificate
    const noCert = await until('no-certificate rejection logged', async () => warnsFor(/provide a certificate/).at(0));
    expect(noCert.msg).toMatch(
      /^rejected connection from "127\.0\.0\.1:\d+" \(error "client didn't provide a certificate", ServerName "localhost"\)$/,
    );
    expect(noCert['remote-addr']).toMatch(/^127\.0\.0\.1:\d+$/);
    await attempt({ cert: tlsFiles('stranger').cert, key: tlsFiles('stranger').key }); // signed by another CA
    const bad = await until('bad-certificate rejection logged', async () => warnsFor(/failed to verify client certificate/).at(0));
    expect(bad.msg).toMatch(
      /^rejected connection from "127\.0\.0\.1:\d+" \(error "failed to verify client certificate: [A-Z_]+", ServerName "localhost"\)$/,
    );
    await attempt({ maxVersion: 'TLSv1.1', minVersion: 'TLSv1' }); // a protocol the server refuses
    await until('handshake failure logged', async () => (warnsFor(/^rejected connection/).length >= 3 ? true : undefined));
    // Still serving.
    const s = await openSession(url, { ...tlsFiles('client'), servername: 'localhost' });
    s.destroy();
  }, 30_000);
});

describe('LogBudget', () => {
  it('lets a burst through per window, then counts what it dropped', () => {
    const b = new LogBudget(2, 1000);
    expect(b.take(0)).toBe(0);
    expect(b.take(1)).toBe(0);
    expect(b.take(2)).toBeUndefined();
    expect(b.take(999)).toBeUndefined();
    expect(b.take(1000)).toBe(2); // a new window: the first line reports the two dropped
    expect(b.take(1001)).toBe(0);
    expect(b.take(1002)).toBeUndefined();
  });
});

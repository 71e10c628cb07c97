import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { resolveConfig } from './config.js';
import { silentLogger } from './logger.js';
import { grpcServerOptions, withAutoTls } from './server.js';

describe("the client port's gRPC options from etcd's flags", () => {
  it('maps --max-concurrent-streams and the keepalive interval/timeout', () => {
    const o = grpcServerOptions(
      resolveConfig({ maxConcurrentStreams: 100, grpcKeepAliveIntervalMs: 60_000, grpcKeepAliveTimeoutMs: 3000 }),
    );
    expect(o).toMatchObject({ 'grpc.max_concurrent_streams': 100, 'grpc.keepalive_time_ms': 60_000, 'grpc.keepalive_timeout_ms': 3000 });
    expect(grpcServerOptions(resolveConfig({}))).toMatchObject({
      'grpc.max_concurrent_streams': 4294967295,
      'grpc.keepalive_time_ms': 2 * 3600 * 1000,
      'grpc.keepalive_timeout_ms': 20_000,
    });
  });

  it("keeps grpc-go's defaults (2 h, 20 s) when either keepalive flag is 0, as etcd passes none then", () => {
    const o = grpcServerOptions(resolveConfig({ grpcKeepAliveIntervalMs: 0, grpcKeepAliveTimeoutMs: 5000 }));
    expect(o).toMatchObject({ 'grpc.keepalive_time_ms': 2 * 3600 * 1000, 'grpc.keepalive_timeout_ms': 20_000 });
  });
});

describe('withAutoTls', () => {
  let dir = '';
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('fills both sides with self-signed pairs in <data-dir>/fixtures, unless certificates are given', async () => {
    dir = mkdtempSync(join(tmpdir(), 'kv-autotls-'));
    const base = resolveConfig({ dataDir: dir, clientAutoTls: true, peerAutoTls: true });
    const c = await withAutoTls(base, silentLogger());
    expect(c.clientTls).toMatchObject({
      certFile: join(dir, 'fixtures/client/cert.pem'),
      keyFile: join(dir, 'fixtures/client/key.pem'),
      selfSigned: true,
    });
    expect(c.peerTls).toMatchObject({ certFile: join(dir, 'fixtures/peer/cert.pem'), selfSigned: true });
    const given = { certFile: '/given/cert.pem', keyFile: '/given/key.pem', trustedCaFile: '', clientCertAuth: false };
    const kept = await withAutoTls(resolveConfig({ dataDir: join(dir, 'other'), peerAutoTls: true, peerTls: given }), silentLogger());
    expect(kept.peerTls).toEqual(given);
    expect(existsSync(join(dir, 'other', 'fixtures'))).toBe(false);
  });
});

// In-process server harness for @kv/server's tests: a KvServer on free loopback ports with a temp
// data dir, and grpc-js clients for every service.
import { etcdserverpb } from '@kv/api';
import { credentials } from '@grpc/grpc-js';
import { until as untilKit, withFreshPorts } from '@kv/testkit';
import { mkdtempSync, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveConfig, type ServerConfig } from '../config.js';
import { silentLogger } from '../logger.js';
import { KvServer } from '../server.js';

export interface Harness {
  server: KvServer;
  dataDir: string;
  endpoint: string;
  kv: etcdserverpb.KVClient;
  watch: etcdserverpb.WatchClient;
  lease: etcdserverpb.LeaseClient;
  maint: etcdserverpb.MaintenanceClient;
  cluster: etcdserverpb.ClusterClient;
  /** Stops the server (keeping the data dir) and starts it again on the same port. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

export async function startHarness(over: Partial<ServerConfig> = {}, dataDir?: string): Promise<Harness> {
  const dir = dataDir ?? mkdtempSync(join(tmpdir(), 'kv-server-test-'));
  const config = resolveConfig({
    name: 't',
    dataDir: dir,
    listenClientUrls: ['http://127.0.0.1:0'],
    advertiseClientUrls: ['http://127.0.0.1:0'],
    listenPeerUrls: ['http://127.0.0.1:0'],
    initialAdvertisePeerUrls: ['http://127.0.0.1:2380'],
    initialCluster: [{ name: 't', peerUrls: ['http://127.0.0.1:2380'] }],
    unsafeNoFsync: true,
    ...over,
  });
  let server = await KvServer.start({ config, logger: silentLogger() });
  const port = server.clientPorts[0];
  const endpoint = `127.0.0.1:${port}`;
  const creds = credentials.createInsecure();
  const clients = () => ({
    kv: new etcdserverpb.KVClient(endpoint, creds),
    watch: new etcdserverpb.WatchClient(endpoint, creds),
    lease: new etcdserverpb.LeaseClient(endpoint, creds),
    maint: new etcdserverpb.MaintenanceClient(endpoint, creds),
    cluster: new etcdserverpb.ClusterClient(endpoint, creds),
  });
  const h: Harness = {
    server,
    dataDir: dir,
    endpoint,
    ...clients(),
    async restart() {
      await server.stop();
      server = await KvServer.start({ config: { ...config, listenClientUrls: [`http://127.0.0.1:${port}`] }, logger: silentLogger() });
      h.server = server;
    },
    async close() {
      for (const c of [h.kv, h.watch, h.lease, h.maint, h.cluster]) c.close();
      await server.stop();
      if (!dataDir) rmSync(dir, { recursive: true, force: true });
    },
  };
  return h;
}

/** Promisifies a grpc-js unary call: `call(h.kv, 'put', req)`. */
export function call<Req, Res>(client: object, method: string, req: Req): Promise<Res> {
  return new Promise((resolve, reject) => {
    (client as Record<string, (r: Req, cb: (e: Error | null, r: Res) => void) => void>)[method](req, (err, res) =>
      err ? reject(err) : resolve(res),
    );
  });
}

/** What a member of a local cluster is told: its URLs and the whole initial cluster. */
export interface LocalMemberUrls {
  clientUrl: string;
  peerUrl: string;
  initialCluster: { name: string; peerUrls: string[] }[];
}

/** A local cluster member's config: its URLs from `urls`, no fsync (tests), then `over`. */
export function loopbackMemberConfig(
  name: string,
  dataDir: string,
  urls: LocalMemberUrls,
  over: Partial<Parameters<typeof resolveConfig>[0]> = {},
): ServerConfig {
  return resolveConfig({
    name,
    dataDir,
    listenClientUrls: [urls.clientUrl],
    advertiseClientUrls: [urls.clientUrl],
    listenPeerUrls: [urls.peerUrl],
    initialAdvertisePeerUrls: [urls.peerUrl],
    initialCluster: urls.initialCluster,
    unsafeNoFsync: true,
    ...over,
  });
}

/**
 * Starts one KvServer per name in this process, bootstrapped together, on loopback ports held
 * until right before the servers bind them; a start that lost a port (EADDRINUSE) stops what it
 * started, removes the data dirs it made and runs again on fresh ports (the test kit's
 * withFreshPorts). `config` gives each member's config from its URLs.
 */
export function startTestServers(
  names: readonly string[],
  config: (name: string, i: number, urls: LocalMemberUrls) => ServerConfig,
): Promise<KvServer[]> {
  return withFreshPorts(2 * names.length, async (ports, release) => {
    const peer = (i: number) => `http://127.0.0.1:${ports[2 * i + 1]}`;
    const initialCluster = names.map((name, i) => ({ name, peerUrls: [peer(i)] }));
    const configs = names.map((name, i) =>
      config(name, i, { clientUrl: `http://127.0.0.1:${ports[2 * i]}`, peerUrl: peer(i), initialCluster }),
    );
    await release();
    const started = await Promise.allSettled(configs.map((c) => KvServer.start({ config: c, logger: silentLogger() })));
    const failed = started.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed === undefined) return started.map((r) => (r as PromiseFulfilledResult<KvServer>).value);
    for (const r of started) if (r.status === 'fulfilled') await r.value.stop().catch(() => undefined);
    await Promise.all(configs.map((c) => rm(c.dataDir, { recursive: true, force: true })));
    throw failed.reason;
  });
}

/** Polls until `fn` yields a value; errors count as "not yet" and the last one is reported. */
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  // Only undefined means "not yet" here (a false or null result is an answer).
  const box = await untilKit(
    async () => {
      const v = await fn();
      return v === undefined ? undefined : { v };
    },
    { what, timeoutMs },
  );
  return box.v;
}

// Embedding: a member (or a whole local cluster) inside a Node process, with a typed options
// object, as Go programs use etcd's `embed` package (embed.StartEtcd, e.Server.ReadyNotify(),
// e.Close()). It is kvd without the process around it: KvServer on the real world (clock, disk,
// TCP peers), with defaults that suit a program or a test — free loopback ports, a temporary data
// dir, no logs, and a fatal error that stops the member instead of exiting the host process.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { resolveConfig, type ServerConfig } from './config.js';
import { silentLogger } from './logger.js';
import { KvServer } from './server.js';

/** What startMember takes: any ServerConfig field (etcd's flag meanings), plus the process parts. */
export interface EmbedOptions extends Partial<ServerConfig> {
  /** Where the member logs (pino). Default: nowhere (silentLogger()); createLogger('info', name) logs as kvd does. */
  logger?: Logger;
  /**
   * Called when the member hits an unrecoverable error (a failed WAL write, a removed member).
   * Default: log it and stop the member; the host process keeps running.
   */
  onFatal?: (err: unknown) => void;
}

export interface EmbeddedMember {
  readonly name: string;
  readonly memberId: bigint;
  readonly clusterId: bigint;
  /** Client URLs it listens on ("http://127.0.0.1:PORT"), with the real port where 0 was asked for. */
  readonly clientUrls: string[];
  /** Client endpoints as @kv/client takes them ("127.0.0.1:PORT"). */
  readonly endpoints: string[];
  readonly peerUrls: string[];
  readonly dataDir: string;
  /** The resolved configuration it runs with. */
  readonly config: ServerConfig;
  /** The server itself (its member, listeners, ports). */
  readonly server: KvServer;
  /**
   * Resolves once the member knows a leader and its own name and client URLs are in the cluster's
   * member list (etcd's ReadyNotify: it has joined and published itself); rejects if it stops first.
   */
  readonly ready: Promise<void>;
  /** Stops it (a leader hands leadership over first); removes the data dir if startMember made it. Idempotent. */
  stop(): Promise<void>;
}

/** Free TCP ports on 127.0.0.1 (asked of the kernel, then released for the member to bind). */
export async function freeLoopbackPorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const s = createServer();
          s.once('error', reject);
          s.listen(0, '127.0.0.1', () => resolve(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as { port: number }).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

const isAddrInUse = (err: unknown) => /EADDRINUSE/.test(String((err as Error)?.message ?? err));

/** Resolves once `server`'s member has a leader and has published itself; rejects when `stopped` says so. */
function readyOf(server: KvServer, stopped: () => boolean): Promise<void> {
  const m = server.member;
  return new Promise<void>((resolve, reject) => {
    const check = () => {
      if (stopped()) return reject(new Error(`member ${m.config.name} stopped before it was ready`));
      if (m.consensus.leader() !== 0n && m.hasPublished()) return resolve();
      // Polled on the member's own clock (the real one here): nothing to subscribe to.
      m.clock.setTimeout(check, 20);
    };
    check();
  });
}

/**
 * Starts one member in this process. Without URLs it listens on free loopback ports (client and
 * peer) and forms a cluster of one; without a data dir it uses a fresh temporary one, removed by
 * stop(). Every other field has etcd's default and meaning (resolveConfig checks them).
 */
export async function startMember(options: EmbedOptions = {}): Promise<EmbeddedMember> {
  const { logger: givenLogger, onFatal, ...partial } = options;
  const ownDataDir = partial.dataDir === undefined || partial.dataDir === '';
  const dataDir = ownDataDir ? await mkdtemp(join(tmpdir(), 'kv-embed-')) : partial.dataDir!;
  const pickPorts = partial.listenClientUrls === undefined && partial.listenPeerUrls === undefined;
  try {
    for (let attempt = 1; ; attempt++) {
      const over: Partial<ServerConfig> = { ...partial, dataDir };
      if (pickPorts) {
        const [c, p] = await freeLoopbackPorts(2);
        const clientUrl = `http://127.0.0.1:${c}`;
        const peerUrl = `http://127.0.0.1:${p}`;
        over.listenClientUrls = [clientUrl];
        over.advertiseClientUrls ??= [clientUrl];
        over.listenPeerUrls = [peerUrl];
        over.initialAdvertisePeerUrls ??= [peerUrl];
      }
      try {
        return await launch(resolveConfig(over), givenLogger ?? silentLogger(), onFatal, ownDataDir);
      } catch (err) {
        // A free port taken by someone else between the pick and the bind: pick again.
        if (!pickPorts || !isAddrInUse(err) || attempt >= 5) throw err;
      }
    }
  } catch (err) {
    if (ownDataDir) await rm(dataDir, { recursive: true, force: true });
    throw err;
  }
}

async function launch(
  config: ServerConfig,
  logger: Logger,
  onFatal: ((err: unknown) => void) | undefined,
  ownDataDir: boolean,
): Promise<EmbeddedMember> {
  let stopping: Promise<void> | undefined;
  let server: KvServer | undefined;
  const stop = (): Promise<void> =>
    (stopping ??= (async () => {
      await server?.stop();
      if (ownDataDir) await rm(config.dataDir, { recursive: true, force: true });
    })());
  server = await KvServer.start({
    config,
    logger,
    onFatal:
      onFatal ??
      ((err) => {
        logger.fatal({ err }, 'fatal error; stopping the embedded member');
        void stop().catch(() => undefined);
      }),
  });
  const s = server;
  const ports = s.clientPorts;
  const clientUrls = config.listenClientUrls.map((raw, i) => {
    const u = new URL(raw);
    if (u.port === '0' && ports[i] !== undefined) u.port = String(ports[i]);
    return u.origin;
  });
  const ready = readyOf(s, () => stopping !== undefined);
  ready.catch(() => undefined); // a member stopped before anyone awaited ready is no error
  return {
    name: config.name,
    memberId: s.member.memberId,
    clusterId: s.member.clusterId,
    clientUrls,
    endpoints: clientUrls.map((u) => new URL(u).host),
    peerUrls: config.initialAdvertisePeerUrls,
    dataDir: config.dataDir,
    config,
    server: s,
    ready,
    stop,
  };
}

export interface LocalClusterOptions {
  /** Number of members (default 3). */
  size?: number;
  /** Parent of the members' data dirs (`<root>/<name>`); default a temporary dir, removed by stop(). */
  dataDirRoot?: string;
  /** Member names are `${namePrefix}1..N` (default "m"). */
  namePrefix?: string;
  /** --initial-cluster-token (default one unique to this cluster). */
  token?: string;
  /** Settings for every member (URLs, names and data dirs are the cluster's own). */
  config?: Omit<Partial<ServerConfig>, 'name' | 'dataDir' | 'initialCluster' | 'initialClusterState'>;
  logger?: Logger;
  onFatal?: (err: unknown) => void;
}

export interface LocalCluster {
  readonly members: EmbeddedMember[];
  /** Every member's client endpoints ("127.0.0.1:PORT"), for @kv/client. */
  readonly endpoints: string[];
  /** Resolves once every member is ready (has a leader and has published itself). */
  readonly ready: Promise<void>;
  /** The member that leads now, as the members see it (undefined while there is none). */
  leader(): EmbeddedMember | undefined;
  /** Stops every member, one after another; removes a temporary data dir root. Idempotent. */
  stop(): Promise<void>;
}

let clusterSeq = 0;

/** Starts `size` members on free loopback ports in this process, bootstrapped together (a new cluster). */
export async function startLocalCluster(options: LocalClusterOptions = {}): Promise<LocalCluster> {
  const size = options.size ?? 3;
  if (!Number.isInteger(size) || size < 1) throw new RangeError(`size must be a positive integer, got ${size}`);
  const ownRoot = options.dataDirRoot === undefined;
  const root = options.dataDirRoot ?? (await mkdtemp(join(tmpdir(), 'kv-local-cluster-')));
  const prefix = options.namePrefix ?? 'm';
  const token = options.token ?? `kv-local-${process.pid}-${++clusterSeq}-${Date.now().toString(36)}`;
  const names = Array.from({ length: size }, (_, i) => `${prefix}${i + 1}`);
  // A member dir that existed before is the caller's data (a cluster started again): never removed.
  const existed = new Set(names.filter((name) => existsSync(join(root, name))));
  try {
    for (let attempt = 1; ; attempt++) {
      const ports = await freeLoopbackPorts(2 * size);
      const peer = (i: number) => `http://127.0.0.1:${ports[size + i]}`;
      const initialCluster = names.map((name, i) => ({ name, peerUrls: [peer(i)] }));
      const started: EmbeddedMember[] = [];
      try {
        // Together: a new cluster elects its leader only once a quorum of its members runs.
        const results = await Promise.allSettled(
          names.map((name, i) =>
            startMember({
              ...options.config,
              name,
              dataDir: join(root, name),
              listenClientUrls: [`http://127.0.0.1:${ports[i]}`],
              advertiseClientUrls: [`http://127.0.0.1:${ports[i]}`],
              listenPeerUrls: [peer(i)],
              initialAdvertisePeerUrls: [peer(i)],
              initialCluster,
              initialClusterState: 'new',
              initialClusterToken: token,
              logger: options.logger,
              onFatal: options.onFatal,
            }),
          ),
        );
        for (const r of results) if (r.status === 'fulfilled') started.push(r.value);
        const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        if (failed) throw failed.reason;
      } catch (err) {
        for (const m of started) await m.stop().catch(() => undefined);
        // Nothing a failed start made may stay behind: the next attempt bootstraps afresh.
        for (const name of names) if (!existed.has(name)) await rm(join(root, name), { recursive: true, force: true });
        if (!isAddrInUse(err) || attempt >= 5) throw err;
        continue;
      }
      let stopping: Promise<void> | undefined;
      const members = started;
      const ready = Promise.all(members.map((m) => m.ready)).then(() => undefined);
      ready.catch(() => undefined);
      return {
        members,
        endpoints: members.flatMap((m) => m.endpoints),
        ready,
        leader() {
          const ids = members.map((m) => m.server.member.consensus.leader());
          return members.find((m) => m.memberId === ids.find((id) => id !== 0n));
        },
        stop: () =>
          (stopping ??= (async () => {
            for (const m of members) await m.stop();
            if (ownRoot) await rm(root, { recursive: true, force: true });
          })()),
      };
    }
  } catch (err) {
    if (ownRoot) await rm(root, { recursive: true, force: true });
    throw err;
  }
}

// KvServer: a Member behind its client listeners (gRPC + HTTP on each --listen-client-urls) and
// its peer listener (--listen-peer-urls).
import { etcdserverpb, v3electionpb, v3lockpb } from '@kv/api';
import { applyRange } from '@kv/mvcc';
import { Server as GrpcServer, ServerCredentials, type ConnectionInjector } from '@grpc/grpc-js';
import { join } from 'node:path';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Http2ServerRequest, Http2ServerResponse } from 'node:http2';
import type { Logger } from 'pino';
import { effectiveQuota, type ServerConfig, type TlsFiles } from './config.js';
import { layout, restrictModes } from './data_dir.js';
import { membersResponse, peerClusterFetcher } from './cluster/join.js';
import { hashKvResponse, initialCorruptCheck, parseHashKvRequest, peerHash } from './cluster/corrupt_check.js';
import { CorruptMonitor, type CorruptCheckDeps } from './cluster/corrupt_monitor.js';
import { clientPortInjector } from './grpc_http2.js';
import { answerGateway, isGatewayPath, readBody, type GatewayImpls, type GatewayRequest } from './gateway/index.js';
import { memberDialCa } from './cluster/leader_forward.js';
import { answerHealth, type HealthProbe, type HttpAnswer } from './health.js';
import { answerAsset, answerMemberStatuses, isDashboardPath, loadAssets, securityHeaders, type Asset } from './dashboard/index.js';
import { metadataOf } from './gateway/unary.js';
import { RpcError, toServiceError } from './errors.js';
import { readFileSync } from 'node:fs';
import { enforceKeepalivePolicy } from './keepalive_policy.js';
import { certHosts, selfCert } from './transport/self_cert.js';
import { ClientListener } from './listener.js';
import { TlsPolicy } from './tls_policy.js';
import { Member } from './member.js';
import { answerMetrics, GrpcMetrics, MemberMetrics, MetricsListener, Recorders, type MetricsSource } from './metrics/index.js';
import { authService } from './services/auth.js';
import { rootOnly, tokenCatchUp } from './services/auth_gate.js';
import { guardCalls } from './services/call_guard.js';
import { clusterService } from './services/cluster.js';
import { electionService } from './services/election.js';
import { lockService } from './services/lock.js';
import { kvService } from './services/kv.js';
import { leaseService } from './services/lease.js';
import { maintenanceService } from './services/maintenance.js';
import { RequireLeaderMonitor } from './services/require_leader.js';
import { strictService } from './services/strict.js';
import { watchService } from './services/watch.js';
import { createPeerListener, loadPeerTls } from './transport/index.js';
import { dataDirDisk, realClock, realRandom, TcpNetwork, type MemberWorld } from './world/index.js';

/** The key the health probes read (etcdctl endpoint health reads the same one); absent is fine. */
const HealthProbeKey = Buffer.from('health');

/** etcd lets gRPC messages exceed --max-request-bytes by this much (framing, headers). */
const grpcOverheadBytes = 512 * 1024;

export interface KvServerOptions {
  config: ServerConfig;
  logger: Logger;
  kvVersion?: string;
  onFatal?: (err: unknown) => void;
}

/** The client port's TLS (tls_policy.ts: files re-read when changed, CRL, allowed hostname); undefined without a pair. */
function clientTlsPolicy(files: TlsFiles, logger: Logger): TlsPolicy | undefined {
  if (!files.certFile || !files.keyFile) return undefined;
  return new TlsPolicy(files, { side: 'client', logger });
}

/** grpc-go's server keepalive defaults, which apply when etcd passes no ServerParameters (a 0 flag). */
const grpcGoKeepaliveTimeMs = 2 * 3600 * 1000;
const grpcGoKeepaliveTimeoutMs = 20_000;

/**
 * The client port's gRPC options, from etcd's flags: message sizes (v3rpc.Server),
 * --max-concurrent-streams (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS) and the server-to-client
 * keepalive of --grpc-keepalive-interval/--grpc-keepalive-timeout. etcd passes the keepalive only
 * when both are > 0; otherwise grpc-go's defaults (2 h, 20 s) apply, so they do here too.
 */
export function grpcServerOptions(config: ServerConfig): Record<string, number> {
  const keepalive = config.grpcKeepAliveIntervalMs > 0 && config.grpcKeepAliveTimeoutMs > 0;
  return {
    'grpc.max_receive_message_length': config.maxRequestBytes + grpcOverheadBytes,
    'grpc.max_send_message_length': -1,
    'grpc.max_concurrent_streams': config.maxConcurrentStreams,
    'grpc.keepalive_time_ms': keepalive ? config.grpcKeepAliveIntervalMs : grpcGoKeepaliveTimeMs,
    'grpc.keepalive_timeout_ms': keepalive ? config.grpcKeepAliveTimeoutMs : grpcGoKeepaliveTimeoutMs,
  };
}

/**
 * etcd's ClientSelfCert/PeerSelfCert (embed/config.go): with --auto-tls (--peer-auto-tls) and no
 * certificate given, a self-signed pair in <data-dir>/fixtures/client (peer) for the hosts of the
 * listen URLs; with a certificate given, the flag is ignored with etcd's warning.
 */
export async function withAutoTls(config: ServerConfig, logger: Logger): Promise<ServerConfig> {
  const out = { ...config };
  const sides = [
    { on: config.clientAutoTls, key: 'clientTls', dir: 'client', urls: config.listenClientUrls, what: 'client' },
    { on: config.peerAutoTls, key: 'peerTls', dir: 'peer', urls: config.listenPeerUrls, what: 'peer' },
  ] as const;
  for (const side of sides) {
    if (!side.on) continue;
    const files = config[side.key];
    if (files.certFile || files.keyFile || files.trustedCaFile || files.clientCertAuth) {
      logger.warn(`ignoring ${side.what} auto TLS since certs given`);
      continue;
    }
    const made = await selfCert(join(config.dataDir, 'fixtures', side.dir), certHosts(side.urls));
    logger.info({ certFile: made.certFile, keyFile: made.keyFile, created: made.created }, `${side.what} auto TLS certificate ready`);
    out[side.key] = { ...files, certFile: made.certFile, keyFile: made.keyFile, selfSigned: true };
  }
  return out;
}

export class KvServer {
  private readonly listeners: ClientListener[] = [];
  private readonly peerListeners: ClientListener[] = [];
  private readonly metricsListeners: MetricsListener[] = [];
  /** gRPC counters of every served method (registered with `metrics`). */
  private readonly grpcMetrics: GrpcMetrics;
  /** The member's Prometheus registry: GET /metrics on the client and --listen-metrics-urls ports. */
  readonly metrics: MemberMetrics;
  /** Actual --listen-metrics-urls ports, in flag order. */
  readonly metricsPorts: number[] = [];
  private grpc?: GrpcServer;
  /** The guarded service implementations the JSON gateway (gateway/) calls; set with the gRPC server. */
  private gatewayImpls?: GatewayImpls;
  private injector?: ConnectionInjector;
  /**
   * Streams opened with metadata `hasleader: true` (Watch, LeaseKeepAlive, any server stream):
   * ended with Unavailable `etcdserver: no leader` after 3 election timeouts without a leader.
   * A service with its own way to end: `requireLeader.register(call, onNoLeader)` → unregister.
   */
  readonly requireLeader: RequireLeaderMonitor;
  /** Actual client ports, in --listen-client-urls order (useful with port 0). */
  readonly clientPorts: number[] = [];
  readonly peerPorts: number[] = [];

  private constructor(
    readonly member: Member,
    private readonly o: KvServerOptions,
    private readonly network: TcpNetwork,
  ) {
    this.requireLeader = new RequireLeaderMonitor({
      clock: member.clock,
      hasLeader: () => member.consensus.leader() !== 0n,
      intervalMs: o.config.electionTimeoutMs,
      logger: o.logger,
    });
    this.corruptMonitor = new CorruptMonitor(this.corruptCheckDeps(), member.clock, o.config.corruptCheckTimeMs);
    this.grpcMetrics = new GrpcMetrics(o.config.metrics === 'extensive', member.counters);
    this.metrics = new MemberMetrics(this.metricsSource(), member.recorders, this.grpcMetrics);
  }

  /** etcd's --experimental-corrupt-check-time: the leader's periodic HashKV comparison (0 = off). */
  private readonly corruptMonitor: CorruptMonitor;
  /** --enable-ui: the dashboard's assets, read once at start (dashboard/assets.ts), or why they could not be. */
  private ui?: { assets: Map<string, Asset> } | { missing: string };

  private corruptCheckDeps(): CorruptCheckDeps {
    const m = this.member;
    const logger = this.o.logger;
    // One peer TLS for every pass (it re-reads its files itself when they change).
    const tls = loadPeerTls(this.o.config.peerTls, logger);
    return {
      memberId: m.memberId,
      isLeader: () => m.consensus.isLeader(),
      localHash: async () => {
        const h = await m.store.hashByRev(0n);
        return { hash: h.hash, compactRevision: h.compactRev, revision: h.currentRev };
      },
      peerHashes: (revision) => {
        const peers = m.members().filter((x) => x.id !== m.memberId && !x.isLearner);
        return Promise.all(
          peers.map((p) => peerHash(p.id, p.peerUrls, revision, { tls, timeoutMs: 5000, logger, what: 'corruption check' })),
        );
      },
      readBarrier: () => m.consensus.readBarrier(),
      raiseCorrupt: async () => {
        // memberID 0: the check cannot tell which member's data is wrong (as etcd 3.4).
        await m.propose({
          alarm: { action: etcdserverpb.AlarmRequest_AlarmAction.ACTIVATE, memberID: 0n, alarm: etcdserverpb.AlarmType.CORRUPT },
        });
      },
      logger,
    };
  }

  /** What the metrics read at scrape time (nothing here runs per request). */
  private metricsSource(): MetricsSource {
    const m = this.member;
    return {
      memberId: m.memberId,
      serverVersion: m.version.server,
      clusterVersion: () => m.version.cluster,
      hasLeader: () => m.consensus.leader() !== 0n,
      isLeader: () => m.consensus.isLeader(),
      isLearner: () => m.isLearner(),
      committedIndex: () => m.consensus.commitIndex(),
      appliedIndex: () => m.consensus.appliedIndex(),
      pendingProposals: () => m.raft.pendingProposals(),
      raft: () => m.raft.counters,
      counters: m.counters,
      dbSize: () => m.backend.size(),
      dbSizeInUse: () => m.backend.sizeInUse(),
      quotaBytes: () => effectiveQuota(this.o.config),
      keys: () => m.store.keyCount(),
      currentRevision: () => m.store.currentRev(),
      compactRevision: () => m.store.compactRev(),
      watchers: () => ({
        total: m.watchable.syncedCount() + m.watchable.unsyncedCount(),
        slow: m.watchable.unsyncedCount(),
        streams: m.watchStreamCount,
      }),
      walWriteBytes: () => m.walStats().bytes,
      peers: () => this.network.transport.peerTraffic(),
    };
  }

  static async start(options: KvServerOptions): Promise<KvServer> {
    // --auto-tls/--peer-auto-tls: certificates made (or reused) in the data dir before anything listens.
    const o = { ...options, config: await withAutoTls(options.config, options.logger) };
    // kvd's world: the process's clocks and randomness, the data dir, the TCP/TLS peer network.
    const peerTls = loadPeerTls(o.config.peerTls, o.logger);
    // The disk and peer histograms: the network reports ping round trips, the member the rest.
    const recorders = new Recorders();
    // A follower's forwards to the leader's https client URL go with this member's client TLS,
    // trusting the peer CA as well: etcd forwards over the peer port, so a cluster whose client
    // port has no --trusted-ca-file (clients need no certificate) still renews through followers.
    const forwardPolicy = clientTlsPolicy(o.config.clientTls, o.logger);
    const network = new TcpNetwork({
      onRtt: recorders.observePeerRtt,
      forwardTls: () =>
        forwardPolicy || peerTls
          ? { ca: memberDialCa(forwardPolicy?.ca, peerTls?.ca), cert: forwardPolicy?.cert, key: forwardPolicy?.key }
          : undefined,
      logger: o.logger,
      tls: peerTls,
      maxFrameBytes: Math.max(64 * 1024 * 1024, 4 * (o.config.maxRequestBytes + grpcOverheadBytes)),
      clock: realClock,
    });
    const world: MemberWorld = {
      clock: realClock,
      random: realRandom,
      disk: dataDirDisk(o.config.dataDir, { walDir: o.config.walDir }),
      network: network.factory,
      fetchCluster: peerClusterFetcher(peerTls),
    };
    const member = await Member.open({ config: o.config, logger: o.logger, world, kvVersion: o.kvVersion, onFatal: o.onFatal, recorders });
    // Files an earlier run (or LevelDB under a loose umask) left readable by others: 0700/0600.
    const dirs = layout(o.config.dataDir, o.config.walDir);
    const tightened = restrictModes(dirs.member) + (dirs.dedicatedWal ? restrictModes(dirs.wal) : 0);
    if (tightened > 0) o.logger.warn({ entries: tightened }, 'removed group and world access from data dir entries');
    const s = new KvServer(member, o, network);
    try {
      await s.listen();
    } catch (err) {
      await s.stop();
      throw err;
    }
    return s;
  }

  private async listen(): Promise<void> {
    const { config } = this.o;
    const grpc = new GrpcServer(grpcServerOptions(config));
    const m = this.member;
    // etcd's interceptor checks on every call, learner rules then require-leader
    // (services/call_guard.ts); every service decodes strictly first: malformed request bytes get
    // InvalidArgument (services/strict.ts). A new service is registered the same way.
    // Calls carrying a token from an Authenticate this member has not applied yet wait for it.
    const guard = <T extends object>(impl: T) =>
      guardCalls(tokenCatchUp(impl, m), {
        isLearner: () => m.isLearner(),
        hasLeader: () => m.consensus.leader() !== 0n,
        requireLeader: this.requireLeader,
      });
    // Outermost, go-grpc-prometheus's counters (metrics/grpc_metrics.ts).
    const add = (served: ReturnType<typeof strictService>) => grpc.addService(...this.grpcMetrics.instrument(served));
    // The JSON gateway (gateway/) calls these same guarded implementations.
    const g: GatewayImpls = {
      kv: guard(kvService(m)),
      watch: guard(watchService(m)),
      lease: guard(leaseService(m)),
      // Root-only calls outside the log (maintenance, member changes): services/auth_gate.ts.
      maintenance: guard(rootOnly(maintenanceService(m), m)),
      cluster: guard(rootOnly(clusterService(m), m)),
      auth: guard(authService(m)),
      // v3lock and v3election: etcd's concurrency recipes run here, over the KV paths above.
      lock: guard(lockService(m)),
      election: guard(electionService(m)),
    };
    if (config.enableGrpcGateway) this.gatewayImpls = g;
    add(strictService(etcdserverpb.KVService, g.kv as etcdserverpb.KVServer));
    add(strictService(etcdserverpb.WatchService, g.watch as etcdserverpb.WatchServer));
    add(strictService(etcdserverpb.LeaseService, g.lease as etcdserverpb.LeaseServer));
    add(strictService(etcdserverpb.MaintenanceService, g.maintenance as etcdserverpb.MaintenanceServer));
    add(strictService(etcdserverpb.ClusterService, g.cluster as etcdserverpb.ClusterServer));
    add(strictService(etcdserverpb.AuthService, g.auth as etcdserverpb.AuthServer));
    add(strictService(v3lockpb.LockService, g.lock as v3lockpb.LockServer));
    add(strictService(v3electionpb.ElectionService, g.election as v3electionpb.ElectionServer));
    this.grpc = grpc;
    // TLS, when configured, is terminated by our listener, so grpc-js sees plain HTTP/2; its
    // HTTP/2 requests that are not gRPC come back to serveHttp.
    const injector = clientPortInjector(
      grpc,
      ServerCredentials.createInsecure(),
      (req, res) => this.serveHttp(req, res),
      (session) => enforceKeepalivePolicy(session, { minTimeMs: config.grpcKeepAliveMinTimeMs }),
    );
    this.injector = injector;
    await this.listenPeers();
    // etcd's order: raft and the peer port first, then (optionally) the initial corruption check,
    // then clients — so a member whose data differs from its peers' never serves any of it.
    if (config.experimentalInitialCorruptCheck) await this.checkWithPeers();
    this.requireLeader.start();
    if (config.enableUi) this.ui = this.loadUi();
    await this.listenClients(injector);
    await this.listenMetrics();
    this.corruptMonitor.start();
  }

  /** --listen-metrics-urls: /metrics and the health endpoints on plain HTTP(S) listeners (etcd's serveMetrics). */
  private async listenMetrics(): Promise<void> {
    const { config, logger } = this.o;
    // The client TLS settings as of start (the client port itself re-reads changed files per handshake).
    const clientTls = clientTlsPolicy(config.clientTls, logger)?.serverOptions();
    for (const raw of config.listenMetricsUrls) {
      const l = new MetricsListener({
        url: raw,
        tls: new URL(raw).protocol === 'https:' ? clientTls : undefined,
        handler: (req, res) => this.serveHttp(req, res, { metricsOnly: true }),
        logger,
      });
      this.metricsListeners.push(l);
      this.metricsPorts.push(await l.listen());
      logger.info({ address: raw }, 'serving metrics');
    }
  }

  private async listenClients(injector: ConnectionInjector): Promise<void> {
    const { config, logger } = this.o;
    const clientTls = clientTlsPolicy(config.clientTls, logger);
    for (const raw of config.listenClientUrls) {
      const u = new URL(raw);
      if (u.protocol === 'https:' && !clientTls)
        throw new Error(`--listen-client-urls ${raw} is https but --cert-file/--key-file are not set`);
      const l = new ClientListener({
        host: u.hostname.replace(/^\[|\]$/g, ''),
        port: Number(u.port || 2379),
        tlsPolicy: u.protocol === 'https:' ? clientTls : undefined,
        grpc: (conn) => injector.injectConnection(conn),
        http: (req, res) => this.serveHttp(req, res),
        logger,
      });
      this.clientPorts.push(await l.listen());
      this.listeners.push(l);
      logger.info({ address: raw }, 'serving client traffic');
    }
  }

  /** etcd's --experimental-initial-corrupt-check: compare HashKV at our revision with every peer. */
  private async checkWithPeers(): Promise<void> {
    const m = this.member;
    const h = await m.store.hashByRev(0n);
    const peers = m
      .members()
      .filter((x) => x.id !== m.memberId && !x.isLearner)
      .map((x) => ({ id: x.id, urls: x.peerUrls }));
    await initialCorruptCheck({
      memberId: m.memberId,
      local: { hash: h.hash, compactRevision: h.compactRev, revision: h.currentRev },
      peers,
      tls: loadPeerTls(this.o.config.peerTls),
      timeoutMs: 5000,
      logger: this.o.logger,
    });
  }

  /** The peer port: raft messages and snapshots between members, /members, /version over HTTP/1. */
  private async listenPeers(): Promise<void> {
    const { config, logger } = this.o;
    const peerTls = loadPeerTls(config.peerTls, logger);
    const transport = this.network.transport;
    for (const raw of config.listenPeerUrls) {
      const l = createPeerListener({ url: raw, transport, http: (req, res) => this.servePeerHttp(req, res), tls: peerTls, logger });
      this.peerPorts.push(await l.listen());
      this.peerListeners.push(l);
      logger.info({ address: raw }, 'serving peer traffic');
    }
    await this.member.start();
  }

  /**
   * Client-port HTTP (HTTP/1.x, and HTTP/2 requests that are not gRPC): /version (etcd 3.4's
   * shape), /metrics (metrics/), the JSON gateway (gateway/), the /ui dashboard (dashboard/) and the
   * health endpoints (health.ts). A metrics listener (`metricsOnly`) serves /metrics and the health
   * endpoints only.
   */
  private serveHttp(
    req: IncomingMessage | Http2ServerRequest,
    res: ServerResponse | Http2ServerResponse,
    opts: { metricsOnly?: boolean } = {},
  ): void {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const reply = (a: HttpAnswer) => {
      if (res.headersSent) return;
      res.writeHead(a.status, a.headers);
      res.end(a.body);
    };
    if (path === '/metrics') {
      answerMetrics(req.method ?? 'GET', path, this.metrics)
        .then((a) => reply(a!))
        .catch((err: unknown) => {
          this.o.logger.error({ err, path }, 'metrics endpoint failed');
          reply({ status: 500, headers: { 'Content-Type': 'text/plain' }, body: 'internal error\n' });
        });
      return;
    }
    if (isDashboardPath(path) && !opts.metricsOnly && this.ui) {
      this.serveDashboard(req, path, reply);
      return;
    }
    if (isGatewayPath(path) && !opts.metricsOnly && this.gatewayImpls) {
      const sink = {
        writeHead: (s: number, h: Record<string, string>) => res.writeHead(s, h),
        write: (c: string) => (res.writableEnded || res.destroyed ? true : (res as { write(c: string): boolean }).write(c)),
        end: () => res.end(),
        onDrain: (f: () => void) => res.on('drain', f),
      };
      const g = {
        method: req.method ?? 'GET',
        path,
        headers: req.headers,
        body: () => readBody(req),
        bodyStream: req,
        sink,
        onClose: (f: () => void) => res.on('close', f),
      };
      answerGateway(g as GatewayRequest, this.gatewayImpls)
        .then((a) => a && reply(a))
        .catch((err: unknown) => this.o.logger.error({ err, path }, 'JSON gateway failed'));
      return;
    }
    if (path === '/version' && !opts.metricsOnly) {
      reply({
        status: 200,
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({
          etcdserver: this.member.version.server,
          etcdcluster: this.member.version.cluster,
          kv: this.member.version.kv,
        }),
      });
      return;
    }
    answerHealth(req.method ?? 'GET', path, q < 0 ? '' : url.slice(q + 1), this.healthProbe())
      .then((a) => reply(a ?? { status: 404, headers: { 'Content-Type': 'text/plain' }, body: '404 page not found\n' }))
      .catch((err: unknown) => {
        this.o.logger.error({ err, path }, 'health endpoint failed');
        reply({ status: 500, headers: { 'Content-Type': 'text/plain' }, body: 'internal error\n' });
      });
  }

  /** The dashboard's assets from dist/ui; a package built without them serves /ui as 503 with the reason. */
  private loadUi(): { assets: Map<string, Asset> } | { missing: string } {
    try {
      return { assets: loadAssets() };
    } catch (err) {
      const missing = err instanceof Error ? err.message : String(err);
      this.o.logger.warn({ err: missing }, 'dashboard assets missing; /ui answers 503');
      return { missing };
    }
  }

  /** /ui, /ui/ and its assets (dashboard/http.ts), and POST /ui/api/members (dashboard/member_status.ts). */
  private serveDashboard(req: IncomingMessage | Http2ServerRequest, path: string, reply: (a: HttpAnswer) => void): void {
    const ui = this.ui!;
    const method = req.method ?? 'GET';
    if ('missing' in ui) {
      reply({ status: 503, headers: { 'Content-Type': 'text/plain; charset=utf-8', ...securityHeaders }, body: `${ui.missing}\n` });
      return;
    }
    if (path !== '/ui/api/members') {
      reply(answerAsset(method, path, ui.assets));
      return;
    }
    const auth = req.headers['authorization'];
    const m = this.member;
    const tlsFiles = this.o.config.clientTls;
    const peerCaFile = this.o.config.peerTls.trustedCaFile;
    answerMemberStatuses(method, Array.isArray(auth) ? auth[0] : auth, {
      selfId: m.memberId,
      members: () => m.members().map((x) => ({ id: x.id, name: x.name, clientUrls: x.clientUrls })),
      authorize: async (authorization) => {
        if (!m.auth.enabled) return;
        // As the gateway's gate (services/auth_gate.ts tokenCatchUp), then a user is required.
        const md = metadataOf({ authorization });
        try {
          if (m.identity.tokenAhead(md)) await m.consensus.readBarrier();
          else await m.identity.prepare(md);
          const ai = m.identity.authInfo(md);
          if (!ai || ai.username === '') throw new RpcError('UserEmpty');
        } catch (err) {
          throw toServiceError(err);
        }
      },
      tls: () => ({
        // As a follower's forwards: the peer CA is trusted too (cluster/leader_forward.ts).
        ca: memberDialCa(
          tlsFiles.trustedCaFile ? readFileSync(tlsFiles.trustedCaFile) : undefined,
          peerCaFile ? readFileSync(peerCaFile) : undefined,
        ),
        cert: tlsFiles.certFile ? readFileSync(tlsFiles.certFile) : undefined,
        key: tlsFiles.keyFile ? readFileSync(tlsFiles.keyFile) : undefined,
        rejectUnauthorized: !tlsFiles.selfSigned,
      }),
      // Below the browser's own poll interval, so one slow member never stacks requests up.
      timeoutMs: 2000,
    })
      .then(reply)
      .catch((err: unknown) => {
        this.o.logger.error({ err, path }, 'dashboard member status failed');
        reply({ status: 500, headers: { 'Content-Type': 'text/plain' }, body: 'internal error\n' });
      });
  }

  /** What /health, /livez and /readyz look at (reads as the member itself, so auth does not stop them). */
  private healthProbe(): HealthProbe {
    return {
      alarms: () => this.member.alarms.get(etcdserverpb.AlarmType.NONE).map((a) => a.alarm),
      hasLeader: () => this.member.consensus.leader() !== 0n,
      published: () => this.member.hasPublished(),
      read: async (serializable) => {
        if (!serializable) await this.member.consensus.readBarrier();
        await applyRange(this.member.store, etcdserverpb.RangeRequest.fromPartial({ key: HealthProbeKey, limit: 1n, keysOnly: true }));
      },
      // etcd's ReqTimeout: 5 s plus two election timeouts.
      timeoutMs: 5000 + 2 * this.o.config.electionTimeoutMs,
    };
  }

  /** Peer-port HTTP: /version for now; raft transport arrives with the replicated cluster. */
  private servePeerHttp(req: IncomingMessage, res: ServerResponse): void {
    if ((req.url ?? '').split('?')[0] === '/members/hashkv' && req.method === 'POST') {
      void this.servePeerHashKv(req, res);
      return;
    }
    if ((req.url ?? '').split('?')[0] === '/members') {
      const { headers, body } = membersResponse(this.member.clusterId, this.member.membership.list());
      res.writeHead(200, headers);
      res.end(body);
      return;
    }
    if ((req.url ?? '').startsWith('/version')) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ etcdserver: this.member.version.server, etcdcluster: this.member.version.cluster }));
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('404 page not found\n');
  }

  /** POST /members/hashkv {"revision":"N"}: this member's HashKV at N, for a peer's corruption check. */
  private async servePeerHashKv(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const reply = (code: number, body: string) => {
      if (res.headersSent) return;
      res.writeHead(code, { 'Content-Type': code === 200 ? 'application/json' : 'text/plain' });
      res.end(body);
    };
    try {
      const parts: Buffer[] = [];
      let size = 0;
      for await (const c of req as AsyncIterable<Buffer>) {
        size += c.length;
        if (size > 4096) return reply(413, 'request too large\n');
        parts.push(c);
      }
      const rev = parseHashKvRequest(Buffer.concat(parts).toString());
      const h = await this.member.store.hashByRev(rev);
      reply(200, hashKvResponse(this.member.memberId, { hash: h.hash, compactRevision: h.compactRev, revision: h.currentRev }));
    } catch (err) {
      reply(400, `${(err as Error).message}\n`);
    }
  }

  /**
   * Test hook: drop every raft message and snapshot this member sends or receives, as if it were
   * cut off from the others by the network (kvd toggles it on SIGUSR2 when KVD_TEST_HOOKS=1).
   */
  setPeerIsolation(on: boolean): void {
    this.network.setIsolation(on);
  }

  get peerIsolated(): boolean {
    return this.network.isolated;
  }

  /** Graceful stop: no new connections, in-flight requests finish, state is persisted. */
  async stop(): Promise<void> {
    this.requireLeader.stop();
    this.corruptMonitor.stop();
    for (const l of this.metricsListeners) await l.close();
    for (const l of this.listeners) await l.close();
    this.injector?.drain(1000);
    // The member persists lease checkpoints and stops consensus (a leader hands leadership over
    // first) while the peers are still reachable, then its network; then the peer port closes.
    await this.member.stop();
    for (const l of this.peerListeners) await l.close();
    this.injector?.destroy();
    this.grpc?.forceShutdown();
  }
}

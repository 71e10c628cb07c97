// Channels to the endpoints, endpoint selection (round robin over healthy endpoints), retries,
// deadlines, and the auth token. One gRPC channel per endpoint, shared by all six etcd service
// stubs.
//
// Invariants:
// - `conns` is never empty; `rr` is the index the next pick starts from (taken mod the length,
//   since sync() may shrink the list).
// - An endpoint is unhealthy while `unhealthyUntil` is in the future: picks skip it unless every
//   endpoint is unhealthy, and then the one whose backoff ends first is probed.
// - A request is sent again only when retry.ts's isSafeRetry allows it for its policy
//   (etcd's repeatable / non-repeatable RPCs).
import {
  credentials,
  connectivityState,
  Metadata,
  status,
  type CallOptions,
  type Channel,
  type ChannelCredentials,
  type ClientOptions,
  type ClientUnaryCall,
  type ServiceError,
} from '@grpc/grpc-js';
import { etcdserverpb } from '@kv/api';
import { parseEndpoint, type Endpoint } from './endpoints.js';
import {
  AuthNotEnabledError,
  CancelledError,
  DeadlineExceededError,
  UnavailableError,
  markLoginError,
  shouldRefreshToken,
  toEtcdError,
  type EtcdError,
} from './errors.js';
import { sleep, systemClock, systemRandom, type Clock, type Random } from './clock.js';
import { backoffMs, isSafeRetry, marksUnhealthy, retryConfig, type RetryConfig, type RetryOptions } from './retry.js';

/** TLS material, PEM text or bytes (not file names). */
export interface TlsOptions {
  /** CA bundle to verify the server with; the system roots when absent. */
  ca?: string | Buffer;
  /** Client certificate chain (mutual TLS). */
  cert?: string | Buffer;
  /** Client private key (mutual TLS). */
  key?: string | Buffer;
  /** Do not verify the server certificate at all (testing only). */
  insecureSkipVerify?: boolean;
  /** Expected server name when it differs from the endpoint host. */
  serverName?: string;
}

export interface AuthOptions {
  username: string;
  /**
   * The password, or a function that supplies it when the first Authenticate is sent (asked
   * once; kvctl's password prompt).
   */
  password: string | (() => string | Promise<string>);
}

export interface ConnectionOptions {
  endpoints: string[];
  /** Longest wait for one endpoint to become connected before trying the next (default 2000). */
  dialTimeoutMs?: number;
  /** Default deadline for each unary call; none when absent. */
  requestTimeoutMs?: number;
  /** TLS for every endpoint (also turned on per endpoint by an https:// scheme). */
  tls?: TlsOptions;
  auth?: AuthOptions;
  /** Retries of failed unary calls (see retry.ts). */
  retry?: RetryOptions;
  /** How long an endpoint that failed is skipped before it is probed again (ms, default 1000; doubles per failure up to 8x). */
  unhealthyBackoffMs?: number;
  /** gRPC keep-alive: ping after this long without activity (ms; etcd's DialKeepAliveTime, default off). */
  keepaliveTimeMs?: number;
  /** gRPC keep-alive: close the connection when a ping is not answered within this (ms; etcd's DialKeepAliveTimeout, grpc default 20000). */
  keepaliveTimeoutMs?: number;
  /** Send keep-alive pings even when no call or stream is open (etcd's PermitWithoutStream). */
  permitWithoutStream?: boolean;
  /** Largest request this client sends (bytes; default unlimited, etcd's Go client 2 MiB). */
  maxCallSendMsgSize?: number;
  /** Largest response this client accepts (bytes; default unlimited, etcd's Go client 2^31-1). */
  maxCallRecvMsgSize?: number;
  /** Send etcd's `hasleader` metadata with every call and stream (see ClientOptions.requireLeader). */
  requireLeader?: boolean;
  /** Extra @grpc/grpc-js channel options (win over everything above). */
  channelOptions?: Partial<ClientOptions>;
  clock?: Clock;
  random?: Random;
}

/** Per-call options accepted by every unary method. */
export interface CallOpts {
  /** Deadline for this call, relative; overrides the client's requestTimeoutMs. Bounds the retries too. */
  timeoutMs?: number;
  /** Abort the call (and its retries). */
  signal?: AbortSignal;
  /**
   * Ask the member to refuse the call at once with `etcdserver: no leader` when it has no leader
   * (etcd's clientv3.WithRequireLeader); default: the client's requireLeader option.
   */
  requireLeader?: boolean;
}

/** Internal: how a unary call may be retried and where it goes. */
export interface UnaryPolicy extends CallOpts {
  /** etcd's "repeatable" RPCs: safe to send twice (reads, and writes whose repetition is harmless). */
  idempotent: boolean;
  /** Send only to this endpoint (as written by the user); no fail-over. */
  endpoint?: string;
}

/** Requests and failures per endpoint, for tests and operators. */
export interface EndpointStats {
  endpoint: string;
  /** Unary calls and streams started on this endpoint. */
  sent: number;
  /** Of those, the ones that failed with an error that marks the endpoint unhealthy. */
  failed: number;
  /** Not in its backoff period. */
  healthy: boolean;
}

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
/** The 4-argument overload of a generated unary stub method. */
export type UnaryMethod<Req, Res> = (req: Req, md: Metadata, options: Partial<CallOptions>, cb: Callback<Res>) => ClientUnaryCall;

/** The six service stubs of one endpoint, sharing one channel, and its health. */
export class EndpointConn {
  readonly kv: etcdserverpb.KVClient;
  readonly watch: etcdserverpb.WatchClient;
  readonly lease: etcdserverpb.LeaseClient;
  readonly cluster: etcdserverpb.ClusterClient;
  readonly maintenance: etcdserverpb.MaintenanceClient;
  readonly auth: etcdserverpb.AuthClient;
  readonly channel: Channel;
  /** Skipped by picks until this time (ms since epoch); 0: healthy. */
  unhealthyUntil = 0;
  /** Consecutive failures (resets on success); sets the backoff. */
  failures = 0;
  sent = 0;
  failed = 0;

  constructor(
    /** Replaced by setEndpoints when the same target is named differently. */
    public endpoint: Endpoint,
    creds: ChannelCredentials,
    options: Partial<ClientOptions>,
  ) {
    this.kv = new etcdserverpb.KVClient(endpoint.target, creds, options);
    this.channel = this.kv.getChannel() as Channel;
    const shared = { ...options, channelOverride: this.channel };
    this.watch = new etcdserverpb.WatchClient(endpoint.target, creds, shared);
    this.lease = new etcdserverpb.LeaseClient(endpoint.target, creds, shared);
    this.cluster = new etcdserverpb.ClusterClient(endpoint.target, creds, shared);
    this.maintenance = new etcdserverpb.MaintenanceClient(endpoint.target, creds, shared);
    this.auth = new etcdserverpb.AuthClient(endpoint.target, creds, shared);
  }

  close(): void {
    this.channel.close();
  }
}

const DEFAULT_DIAL_TIMEOUT_MS = 2000;
const DEFAULT_UNHEALTHY_BACKOFF_MS = 1000;
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1000;

/** grpc-js channel options for the client options (etcd's clientv3.Config names mapped). */
export function channelOptionsFor(opts: ConnectionOptions): Partial<ClientOptions> {
  const o: Partial<ClientOptions> = {
    'grpc.max_receive_message_length': opts.maxCallRecvMsgSize ?? -1,
    'grpc.max_send_message_length': opts.maxCallSendMsgSize ?? -1,
    'grpc.initial_reconnect_backoff_ms': 100,
    'grpc.max_reconnect_backoff_ms': 1000,
  };
  if (opts.maxCallSendMsgSize !== undefined && opts.maxCallRecvMsgSize !== undefined && opts.maxCallSendMsgSize > opts.maxCallRecvMsgSize) {
    // etcd's Go client refuses the same combination.
    throw new RangeError(
      `gRPC message recv limit (${opts.maxCallRecvMsgSize} bytes) must be greater than send limit (${opts.maxCallSendMsgSize} bytes)`,
    );
  }
  if (opts.keepaliveTimeMs !== undefined) o['grpc.keepalive_time_ms'] = opts.keepaliveTimeMs;
  if (opts.keepaliveTimeoutMs !== undefined) o['grpc.keepalive_timeout_ms'] = opts.keepaliveTimeoutMs;
  if (opts.permitWithoutStream !== undefined) o['grpc.keepalive_permit_without_calls'] = opts.permitWithoutStream ? 1 : 0;
  if (opts.tls?.serverName) o['grpc.ssl_target_name_override'] = opts.tls.serverName;
  return { ...o, ...opts.channelOptions };
}

export class Connections {
  readonly clock: Clock;
  readonly random: Random;
  private conns: EndpointConn[];
  /** Connections made for endpoints named in a call but not in the configured list. */
  private readonly extra = new Map<string, EndpointConn>();
  private rr = 0;
  private closed = false;
  private token: string | undefined;
  private authInFlight: Promise<string> | undefined;
  private passwordAsked: Promise<string> | undefined;
  private readonly dialTimeoutMs: number;
  private readonly requestTimeoutMs: number | undefined;
  private readonly unhealthyBackoffMs: number;
  readonly retry: RetryConfig;
  private readonly creds: ChannelCredentials;
  private readonly channelOptions: Partial<ClientOptions>;
  private readonly tls: TlsOptions | undefined;
  private readonly authOpts: AuthOptions | undefined;
  /** Every call and stream carries `hasleader: true` unless the call says otherwise. */
  readonly requireLeader: boolean;
  /** Awaited by every unary call before it is sent (the rejectOldCluster check). */
  gate: Promise<void> | undefined;
  /** Aborted by close(): wakes every backoff sleep and stream loop. */
  readonly closing = new AbortController();

  constructor(opts: ConnectionOptions) {
    if (!opts.endpoints || opts.endpoints.length === 0) throw new TypeError('no endpoints given');
    this.clock = opts.clock ?? systemClock;
    this.random = opts.random ?? systemRandom;
    this.dialTimeoutMs = opts.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.requestTimeoutMs = opts.requestTimeoutMs;
    this.unhealthyBackoffMs = opts.unhealthyBackoffMs ?? DEFAULT_UNHEALTHY_BACKOFF_MS;
    this.retry = retryConfig(opts.retry);
    this.tls = opts.tls;
    this.authOpts = opts.auth;
    this.requireLeader = opts.requireLeader ?? false;
    this.channelOptions = channelOptionsFor(opts);
    this.creds = credentials.createInsecure();
    this.conns = opts.endpoints.map((e) => this.makeConn(parseEndpoint(e)));
  }

  private makeConn(ep: Endpoint): EndpointConn {
    const useTls = ep.secure || this.tls !== undefined;
    const creds = useTls ? this.tlsCreds() : this.creds;
    return new EndpointConn(ep, creds, this.channelOptions);
  }

  private tlsCreds(): ChannelCredentials {
    const t = this.tls ?? {};
    const buf = (v: string | Buffer | undefined) => (v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v));
    const verify = t.insecureSkipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {};
    return credentials.createSsl(buf(t.ca), buf(t.key), buf(t.cert), verify);
  }

  /** The endpoints in use (as configured, or as the last sync() set them). */
  get endpoints(): string[] {
    return this.conns.map((c) => c.endpoint.original);
  }

  /**
   * Replace the endpoint set. Channels of endpoints that stay (same gRPC target and TLS) are
   * kept with their health; the others are closed (streams on them move on when they fail).
   */
  setEndpoints(endpoints: string[]): void {
    this.checkOpen();
    if (endpoints.length === 0) throw new TypeError('no endpoints given');
    const parsed = endpoints.map(parseEndpoint);
    const keep = new Set<EndpointConn>();
    const next = parsed.map((ep) => {
      const old = this.conns.find((c) => c.endpoint.target === ep.target && c.endpoint.secure === ep.secure && !keep.has(c));
      if (old) {
        keep.add(old);
        old.endpoint = ep;
        return old;
      }
      return this.makeConn(ep);
    });
    for (const c of this.conns) if (!keep.has(c)) c.close();
    this.conns = next;
    this.rr = this.rr % next.length;
  }

  /** Per-endpoint counters (configured endpoints, then ones named in pinned calls). */
  stats(): EndpointStats[] {
    const now = this.clock.now();
    return [...this.conns, ...this.extra.values()].map((c) => ({
      endpoint: c.endpoint.original,
      sent: c.sent,
      failed: c.failed,
      healthy: c.unhealthyUntil <= now,
    }));
  }

  /** Connection for one named endpoint (configured or not). */
  forEndpoint(endpoint: string): EndpointConn {
    const c = this.conns.find((x) => x.endpoint.original === endpoint);
    if (c) return c;
    let e = this.extra.get(endpoint);
    if (!e) {
      e = this.makeConn(parseEndpoint(endpoint));
      this.extra.set(endpoint, e);
    }
    return e;
  }

  /**
   * Next endpoint in round-robin order that is healthy; when none is, the one whose backoff
   * ends first (a probe).
   */
  pick(): EndpointConn {
    const n = this.conns.length;
    const now = this.clock.now();
    for (let i = 0; i < n; i++) {
      const idx = (this.rr + i) % n;
      const c = this.conns[idx]!;
      if (c.unhealthyUntil <= now) {
        this.rr = (idx + 1) % n;
        return c;
      }
    }
    let best = this.conns[0]!;
    for (const c of this.conns) if (c.unhealthyUntil < best.unhealthyUntil) best = c;
    return best;
  }

  /** `conn` failed in a way that says "try another member": skip it for a growing while. */
  markUnhealthy(conn: EndpointConn): void {
    conn.failures++;
    conn.failed++;
    const mult = 2 ** Math.min(conn.failures - 1, 3);
    conn.unhealthyUntil = this.clock.now() + this.unhealthyBackoffMs * mult;
  }

  markHealthy(conn: EndpointConn): void {
    conn.failures = 0;
    conn.unhealthyUntil = 0;
  }

  /** A stream on `conn` ended with `err`: update its health (streams call this). */
  reportStreamError(conn: EndpointConn, err: EtcdError): void {
    if (marksUnhealthy(err)) this.markUnhealthy(conn);
  }

  /** Absolute deadline (ms since epoch, Infinity for none) for a call started now. */
  deadlineFor(opts: CallOpts | undefined): number {
    const rel = opts?.timeoutMs ?? this.requestTimeoutMs;
    return rel === undefined ? Infinity : this.clock.now() + rel;
  }

  private checkOpen(): void {
    if (this.closed) throw new CancelledError(status.CANCELLED, 'client is closed');
  }

  /**
   * Wait until `conn` is connected. 'failed' as soon as the channel reports a failed attempt,
   * 'timeout' when `deadline` passes first.
   */
  private awaitReady(conn: EndpointConn, deadline: number): Promise<'ready' | 'failed' | 'timeout'> {
    return new Promise((resolve) => {
      const check = (): void => {
        let st: connectivityState;
        try {
          st = conn.channel.getConnectivityState(true);
        } catch {
          return resolve('failed');
        }
        if (st === connectivityState.READY) return resolve('ready');
        if (st === connectivityState.TRANSIENT_FAILURE || st === connectivityState.SHUTDOWN) {
          return resolve('failed');
        }
        if (this.clock.now() >= deadline) return resolve('timeout');
        try {
          conn.channel.watchConnectivityState(st, deadline, (err) => {
            if (err) resolve('timeout');
            else check();
          });
        } catch {
          resolve('failed');
        }
      };
      check();
    });
  }

  /**
   * Find a connected endpoint: round robin over the healthy ones, marking those that fail to
   * connect unhealthy, with backoff after each full round of failures. Gives up at `deadline`
   * (DeadlineExceededError) or, with no deadline, after `maxRounds` rounds (UnavailableError).
   * Streams call this too, so a new stream lands on a healthy endpoint.
   */
  async connect(deadline: number, opts: { endpoint?: string; maxRounds?: number; signal?: AbortSignal } = {}): Promise<EndpointConn> {
    let round = 0;
    let tried = 0;
    for (;;) {
      this.checkOpen();
      if (opts.signal?.aborted) throw new CancelledError(status.CANCELLED, 'operation was canceled');
      const conn = opts.endpoint ? this.forEndpoint(opts.endpoint) : this.pick();
      const dialDeadline = Math.min(deadline, this.clock.now() + this.dialTimeoutMs);
      const r = await this.awaitReady(conn, dialDeadline);
      if (r === 'ready') return conn;
      if (!opts.endpoint) this.markUnhealthy(conn);
      tried++;
      const n = opts.endpoint ? 1 : this.conns.length;
      if (tried % n === 0) {
        round++;
        if (deadline === Infinity && opts.maxRounds !== undefined && round >= opts.maxRounds) {
          throw new UnavailableError(status.UNAVAILABLE, `no endpoint available (${this.describe(opts.endpoint)})`);
        }
        const wait = Math.min(BACKOFF_MIN_MS * 2 ** Math.min(round - 1, 5), BACKOFF_MAX_MS, deadline - this.clock.now());
        if (wait > 0) await sleep(this.clock, wait, anySignal(this.closing.signal, opts.signal));
      }
      if (this.clock.now() >= deadline) {
        throw new DeadlineExceededError(status.DEADLINE_EXCEEDED, 'context deadline exceeded');
      }
    }
  }

  private describe(endpoint: string | undefined): string {
    return endpoint ?? this.endpoints.join(',');
  }

  /** Call metadata: the auth token when auth is configured; `hasleader` when the leader is required. */
  async metadata(conn: EndpointConn, deadline: number, requireLeader = this.requireLeader): Promise<Metadata> {
    const md = new Metadata();
    // The key and value etcd's rpctypes.MetadataRequireLeaderKey / MetadataHasLeader name.
    if (requireLeader) md.set('hasleader', 'true');
    if (this.authOpts) {
      const t = await this.authToken(conn, deadline);
      if (t !== '') md.set('token', t);
    }
    return md;
  }

  private authToken(conn: EndpointConn, deadline: number): Promise<string> {
    if (this.token !== undefined) return Promise.resolve(this.token);
    if (!this.authInFlight) {
      const a = this.authOpts!;
      this.authInFlight = this.password(a)
        .then((password) =>
          callUnary<etcdserverpb.AuthenticateRequest, etcdserverpb.AuthenticateResponse>(
            conn.auth.authenticate.bind(conn.auth),
            etcdserverpb.AuthenticateRequest.fromPartial({ name: a.username, password }),
            new Metadata(),
            deadline,
            undefined,
          ),
        )
        .then(
          (res) => {
            this.token = res.token;
            this.authInFlight = undefined;
            return res.token;
          },
          (err) => {
            this.authInFlight = undefined;
            // Auth is off: calls go without a token, as etcd's Go client does.
            if (err instanceof AuthNotEnabledError) {
              this.token = '';
              return '';
            }
            throw markLoginError(err);
          },
        );
    }
    return this.authInFlight;
  }

  /**
   * Metadata with just the token (none without auth), for stubs outside this pool (the Lock and
   * Election clients): logs in first on a connected endpoint when no token is held.
   */
  async authMetadata(deadline: number): Promise<Metadata> {
    const md = new Metadata();
    if (!this.authOpts) return md;
    let t = this.token;
    if (t === undefined) t = await this.authToken(await this.connect(deadline, { maxRounds: 1 }), deadline);
    if (t !== '') md.set('token', t);
    return md;
  }

  /** The configured password; a supplier function is asked once and its answer kept. */
  private password(a: AuthOptions): Promise<string> {
    if (typeof a.password === 'string') return Promise.resolve(a.password);
    this.passwordAsked ??= Promise.resolve(a.password());
    return this.passwordAsked;
  }

  /** The token calls send now (undefined before the first Authenticate or after a drop). */
  get currentToken(): string | undefined {
    return this.token;
  }

  /**
   * Forget the token after the server rejected it (`invalid auth token`: expired, or the member
   * restarted and lost its tokens); the next call authenticates again. With `rejected`, only
   * that token is forgotten: a newer one another call already fetched is kept.
   */
  dropToken(rejected?: string): void {
    if (rejected !== undefined && rejected !== this.token) return;
    this.token = undefined;
  }

  /** Whether calls carry a token (auth configured). */
  get authenticates(): boolean {
    return this.authOpts !== undefined;
  }

  /**
   * Run one unary RPC: pick an endpoint, send, and on failure retry as etcd's interceptor does
   * (isSafeRetry for the call's policy), at most `retry.maxAttempts` times and never past the
   * call's deadline or signal; backoff after each quorum-sized round of attempts.
   */
  async unary<Req, Res>(pick: (c: EndpointConn) => UnaryMethod<Req, Res>, req: Req, policy: UnaryPolicy, skipGate = false): Promise<Res> {
    const deadline = this.deadlineFor(policy);
    if (this.gate && !skipGate) await this.gate;
    let authRetried = false;
    let attempts = 0;
    for (;;) {
      this.checkOpen();
      const conn = await this.connect(deadline, {
        endpoint: policy.endpoint,
        maxRounds: 1,
        signal: policy.signal,
      });
      attempts++;
      let sentToken: string | undefined;
      try {
        const md = await this.metadata(conn, deadline, policy.requireLeader);
        sentToken = this.token;
        conn.sent++;
        const res = await callUnary(pick(conn), req, md, deadline, policy.signal);
        this.markHealthy(conn);
        return res;
      } catch (e) {
        const err = toEtcdError(e);
        if (shouldRefreshToken(err) && this.authOpts && !authRetried) {
          authRetried = true;
          this.dropToken(sentToken);
          continue;
        }
        if (!policy.endpoint && marksUnhealthy(err)) this.markUnhealthy(conn);
        if (!isSafeRetry(err, policy.idempotent)) throw err;
        // A call pinned to one endpoint without a deadline is tried once (etcdctl's
        // `endpoint health` wants a prompt answer from a dead member).
        if (policy.endpoint && deadline === Infinity) throw err;
        if (attempts >= this.retry.maxAttempts) throw err;
        if (this.clock.now() >= deadline) {
          throw new DeadlineExceededError(status.DEADLINE_EXCEEDED, 'context deadline exceeded', { cause: err });
        }
        const wait = Math.min(
          backoffMs(this.retry, attempts, policy.endpoint ? 1 : this.conns.length, this.random),
          deadline - this.clock.now(),
        );
        if (wait > 0) await sleep(this.clock, wait, anySignal(this.closing.signal, policy.signal));
        if (policy.signal?.aborted) throw new CancelledError(status.CANCELLED, 'operation was canceled', { cause: err });
      }
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    for (const c of this.conns) c.close();
    for (const c of this.extra.values()) c.close();
  }

  get isClosed(): boolean {
    return this.closed;
  }
}

/** One unary call on one stub; rejects with an EtcdError. */
export function callUnary<Req, Res>(
  method: UnaryMethod<Req, Res>,
  req: Req,
  md: Metadata,
  deadline: number,
  signal: AbortSignal | undefined,
): Promise<Res> {
  return new Promise<Res>((resolve, reject) => {
    if (signal?.aborted) {
      reject(new CancelledError(status.CANCELLED, 'operation was canceled'));
      return;
    }
    const options: Partial<CallOptions> = deadline === Infinity ? {} : { deadline };
    let call: ClientUnaryCall | undefined;
    const onAbort = () => call?.cancel();
    call = method(req, md, options, (err, res) => {
      signal?.removeEventListener('abort', onAbort);
      if (err) reject(toEtcdError(err));
      else resolve(res);
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** An AbortSignal that fires when any of the given ones does. */
export function anySignal(...signals: (AbortSignal | undefined)[]): AbortSignal {
  const present = signals.filter((s): s is AbortSignal => s !== undefined);
  if (present.length === 1) return present[0]!;
  return AbortSignal.any(present);
}

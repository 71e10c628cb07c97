// Channels to the configured endpoints, endpoint selection and fail-over, deadlines, and the
// auth token. One gRPC channel per endpoint, shared by all six etcd service stubs.
//
// Invariants:
// - `current` always indexes `conns`; it only moves forward (mod n) after a transport failure
//   on the endpoint it points at.
// - A request is sent again on another endpoint only when it is idempotent or certainly never
//   left this process (the channel had no connection).
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
  CancelledError,
  DeadlineExceededError,
  InvalidAuthTokenError,
  UnavailableError,
  isTransportFailure,
  neverSent,
  toEtcdError,
} from './errors.js';
import { sleep, systemClock, type Clock } from './clock.js';

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
  password: string;
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
  /** Extra @grpc/grpc-js channel options. */
  channelOptions?: Partial<ClientOptions>;
  clock?: Clock;
}

/** Per-call options accepted by every unary method. */
export interface CallOpts {
  /** Deadline for this call, relative; overrides the client's requestTimeoutMs. */
  timeoutMs?: number;
  /** Abort the call. */
  signal?: AbortSignal;
}

/** Internal: how a unary call may be retried and where it goes. */
export interface UnaryPolicy extends CallOpts {
  /** Safe to send twice (reads, and writes whose repetition is harmless). */
  idempotent: boolean;
  /** Send only to this endpoint (as written by the user); no fail-over. */
  endpoint?: string;
}

type Callback<Res> = (err: ServiceError | null, res: Res) => void;
/** The 4-argument overload of a generated unary stub method. */
export type UnaryMethod<Req, Res> = (req: Req, md: Metadata, options: Partial<CallOptions>, cb: Callback<Res>) => ClientUnaryCall;

/** The six service stubs of one endpoint, sharing one channel. */
export class EndpointConn {
  readonly kv: etcdserverpb.KVClient;
  readonly watch: etcdserverpb.WatchClient;
  readonly lease: etcdserverpb.LeaseClient;
  readonly cluster: etcdserverpb.ClusterClient;
  readonly maintenance: etcdserverpb.MaintenanceClient;
  readonly auth: etcdserverpb.AuthClient;
  readonly channel: Channel;

  constructor(
    readonly endpoint: Endpoint,
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
const BACKOFF_MIN_MS = 50;
const BACKOFF_MAX_MS = 1000;

export class Connections {
  readonly clock: Clock;
  private readonly conns: EndpointConn[];
  /** Connections made for endpoints named in a call but not in the configured list. */
  private readonly extra = new Map<string, EndpointConn>();
  private current = 0;
  private closed = false;
  private token: string | undefined;
  private authInFlight: Promise<string> | undefined;
  private readonly dialTimeoutMs: number;
  private readonly requestTimeoutMs: number | undefined;
  private readonly creds: ChannelCredentials;
  private readonly channelOptions: Partial<ClientOptions>;
  private readonly tls: TlsOptions | undefined;
  private readonly authOpts: AuthOptions | undefined;
  /** Aborted by close(): wakes every backoff sleep and stream loop. */
  readonly closing = new AbortController();

  constructor(opts: ConnectionOptions) {
    if (!opts.endpoints || opts.endpoints.length === 0) throw new TypeError('no endpoints given');
    this.clock = opts.clock ?? systemClock;
    this.dialTimeoutMs = opts.dialTimeoutMs ?? DEFAULT_DIAL_TIMEOUT_MS;
    this.requestTimeoutMs = opts.requestTimeoutMs;
    this.tls = opts.tls;
    this.authOpts = opts.auth;
    this.channelOptions = {
      'grpc.max_receive_message_length': -1,
      'grpc.max_send_message_length': -1,
      'grpc.initial_reconnect_backoff_ms': 100,
      'grpc.max_reconnect_backoff_ms': 1000,
      ...(opts.tls?.serverName ? { 'grpc.ssl_target_name_override': opts.tls.serverName } : {}),
      ...opts.channelOptions,
    };
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

  /** The endpoints as configured. */
  get endpoints(): string[] {
    return this.conns.map((c) => c.endpoint.original);
  }

  /** The connection requests currently go to. */
  active(): EndpointConn {
    return this.conns[this.current]!;
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

  /** Move off `failed` (if it is still the active one) to the next endpoint. */
  private advance(failed: EndpointConn): void {
    if (this.conns[this.current] === failed) this.current = (this.current + 1) % this.conns.length;
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
   * Find a connected endpoint, starting at the active one and moving on after failures, with
   * backoff between full rounds. Gives up at `deadline` (UnavailableError, or
   * DeadlineExceededError if a deadline was set) or, with no deadline, after `maxRounds`.
   */
  async connect(deadline: number, opts: { endpoint?: string; maxRounds?: number; signal?: AbortSignal } = {}): Promise<EndpointConn> {
    let round = 0;
    let tried = 0;
    for (;;) {
      this.checkOpen();
      if (opts.signal?.aborted) throw new CancelledError(status.CANCELLED, 'operation was canceled');
      const conn = opts.endpoint ? this.forEndpoint(opts.endpoint) : this.active();
      const dialDeadline = Math.min(deadline, this.clock.now() + this.dialTimeoutMs);
      const r = await this.awaitReady(conn, dialDeadline);
      if (r === 'ready') return conn;
      if (!opts.endpoint) this.advance(conn);
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

  /** Call metadata: the auth token when auth is configured. */
  async metadata(conn: EndpointConn, deadline: number): Promise<Metadata> {
    const md = new Metadata();
    if (this.authOpts) md.set('token', await this.authToken(conn, deadline));
    return md;
  }

  private authToken(conn: EndpointConn, deadline: number): Promise<string> {
    if (this.token !== undefined) return Promise.resolve(this.token);
    if (!this.authInFlight) {
      const a = this.authOpts!;
      this.authInFlight = callUnary<etcdserverpb.AuthenticateRequest, etcdserverpb.AuthenticateResponse>(
        conn.auth.authenticate.bind(conn.auth),
        etcdserverpb.AuthenticateRequest.fromPartial({ name: a.username, password: a.password }),
        new Metadata(),
        deadline,
        undefined,
      ).then(
        (res) => {
          this.token = res.token;
          this.authInFlight = undefined;
          return res.token;
        },
        (err) => {
          this.authInFlight = undefined;
          throw err;
        },
      );
    }
    return this.authInFlight;
  }

  /** Forget the token (after the server rejected it); the next call authenticates again. */
  dropToken(): void {
    this.token = undefined;
  }

  /** Run one unary RPC with deadline, fail-over and auth handling. */
  async unary<Req, Res>(pick: (c: EndpointConn) => UnaryMethod<Req, Res>, req: Req, policy: UnaryPolicy): Promise<Res> {
    const deadline = this.deadlineFor(policy);
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
      try {
        const md = await this.metadata(conn, deadline);
        return await callUnary(pick(conn), req, md, deadline, policy.signal);
      } catch (e) {
        const err = toEtcdError(e);
        if (err instanceof InvalidAuthTokenError && this.authOpts && !authRetried) {
          authRetried = true;
          this.dropToken();
          continue;
        }
        const retriable = isTransportFailure(err) && (policy.idempotent || neverSent(err));
        if (!retriable) throw err;
        if (!policy.endpoint) this.advance(conn);
        const budget = policy.endpoint ? 1 : this.conns.length;
        if (deadline === Infinity && attempts >= budget) throw err;
        if (this.clock.now() >= deadline) {
          throw new DeadlineExceededError(status.DEADLINE_EXCEEDED, 'context deadline exceeded', { cause: err });
        }
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

// Thin typed clients of the server-side Lock and Election gRPC services (v3lockpb, v3electionpb):
// the server runs the recipe, so a lock or campaign is one call. They keep their own channels
// (one per endpoint, tried in order on UNAVAILABLE) and use the Client only for its endpoints.
import { v3electionpb, v3lockpb } from '@kv/api';
import { credentials, Metadata, type ChannelCredentials, type ClientReadableStream, type ServiceError } from '@grpc/grpc-js';
import { toBigInt, toBuffer, type Bytes, type Int64 } from '../bytes.js';
import { Client } from '../client.js';
import type { Connections, TlsOptions } from '../connection.js';
import { parseEndpoint } from '../endpoints.js';
import { shouldRefreshToken, toEtcdError } from '../errors.js';

export interface ServiceClientOptions {
  endpoints: string[];
  /** TLS settings (PEM contents); any of them, or an https:// endpoint, turns TLS on. */
  tls?: TlsOptions;
  /** Default deadline of each unary call (ms); none when absent (a Lock may wait long). */
  requestTimeoutMs?: number;
}

export interface ServiceCallOpts {
  timeoutMs?: number;
  signal?: AbortSignal;
}

type Ctor<T> = new (address: string, creds: ChannelCredentials) => T;

function tlsCreds(t: TlsOptions): ChannelCredentials {
  const buf = (v: string | Buffer | undefined) => (v === undefined ? null : Buffer.isBuffer(v) ? v : Buffer.from(v));
  const verify = t.insecureSkipVerify ? { rejectUnauthorized: false, checkServerIdentity: () => undefined } : {};
  return credentials.createSsl(buf(t.ca), buf(t.key), buf(t.cert), verify);
}

/** One stub per endpoint; `call` sends to the current one and moves on when it is unavailable. */
class Stubs<T extends { close(): void }> {
  private readonly stubs: T[];
  private current = 0;

  constructor(
    ctor: Ctor<T>,
    private readonly o: ServiceClientOptions,
    /** The Client's pool when made from one: its auth token goes with every call. */
    private readonly conns?: Connections,
  ) {
    if (o.endpoints.length === 0) throw new Error('no endpoints');
    this.stubs = o.endpoints.map((raw) => {
      const ep = parseEndpoint(raw);
      const creds = ep.secure || o.tls ? tlsCreds(o.tls ?? {}) : credentials.createInsecure();
      return new ctor(ep.target, creds);
    });
  }

  /**
   * A unary call; a transport failure (UNAVAILABLE) is tried on the next endpoint, once per
   * endpoint. Lock and Campaign are safe to repeat: the recipe reuses the key `name/<lease>`.
   */
  async call<Res>(
    invoke: (stub: T, md: Metadata, opts: { deadline?: number }, cb: (e: ServiceError | null, r: Res) => void) => { cancel(): void },
    opts: ServiceCallOpts = {},
  ): Promise<Res> {
    const timeout = opts.timeoutMs ?? this.o.requestTimeoutMs;
    const deadline = timeout === undefined ? undefined : Date.now() + timeout;
    let lastErr: unknown;
    let authRetried = false;
    for (let tried = 0; tried < this.stubs.length; tried++) {
      const stub = this.stubs[this.current]!;
      let sentToken: string | undefined;
      try {
        const md = this.conns ? await this.conns.authMetadata(deadline ?? Infinity) : new Metadata();
        sentToken = this.conns?.currentToken;
        return await new Promise<Res>((resolve, reject) => {
          if (opts.signal?.aborted)
            return reject(toEtcdError(Object.assign(new Error('operation was canceled'), { code: 1, details: 'operation was canceled' })));
          const c = invoke(stub, md, deadline === undefined ? {} : { deadline }, (err, res) => {
            opts.signal?.removeEventListener('abort', onAbort);
            if (err) reject(toEtcdError(err));
            else resolve(res);
          });
          const onAbort = () => c.cancel();
          opts.signal?.addEventListener('abort', onAbort, { once: true });
        });
      } catch (err) {
        lastErr = err;
        // A token the member no longer knows (restart, expiry): log in again and send once more,
        // as etcd's Go client does for every call.
        if (this.conns?.authenticates && shouldRefreshToken(err) && !authRetried) {
          authRetried = true;
          this.conns.dropToken(sentToken);
          tried--;
          continue;
        }
        const e = err as { code?: number; etcdName?: string };
        if (e.code !== 14 || e.etcdName !== undefined) throw err;
        this.current = (this.current + 1) % this.stubs.length;
      }
    }
    throw lastErr;
  }

  /** Metadata for a stream opened now: the token held, if any (streams cannot wait for a login). */
  streamMetadata(): Metadata {
    const md = new Metadata();
    const t = this.conns?.currentToken;
    if (t !== undefined) md.set('token', t);
    return md;
  }

  active(): T {
    return this.stubs[this.current]!;
  }

  close(): void {
    for (const s of this.stubs) s.close();
  }
}

function connsOf(source: Client | ServiceClientOptions): Connections | undefined {
  return source instanceof Client ? source.connections : undefined;
}

function optionsOf(source: Client | ServiceClientOptions): ServiceClientOptions {
  return source instanceof Client ? { endpoints: source.endpoints } : source;
}

/** The Lock service: `await new LockClient(client).lock('job', session.lease)` → ownership key. */
export class LockClient {
  private readonly stubs: Stubs<v3lockpb.LockClient>;

  /** From a Client (its endpoints, plaintext unless https://) or explicit options. */
  constructor(source: Client | ServiceClientOptions) {
    this.stubs = new Stubs(v3lockpb.LockClient, optionsOf(source), connsOf(source));
  }

  /** Waits until `name` is locked for `lease` (0: the server grants a 60 s lease it does not keep alive). */
  lock(name: Bytes, lease: Int64 = 0, opts: ServiceCallOpts = {}): Promise<v3lockpb.LockResponse> {
    const req = { name: toBuffer(name), lease: toBigInt(lease) };
    return this.stubs.call<v3lockpb.LockResponse>((s, md, o, cb) => s.lock(req, md, o, cb), opts);
  }

  /** Deletes the ownership key returned by lock(). */
  unlock(key: Bytes, opts: ServiceCallOpts = {}): Promise<v3lockpb.UnlockResponse> {
    const req = { key: toBuffer(key) };
    return this.stubs.call<v3lockpb.UnlockResponse>((s, md, o, cb) => s.unlock(req, md, o, cb), opts);
  }

  close(): void {
    this.stubs.close();
  }
}

/** The Election service. */
export class ElectionClient {
  private readonly stubs: Stubs<v3electionpb.ElectionClient>;

  constructor(source: Client | ServiceClientOptions) {
    this.stubs = new Stubs(v3electionpb.ElectionClient, optionsOf(source), connsOf(source));
  }

  /** Waits until elected; the LeaderKey is what proclaim and resign take. */
  campaign(name: Bytes, lease: Int64, value: Bytes, opts: ServiceCallOpts = {}): Promise<v3electionpb.CampaignResponse> {
    const req = { name: toBuffer(name), lease: toBigInt(lease), value: toBuffer(value) };
    return this.stubs.call<v3electionpb.CampaignResponse>((s, md, o, cb) => s.campaign(req, md, o, cb), opts);
  }

  proclaim(leader: v3electionpb.LeaderKey, value: Bytes, opts: ServiceCallOpts = {}): Promise<v3electionpb.ProclaimResponse> {
    const req = { leader, value: toBuffer(value) };
    return this.stubs.call<v3electionpb.ProclaimResponse>((s, md, o, cb) => s.proclaim(req, md, o, cb), opts);
  }

  resign(leader: v3electionpb.LeaderKey, opts: ServiceCallOpts = {}): Promise<v3electionpb.ResignResponse> {
    const req = { leader };
    return this.stubs.call<v3electionpb.ResignResponse>((s, md, o, cb) => s.resign(req, md, o, cb), opts);
  }

  leader(name: Bytes, opts: ServiceCallOpts = {}): Promise<v3electionpb.LeaderResponse> {
    const req = { name: toBuffer(name) };
    return this.stubs.call<v3electionpb.LeaderResponse>((s, md, o, cb) => s.leader(req, md, o, cb), opts);
  }

  /**
   * The Observe stream of the current endpoint: iterate it; `cancel()` on the stream ends it.
   * With auth, it carries the token the Client holds (make one call first to log in).
   */
  observe(name: Bytes): ClientReadableStream<v3electionpb.LeaderResponse> {
    return this.stubs.active().observe({ name: toBuffer(name) }, this.stubs.streamMetadata());
  }

  close(): void {
    this.stubs.close();
  }
}

// Watch: many watchers multiplexed over one bidirectional Watch stream per client.
//
// Protocol facts this relies on (etcd v3): the server assigns watch ids and answers each create
// request with a `created` response, in order; so creates are sent one at a time (send, wait for
// `created`, send the next) and the answer is matched to the one in flight. Large event batches
// may be split into responses with `fragment` set on all but the last. A response with watch id
// -1 and no events is a progress notification for every watcher on the stream.
//
// Invariants:
// - at most one create request is outstanding (`creating`);
// - a watcher is in exactly one of: `queue` (not yet sent), `creating`, `active`, or finished;
// - after a transport failure (or any UNAVAILABLE/INTERNAL end, etcd's non-halting errors) every
//   unfinished watcher is created again on a healthy endpoint picked by Connections, resuming at
//   the revision after the last one it delivered, so no event is lost or repeated.
import { status, type ClientDuplexStream } from '@grpc/grpc-js';
import { ErrorText, etcdserverpb, type mvccpb } from '@kv/api';
import { resolveRange, toBigInt, type Bytes, type Int64, type RangeSpec } from './bytes.js';
import { sleep } from './clock.js';
import type { Connections, EndpointConn } from './connection.js';
import {
  CancelledError,
  CompactedError,
  FutureRevisionError,
  NoLeaderError,
  WatchCanceledError,
  makeError,
  shouldRefreshToken,
  toEtcdError,
  type EtcdError,
} from './errors.js';
import { AsyncQueue } from './queue.js';
import { isStreamRetryable } from './retry.js';

/** Token refusals of creates in a row before the watcher fails with the server's reason. */
const MAX_TOKEN_REFUSALS = 3;

export interface WatchOptions extends RangeSpec {
  /** First revision to deliver (0: from the next change). */
  startRevision?: Int64;
  /** Include the previous key-value in each event. */
  prevKv?: boolean;
  /** Leave out put events. */
  noPut?: boolean;
  /** Leave out delete events. */
  noDelete?: boolean;
  /** Ask the server for periodic progress notifications when idle. */
  progressNotify?: boolean;
  /** Let the server split large responses (they are reassembled here). */
  fragment?: boolean;
}

type WatchStream = ClientDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

const INVALID_WATCH_ID = -1n;

/**
 * One watcher. Iterate it for responses (events and progress notifications; the `created`
 * answer is not delivered). Iteration ends after `cancel()` or client close, and throws when
 * the server cancels the watcher: CompactedError (with `compactRevision`) when the start
 * revision was compacted, WatchCanceledError with the server's reason otherwise.
 */
export class Watcher implements AsyncIterable<etcdserverpb.WatchResponse> {
  /** Server-assigned watch id, once created (changes if the watcher is re-created after a reconnect). */
  id: bigint | undefined;
  /** Resolves with the watch id when the server has created the watcher; rejects if it refused. */
  readonly created: Promise<bigint>;
  private resolveCreated!: (id: bigint) => void;
  private rejectCreated!: (e: unknown) => void;
  private readonly queue: AsyncQueue<etcdserverpb.WatchResponse>;
  private fragments: mvccpb.Event[] = [];
  /** Revision to resume from after a reconnect (0n: "now"). */
  nextRevision: bigint;
  /** State of the watcher in the hub (see invariants at the top). */
  state: 'queued' | 'creating' | 'active' | 'finished' = 'queued';
  private readonly key: Buffer;
  private readonly rangeEnd: Buffer;

  constructor(
    private readonly hub: WatchHub,
    key: Bytes,
    private readonly opts: WatchOptions,
    /** Applied to each response before delivery (namespaces strip their prefix here). */
    private readonly map: (r: etcdserverpb.WatchResponse) => etcdserverpb.WatchResponse = (r) => r,
  ) {
    const r = resolveRange(key, opts);
    this.key = r.key;
    this.rangeEnd = r.rangeEnd;
    this.nextRevision = toBigInt(opts.startRevision);
    this.created = new Promise<bigint>((res, rej) => {
      this.resolveCreated = res;
      this.rejectCreated = rej;
    });
    // Nobody has to await `created`; a refusal is also reported through iteration.
    this.created.catch(() => undefined);
    this.queue = new AsyncQueue(() => this.cancel());
  }

  createRequest(): etcdserverpb.WatchRequest {
    const filters: etcdserverpb.WatchCreateRequest_FilterType[] = [];
    if (this.opts.noPut) filters.push(etcdserverpb.WatchCreateRequest_FilterType.NOPUT);
    if (this.opts.noDelete) filters.push(etcdserverpb.WatchCreateRequest_FilterType.NODELETE);
    return {
      createRequest: etcdserverpb.WatchCreateRequest.fromPartial({
        key: this.key,
        rangeEnd: this.rangeEnd,
        startRevision: this.nextRevision,
        progressNotify: this.opts.progressNotify ?? false,
        filters,
        prevKv: this.opts.prevKv ?? false,
        fragment: this.opts.fragment ?? false,
      }),
    };
  }

  /** Stop watching. Idempotent; iteration ends (after what was already delivered). */
  cancel(): void {
    if (this.state === 'finished') return;
    this.hub.cancel(this);
    this.finish();
  }

  /** Flatten responses into events. */
  async *events(): AsyncIterable<mvccpb.Event> {
    for await (const r of this) yield* r.events;
  }

  [Symbol.asyncIterator](): AsyncIterator<etcdserverpb.WatchResponse> {
    return this.queue;
  }

  // ---- called by the hub ----

  onCreated(r: etcdserverpb.WatchResponse): void {
    this.id = r.watchId;
    this.state = 'active';
    if (this.nextRevision === 0n && r.header) this.nextRevision = r.header.revision + 1n;
    this.resolveCreated(r.watchId);
  }

  onResponse(r: etcdserverpb.WatchResponse): void {
    if (r.fragment) {
      this.fragments.push(...r.events);
      return;
    }
    let full = r;
    if (this.fragments.length > 0) {
      full = { ...r, events: [...this.fragments, ...r.events] };
      this.fragments = [];
    }
    const last = full.events[full.events.length - 1];
    if (last?.kv) this.nextRevision = last.kv.modRevision + 1n;
    else if (full.events.length === 0 && full.header && full.header.revision + 1n > this.nextRevision) {
      // A progress notification: nothing before header.revision is still to come.
      this.nextRevision = full.header.revision + 1n;
    }
    this.queue.push(this.map(full));
  }

  /** The server cancelled this watcher (or refused to create it). */
  onServerCancel(r: etcdserverpb.WatchResponse): void {
    let err: EtcdError;
    if (r.compactRevision !== 0n) {
      err = new CompactedError(status.OUT_OF_RANGE, ErrorText.Compacted, r.compactRevision);
    } else if (r.cancelReason !== '') {
      const typed = cancelReasonError(r.cancelReason);
      err = typed.etcdName !== undefined ? typed : new WatchCanceledError(status.FAILED_PRECONDITION, r.cancelReason);
    } else {
      err = new FutureRevisionError(status.OUT_OF_RANGE, ErrorText.FutureRev);
    }
    err.watchResponse = r;
    this.fail(err);
  }

  fail(err: unknown): void {
    if (this.state === 'finished') return;
    this.state = 'finished';
    this.rejectCreated(err);
    this.queue.fail(err);
  }

  finish(): void {
    if (this.state === 'finished') return;
    this.state = 'finished';
    this.rejectCreated(new CancelledError(status.CANCELLED, 'watcher canceled'));
    this.queue.end();
  }

  /** Forget a half-received fragmented response (the stream it came on is gone). */
  resetFragments(): void {
    this.fragments = [];
  }
}

/**
 * The error a watch's cancel reason names. etcd words an auth refusal as Go prints a status error
 * (`rpc error: code = PermissionDenied desc = etcdserver: permission denied`, or `Unauthenticated
 * ... invalid auth token`): the etcd text inside is what names the error.
 */
function cancelReasonError(reason: string): EtcdError {
  const text = /^rpc error: code = \w+ desc = (.*)$/s.exec(reason)?.[1] ?? reason;
  return makeError(status.FAILED_PRECONDITION, text);
}

/** The single watch stream of a client and the watchers on it. */
export class WatchHub {
  private stream: WatchStream | undefined;
  /** The endpoint `stream` runs on. */
  private streamConn: EndpointConn | undefined;
  private opening = false;
  private readonly queue: Watcher[] = [];
  private creating: Watcher | undefined;
  private readonly active = new Map<bigint, Watcher>();
  private closed = false;
  private failures = 0;
  /** The token the stream was opened with (auth configured). */
  private streamToken: string | undefined;
  /** Creates refused for the token in a row; bounded so a token that never works fails the watch. */
  private tokenRefusals = 0;

  constructor(private readonly conns: Connections) {}

  watch(key: Bytes, opts: WatchOptions = {}, map?: (r: etcdserverpb.WatchResponse) => etcdserverpb.WatchResponse): Watcher {
    const w = new Watcher(this, key, opts, map);
    if (this.closed || this.conns.isClosed) {
      w.fail(new CancelledError(status.CANCELLED, 'client is closed'));
      return w;
    }
    this.queue.push(w);
    this.pump();
    return w;
  }

  /** Ask the server for a progress notification on every watcher (etcd 3.4+). */
  requestProgress(): void {
    this.stream?.write({ progressRequest: {} });
  }

  cancel(w: Watcher): void {
    switch (w.state) {
      case 'queued': {
        const i = this.queue.indexOf(w);
        if (i >= 0) this.queue.splice(i, 1);
        break;
      }
      case 'creating':
        // The id is not known yet; the cancel goes out when `created` arrives (the watcher is
        // then already 'finished').
        return;
      case 'active':
        if (w.id !== undefined) {
          this.active.delete(w.id);
          if (!this.closeIfIdle()) this.stream?.write({ cancelRequest: { watchId: w.id } });
        }
        return;
      default:
        return;
    }
    this.closeIfIdle();
  }

  private idle(): boolean {
    return this.active.size === 0 && this.queue.length === 0 && this.creating === undefined;
  }

  /** Close the stream when no watcher needs it; true if it was closed. */
  private closeIfIdle(): boolean {
    if (!this.idle() || !this.stream) return false;
    this.dropStream();
    return true;
  }

  private dropStream(): void {
    const s = this.stream;
    this.stream = undefined;
    if (s) {
      s.removeAllListeners('data');
      s.removeAllListeners('end');
      s.removeAllListeners('error');
      s.on('error', () => undefined);
      s.cancel();
    }
  }

  /** Send the next create if none is in flight; open the stream if needed. */
  private pump(): void {
    if (this.closed) return;
    if (!this.stream) {
      if (!this.idle()) void this.open();
      return;
    }
    if (this.creating || this.queue.length === 0) return;
    const w = this.queue.shift()!;
    this.creating = w;
    w.state = 'creating';
    this.stream.write(w.createRequest());
  }

  private async open(): Promise<void> {
    if (this.opening || this.stream || this.closed) return;
    this.opening = true;
    try {
      if (this.failures > 0) {
        const wait = Math.min(50 * 2 ** Math.min(this.failures - 1, 5), 1000);
        await sleep(this.conns.clock, wait, this.conns.closing.signal);
      }
      const conn = await this.conns.connect(Infinity, {});
      const md = await this.conns.metadata(conn, Infinity);
      if (this.closed || this.idle()) return;
      this.streamToken = this.conns.currentToken;
      const s = conn.watch.watch(md);
      conn.sent++;
      this.stream = s;
      this.streamConn = conn;
      s.on('data', (r: etcdserverpb.WatchResponse) => this.onResponse(r));
      s.on('error', (e: unknown) => this.onStreamEnd(s, toEtcdError(e)));
      s.on('end', () => this.onStreamEnd(s, undefined));
    } catch (e) {
      const err = toEtcdError(e);
      // Logging in again after a restart may meet a member that is not ready yet: try again
      // (with backoff) while the error is one a stream would be retried after.
      if (!this.closed && !this.conns.isClosed && isStreamRetryable(err) && err.code !== status.CANCELLED) {
        this.failures++;
      } else {
        this.failAll(err);
        return;
      }
    } finally {
      this.opening = false;
    }
    this.pump();
  }

  private onResponse(r: etcdserverpb.WatchResponse): void {
    this.failures = 0;
    if (r.created) {
      const w = this.creating;
      this.creating = undefined;
      if (w) {
        if (r.canceled && this.refreshTokenFor(w, r)) return;
        if (r.canceled || r.watchId === INVALID_WATCH_ID) {
          w.onServerCancel(r);
        } else if (w.state === 'finished') {
          // Cancelled while its create was in flight: tell the server, unless the stream is
          // about to be closed anyway.
          if (!this.idle()) this.stream?.write({ cancelRequest: { watchId: r.watchId } });
        } else {
          this.tokenRefusals = 0;
          w.onCreated(r);
          this.active.set(r.watchId, w);
        }
      }
      this.pump();
      this.closeIfIdle();
      return;
    }
    if (r.watchId === INVALID_WATCH_ID && !r.canceled) {
      for (const w of this.active.values()) w.onResponse(r);
      return;
    }
    const w = this.active.get(r.watchId);
    if (!w) return; // cancelled on our side; late responses are dropped
    if (r.canceled) {
      this.active.delete(r.watchId);
      w.onServerCancel(r);
      // A compacted watcher keeps its id on the server's stream until cancelled (etcd does the
      // same): free it, as etcd's Go client does, unless the stream is closing anyway.
      const closed = this.closeIfIdle();
      if (!closed && r.compactRevision !== 0n) this.stream?.write({ cancelRequest: { watchId: r.watchId } });
      return;
    }
    w.onResponse(r);
  }

  private onStreamEnd(s: WatchStream, err: EtcdError | undefined): void {
    if (s !== this.stream) return;
    this.stream = undefined;
    const conn = this.streamConn;
    this.streamConn = undefined;
    s.removeAllListeners('data');
    if (this.closed) return;
    if (err && conn) this.conns.reportStreamError(conn, err);
    // With the leader required, a member that lost its leader ends the stream with no leader:
    // the watchers get that error (etcd's watchGrpcStream closes with ErrNoLeader) rather than
    // being created again.
    const noLeader = err instanceof NoLeaderError && this.conns.requireLeader;
    if (err && ((!isStreamRetryable(err) && err.code !== status.CANCELLED) || noLeader)) {
      this.failAll(err);
      return;
    }
    // Transport failure, a retryable error or the server ended the stream: create every
    // watcher again (on the endpoint the next pick gives).
    this.failures++;
    this.requeueAll();
    this.pump();
  }

  /**
   * A create refused with `invalid auth token` (the member restarted and lost its tokens, or the
   * token expired) or `revision of auth store is old`: as etcd's Go client (shouldRetryWatch),
   * fetch a new token, open a new stream and create every watcher on it again, each from where
   * it was. False when auth is not configured or the refusals repeat (the watcher then fails).
   */
  private refreshTokenFor(w: Watcher, r: etcdserverpb.WatchResponse): boolean {
    if (!this.conns.authenticates || !shouldRefreshToken(cancelReasonError(r.cancelReason))) return false;
    if (++this.tokenRefusals > MAX_TOKEN_REFUSALS) return false;
    this.conns.dropToken(this.streamToken);
    this.creating = w;
    this.dropStream();
    this.streamConn = undefined;
    this.requeueAll();
    this.pump();
    return true;
  }

  /** Put the watcher being created and every active one back at the head of the queue. */
  private requeueAll(): void {
    const resume: Watcher[] = [];
    if (this.creating) resume.push(this.creating);
    this.creating = undefined;
    for (const w of this.active.values()) resume.push(w);
    this.active.clear();
    for (const w of resume) {
      w.resetFragments();
      if (w.state !== 'finished') w.state = 'queued';
    }
    this.queue.unshift(...resume.filter((w) => w.state === 'queued'));
  }

  private failAll(err: EtcdError): void {
    const all = [...this.queue, ...(this.creating ? [this.creating] : []), ...this.active.values()];
    this.queue.length = 0;
    this.creating = undefined;
    this.active.clear();
    this.dropStream();
    for (const w of all) w.fail(err);
  }

  /** End every watcher (iteration finishes normally) and close the stream. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.queue, ...(this.creating ? [this.creating] : []), ...this.active.values()];
    this.queue.length = 0;
    this.creating = undefined;
    this.active.clear();
    this.dropStream();
    for (const w of all) w.finish();
  }
}

// The sending side towards one peer: a bounded queue, one long-lived HTTP/2 session with one
// message stream, reconnects with backoff, and snapshot transfers on sessions of their own.
//
// States: connecting → connected → (failure) → backoff → connecting …; stopped is final.
// Invariants:
// - Messages leave in the order send() queued them; a batch is one write on one stream.
// - While in backoff, sends are dropped at once (and reported unreachable); the queue is only
//   non-empty while connecting or connected, and never exceeds its message or byte bound.
// - Every connection attempt has its own token; events from older attempts are ignored.
import { constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type SecureClientSessionOptions } from 'node:http2';
import { raftpb } from '@kv/api';
import type { Logger } from 'pino';
import { Backoff, type Timers } from './backoff.js';
import {
  encodeFrames,
  encodeMessageFrame,
  lengthPrefixBytes,
  snapshotChunkBytes,
  snapshotDataHeader,
  snapshotEndFrame,
} from './framing.js';
import { dial, PingWatch, readBody, writeAll } from './session.js';
import type { PeerTraffic, TransportHandler } from './types.js';
import { headerClusterId, headerFrom, headerTo, idHex, RejectText, snapshotPath, streamPath } from './wire.js';

export interface PeerContext {
  memberId: bigint;
  clusterId: bigint;
  logger: Logger;
  handler: TransportHandler;
  timers: Timers;
  tls?: SecureClientSessionOptions;
  maxFrameBytes: number;
  maxQueuedMessages: number;
  maxQueuedBytes: number;
  dialTimeoutMs: number;
  pingIntervalMs: number;
  /** Monotonic milliseconds (the member's clock), for activeSince. */
  now: () => number;
  /** The counters of one peer's traffic (the same object for the same id, for good). */
  traffic: (id: bigint) => PeerTraffic;
  /** Receives each answered ping's round trip to a peer, in seconds. */
  onRtt?: (id: bigint, seconds: number) => void;
}

type State = 'connecting' | 'connected' | 'backoff' | 'stopped';

interface Attempt {
  session: ClientHttp2Session;
  stream: ClientHttp2Stream;
  dialTimer?: unknown;
  ping?: PingWatch;
  /** The peer answered with a non-200 status; its body explains why. */
  rejected: boolean;
}

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class Peer {
  private urls: URL[];
  private urlIndex = 0;
  private state: State = 'backoff';
  private attempt?: Attempt;
  private queue: Uint8Array[] = [];
  private readonly traffic: PeerTraffic;
  private queuedBytes = 0;
  private flushScheduled = false;
  private draining = false;
  private retryTimer?: unknown;
  /** The last failure logged at warn level; repeats of it go to debug. */
  private lastFailure = '';
  /** When the current message stream was established (ctx.now); meaningful while connected. */
  private connectedAt = 0;
  private readonly snapshotSessions = new Set<ClientHttp2Session>();
  private readonly log: Logger;

  constructor(
    readonly id: bigint,
    urls: URL[],
    private readonly ctx: PeerContext,
    private readonly backoff: Backoff,
  ) {
    this.traffic = ctx.traffic(id);
    this.urls = urls;
    this.log = ctx.logger.child({ 'remote-peer-id': idHex(id) });
    this.connect();
  }

  get active(): boolean {
    return this.state === 'connected';
  }

  /**
   * Since when (ctx.now) the message stream to the peer has been up without a break; undefined
   * while it is not (etcd's peerStatus.activeSince). Invariant: defined exactly while connected.
   */
  get activeSince(): number | undefined {
    return this.state === 'connected' ? this.connectedAt : undefined;
  }

  /** Queues one encoded message; false when it was dropped (caller reports unreachable). */
  enqueue(encoded: Uint8Array): boolean {
    if (this.state === 'backoff' || this.state === 'stopped') return false;
    if (lengthPrefixBytes + encoded.length > this.ctx.maxFrameBytes) {
      this.log.warn({ size: encoded.length, limit: this.ctx.maxFrameBytes }, 'dropped raft message larger than the frame limit');
      return false;
    }
    if (this.queue.length >= this.ctx.maxQueuedMessages || this.queuedBytes + encoded.length > this.ctx.maxQueuedBytes) {
      this.log.debug({ queued: this.queue.length, bytes: this.queuedBytes }, 'dropped raft message; the queue to the peer is full');
      return false;
    }
    this.queue.push(encoded);
    this.queuedBytes += encoded.length;
    this.scheduleFlush();
    return true;
  }

  /** New URLs; a session on a URL no longer listed is replaced. */
  setUrls(urls: URL[]): void {
    const current = this.urls[this.urlIndex % this.urls.length]?.origin;
    this.urls = urls;
    const keep = urls.findIndex((u) => u.origin === current);
    if (keep >= 0) {
      this.urlIndex = keep;
      return;
    }
    this.urlIndex = 0;
    if (this.state === 'stopped') return;
    if (this.attempt) this.down('peer URLs changed', true);
    else if (this.state === 'backoff') {
      if (this.retryTimer !== undefined) this.ctx.timers.clearTimeout(this.retryTimer);
      this.retryTimer = undefined;
      this.backoff.reset();
      this.connect();
    }
  }

  private currentUrl(): URL {
    return this.urls[this.urlIndex % this.urls.length];
  }

  private requestHeaders(path: string): Record<string, string> {
    return {
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: path,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'application/octet-stream',
      [headerClusterId]: idHex(this.ctx.clusterId),
      [headerFrom]: idHex(this.ctx.memberId),
      [headerTo]: idHex(this.id),
    };
  }

  private connect(): void {
    if (this.state === 'stopped') return;
    this.state = 'connecting';
    const url = this.currentUrl();
    let session: ClientHttp2Session;
    try {
      session = dial(url, this.ctx.tls);
    } catch (err) {
      this.fail(errText(err));
      return;
    }
    const stream = session.request(this.requestHeaders(streamPath), { endStream: false });
    const a: Attempt = { session, stream, rejected: false };
    this.attempt = a;
    const mine = () => this.attempt === a;
    a.dialTimer = this.ctx.timers.setTimeout(() => {
      a.dialTimer = undefined;
      if (mine()) this.down(`no answer from ${url.origin} within ${this.ctx.dialTimeoutMs} ms`);
    }, this.ctx.dialTimeoutMs);
    session.on('error', (err) => {
      if (mine()) this.down(`${url.origin}: ${errText(err)}`);
    });
    session.on('close', () => {
      if (mine() && !a.rejected) this.down(`connection to ${url.origin} closed`);
    });
    stream.on('error', (err) => {
      if (mine() && !a.rejected) this.down(`${url.origin}: ${errText(err)}`);
    });
    stream.on('close', () => {
      if (mine() && !a.rejected) this.down(`message stream to ${url.origin} closed`);
    });
    stream.on('response', (headers) => {
      if (!mine()) return;
      const status = Number(headers[h2.HTTP2_HEADER_STATUS]);
      if (status === 200) {
        stream.resume(); // the peer sends nothing back; keep 'end' and 'close' flowing
        this.up(a);
        return;
      }
      a.rejected = true;
      void readBody(stream).then((body) => {
        if (mine()) this.rejected(status, body, String(headers[headerClusterId] ?? ''));
      });
    });
  }

  private up(a: Attempt): void {
    if (a.dialTimer !== undefined) this.ctx.timers.clearTimeout(a.dialTimer);
    a.dialTimer = undefined;
    this.state = 'connected';
    this.connectedAt = this.ctx.now();
    this.backoff.reset();
    if (this.lastFailure) this.log.info({ url: this.currentUrl().origin }, 'peer became active');
    else this.log.debug({ url: this.currentUrl().origin }, 'message stream to peer established');
    this.lastFailure = '';
    const onRtt = this.ctx.onRtt;
    a.ping = new PingWatch(
      a.session,
      this.ctx.timers,
      this.ctx.pingIntervalMs,
      (reason) => {
        if (this.attempt === a) this.down(reason);
      },
      onRtt && ((ms) => onRtt(this.id, ms / 1000)),
    );
    this.flush();
  }

  private rejected(status: number, body: string, remoteCluster: string): void {
    let reason: string;
    if (status === 412 && body === RejectText.ClusterIdMismatch) {
      reason = `request sent was ignored (cluster ID mismatch: remote[${idHex(this.id)}]=${remoteCluster}, local=${idHex(this.ctx.clusterId)})`;
      this.log.error(
        {
          'local-member-id': idHex(this.ctx.memberId),
          'remote-peer-cluster-id': remoteCluster,
          'local-member-cluster-id': idHex(this.ctx.clusterId),
        },
        reason,
      );
    } else if (status === 410) {
      reason = 'the peer reports this member as removed from the cluster';
      this.log.error(reason);
      try {
        this.ctx.handler.onRemoved?.(this.id);
      } catch (err) {
        this.log.error({ err }, 'onRemoved handler failed');
      }
    } else {
      reason = `peer rejected the message stream (status ${status}: ${body})`;
      this.log.warn(reason);
    }
    this.lastFailure = reason;
    this.down(reason, false, true);
  }

  /** Tears down the current attempt and goes to backoff (or reconnects at once when asked). */
  private down(reason: string, immediate = false, logged = false): void {
    const a = this.attempt;
    this.attempt = undefined;
    const wasConnected = this.state === 'connected';
    if (a) this.closeAttempt(a);
    if (this.state === 'stopped') return;
    if (!logged) {
      if (wasConnected) this.log.warn({ reason }, 'lost the message stream to the peer');
      else if (reason !== this.lastFailure) this.log.warn({ reason }, 'failed to connect to peer');
      else this.log.debug({ reason }, 'failed to connect to peer');
      this.lastFailure = reason;
    }
    // Whatever was queued or in flight may be lost; raft must probe again.
    const lost = this.queue.length > 0 || wasConnected;
    this.queue = [];
    this.queuedBytes = 0;
    this.draining = false;
    if (this.urls.length > 1) this.urlIndex = (this.urlIndex + 1) % this.urls.length;
    if (immediate) {
      this.connect();
    } else {
      this.state = 'backoff';
      const delay = this.backoff.next();
      this.retryTimer = this.ctx.timers.setTimeout(() => {
        this.retryTimer = undefined;
        this.connect();
      }, delay);
    }
    if (lost) this.reportUnreachable();
  }

  private fail(reason: string): void {
    this.state = 'connecting';
    this.down(reason);
  }

  private closeAttempt(a: Attempt): void {
    if (a.dialTimer !== undefined) this.ctx.timers.clearTimeout(a.dialTimer);
    a.ping?.stop();
    if (!a.stream.destroyed) a.stream.close(h2.NGHTTP2_CANCEL);
    if (!a.session.destroyed) a.session.destroy();
  }

  private reportUnreachable(): void {
    try {
      this.ctx.handler.onUnreachable(this.id);
    } catch (err) {
      this.log.error({ err }, 'onUnreachable handler failed');
    }
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.state !== 'connected' || this.draining) return;
    this.flushScheduled = true;
    // Everything sent during this event-loop turn goes out together.
    setImmediate(() => {
      this.flushScheduled = false;
      this.flush();
    });
  }

  private flush(): void {
    const a = this.attempt;
    if (this.state !== 'connected' || !a || this.draining || this.queue.length === 0) return;
    const batch = encodeFrames(this.queue, this.ctx.maxFrameBytes);
    this.traffic.sentBytes += batch.length;
    this.queue = [];
    this.queuedBytes = 0;
    if (!a.stream.write(batch)) {
      // HTTP/2 flow control or the socket is full: hold further batches until it drains.
      this.draining = true;
      a.stream.once('drain', () => {
        if (this.attempt !== a) return;
        this.draining = false;
        this.flush();
      });
    }
  }

  /** Streams one snapshot on a session of its own; resolves with the outcome (never rejects). */
  async sendSnapshot(msg: raftpb.Message, data: () => AsyncIterable<Buffer>): Promise<{ ok: boolean; reason?: string; bytes: number }> {
    const url = this.currentUrl();
    let session: ClientHttp2Session;
    try {
      session = dial(url, this.ctx.tls);
    } catch (err) {
      return { ok: false, reason: errText(err), bytes: 0 };
    }
    this.snapshotSessions.add(session);
    let failure: string | undefined;
    const note = (reason: string) => {
      failure ??= reason;
    };
    session.on('error', (err) => note(errText(err)));
    const ping = new PingWatch(session, this.ctx.timers, this.ctx.pingIntervalMs, (reason) => {
      note(reason);
      session.destroy();
    });
    const stream = session.request(this.requestHeaders(snapshotPath), { endStream: false });
    stream.on('error', (err) => note(errText(err)));
    const response = new Promise<{ status: number; body: string }>((resolve) => {
      stream.once('response', (headers) => {
        const status = Number(headers[h2.HTTP2_HEADER_STATUS]);
        void readBody(stream).then((body) => resolve({ status, body }));
      });
      stream.once('close', () => resolve({ status: 0, body: '' }));
    });
    let answered = false;
    void response.then(() => {
      answered = true;
    });
    let bytes = 0;
    try {
      await writeAll(stream, encodeMessageFrame(msg, this.ctx.maxFrameBytes));
      source: for await (const chunk of data()) {
        for (let off = 0; off < chunk.length; off += snapshotChunkBytes) {
          if (answered || this.state === 'stopped') break source; // an early answer is a rejection
          const piece = chunk.subarray(off, off + snapshotChunkBytes);
          stream.write(snapshotDataHeader(piece.length));
          await writeAll(stream, piece);
          bytes += piece.length;
        }
      }
      // Only a source read to its end earns the End frame; anything else is a broken transfer.
      if (!answered && this.state !== 'stopped') stream.end(snapshotEndFrame(bytes));
    } catch (err) {
      note(`sending snapshot: ${errText(err)}`);
      // Reset, not end: the receiver must see the transfer as broken, not complete.
      if (!stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
    }
    const r = await response;
    ping.stop();
    this.snapshotSessions.delete(session);
    if (!session.destroyed) session.close();
    if (r.status === 204) return { ok: true, bytes };
    const reason = r.status ? `peer answered ${r.status}: ${r.body}` : (failure ?? 'stream closed before an answer');
    return { ok: false, reason, bytes };
  }

  stop(): void {
    if (this.state === 'stopped') return;
    this.state = 'stopped';
    if (this.retryTimer !== undefined) this.ctx.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const a = this.attempt;
    this.attempt = undefined;
    if (a) this.closeAttempt(a);
    for (const s of this.snapshotSessions) s.destroy();
    this.snapshotSessions.clear();
    this.queue = [];
    this.queuedBytes = 0;
  }

  get stopped(): boolean {
    return this.state === 'stopped';
  }
}

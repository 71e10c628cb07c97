// The receiving side: an HTTP/2 server (never listening itself; the peer listener hands it
// connections) that checks every request, then feeds message streams to onMessages and snapshot
// streams to onSnapshot.
//
// Invariants:
// - Nothing reaches the handler from a request whose cluster id, sender or addressee is wrong,
//   and no message that checkPeerMessage (validate.ts) refuses: raft only sees terms and indexes
//   it can add one to, types a peer may send, and from/to matching the stream.
// - A malformed stream is reset and affects no other stream or session.
// - A session that shows no sign of life (no ping, no data) for idleTimeoutMs is destroyed.
import {
  constants as h2,
  createServer,
  type Http2Server,
  type IncomingHttpHeaders,
  type ServerHttp2Session,
  type ServerHttp2Stream,
} from 'node:http2';
import type { Duplex } from 'node:stream';
import { raftpb } from '@kv/api';
import type { Logger } from 'pino';
import type { Timers } from './backoff.js';
import { decodeBatch, FrameDecoder, SnapshotChunk } from './framing.js';
import { streamWindowBytes } from './session.js';
import type { PeerTraffic, TransportHandler } from './types.js';
import { checkPeerMessage, RefusalLog } from './validate.js';
import { headerClusterId, headerFrom, headerTo, idHex, parseIdHex, RejectText, snapshotPath, streamPath } from './wire.js';

export interface InboundContext {
  memberId: bigint;
  clusterId: bigint;
  logger: Logger;
  handler: TransportHandler;
  timers: Timers;
  maxFrameBytes: number;
  idleTimeoutMs: number;
  isKnown(id: bigint): boolean;
  isRemoved(id: bigint): boolean;
  /** The counters of one peer's traffic (received bytes are counted here). */
  traffic(id: bigint): PeerTraffic;
}

/** Connection-level receive window; several streams (messages, a snapshot) share it. */
const sessionWindowBytes = 16 * 1024 * 1024;

const errText = (e: unknown) => (e instanceof Error ? e.message : String(e));

export class Inbound {
  private readonly server: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();
  /** The live message stream of each sender; a newer one replaces an older. */
  private readonly streams = new Map<bigint, ServerHttp2Stream>();
  private readonly alive = new WeakMap<ServerHttp2Session, { active: boolean; timer?: unknown }>();
  private stopped = false;
  private readonly local: Record<string, string>;
  /** Messages refused by checkPeerMessage: a warning per sender and type, at most one per 10 s. */
  private readonly refusals: RefusalLog;

  constructor(private readonly ctx: InboundContext) {
    this.refusals = new RefusalLog((fields, msg) => ctx.logger.warn({ 'local-member-id': idHex(ctx.memberId), ...fields }, msg));
    this.local = { 'local-member-id': idHex(ctx.memberId), 'local-member-cluster-id': idHex(ctx.clusterId) };
    this.server = createServer({
      settings: { enablePush: false, initialWindowSize: streamWindowBytes },
      maxSessionMemory: 64,
    });
    this.server.on('session', (s) => this.onSession(s));
    this.server.on('stream', (stream, headers) => this.onStream(stream, headers));
    this.server.on('sessionError', (err) => ctx.logger.debug({ err: errText(err) }, 'peer session error'));
    this.server.on('error', (err) => ctx.logger.warn({ err: errText(err) }, 'peer HTTP/2 server error'));
  }

  /** Takes an HTTP/2 connection from the peer listener (plain, or TLS already terminated). */
  handleConnection(conn: Duplex): void {
    if (this.stopped) {
      conn.destroy();
      return;
    }
    this.server.emit('connection', conn);
  }

  private onSession(s: ServerHttp2Session): void {
    this.sessions.add(s);
    s.on('error', (err) => this.ctx.logger.debug({ err: errText(err) }, 'peer session error'));
    s.once('close', () => {
      this.sessions.delete(s);
      const w = this.alive.get(s);
      if (w?.timer !== undefined) this.ctx.timers.clearTimeout(w.timer);
    });
    try {
      s.setLocalWindowSize(sessionWindowBytes);
    } catch {
      // Not every Node version lets us set it this early; the default window still works.
    }
    const w: { active: boolean; timer?: unknown } = { active: true };
    this.alive.set(s, w);
    s.on('ping', () => {
      w.active = true;
    });
    const check = () => {
      w.timer = undefined;
      if (s.destroyed) return;
      if (!w.active) {
        this.ctx.logger.debug('closing silent peer session');
        s.destroy();
        return;
      }
      w.active = false;
      w.timer = this.ctx.timers.setTimeout(check, this.ctx.idleTimeoutMs);
    };
    w.timer = this.ctx.timers.setTimeout(check, this.ctx.idleTimeoutMs);
  }

  private touch(stream: ServerHttp2Stream): void {
    const w = this.alive.get(stream.session as ServerHttp2Session);
    if (w) w.active = true;
  }

  private reply(stream: ServerHttp2Stream, status: number, text: string): void {
    if (stream.destroyed || stream.closed) return;
    if (stream.headersSent) {
      stream.close(h2.NGHTTP2_INTERNAL_ERROR);
      return;
    }
    stream.respond({
      [h2.HTTP2_HEADER_STATUS]: status,
      [h2.HTTP2_HEADER_CONTENT_TYPE]: 'text/plain; charset=utf-8',
      [headerClusterId]: idHex(this.ctx.clusterId),
    });
    stream.end(text + '\n');
    // Discard whatever the sender still pushes; it learns from the status and stops.
    stream.resume();
  }

  /** Checks a request; returns the sender when it may proceed, after answering it otherwise. */
  private admit(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): bigint | undefined {
    const { ctx } = this;
    const rawFrom = String(headers[headerFrom] ?? '');
    const gotCluster = String(headers[headerClusterId] ?? '');
    if (gotCluster !== idHex(ctx.clusterId)) {
      ctx.logger.warn({ ...this.local, 'remote-peer-id': rawFrom, 'remote-peer-cluster-id': gotCluster }, 'request cluster ID mismatch');
      this.reply(stream, 412, RejectText.ClusterIdMismatch);
      return undefined;
    }
    const from = parseIdHex(headers[headerFrom]);
    if (from === undefined) {
      ctx.logger.warn({ ...this.local, 'remote-peer-id': rawFrom }, 'rejected peer request with an invalid sender id');
      this.reply(stream, 400, RejectText.InvalidFrom);
      return undefined;
    }
    if (ctx.isRemoved(from)) {
      ctx.logger.warn({ ...this.local, 'remote-peer-id': rawFrom }, 'rejected stream from remote peer because it was removed');
      this.reply(stream, 410, RejectText.RemovedMember);
      return undefined;
    }
    if (!ctx.isKnown(from)) {
      ctx.logger.warn({ ...this.local, 'remote-peer-id': rawFrom }, 'failed to find remote peer in cluster');
      this.reply(stream, 404, RejectText.SenderNotFound);
      return undefined;
    }
    const to = String(headers[headerTo] ?? '');
    if (to !== idHex(ctx.memberId)) {
      ctx.logger.warn({ ...this.local, 'remote-peer-id': rawFrom, 'remote-peer-id-header': to }, 'ignored peer request; ID mismatch');
      this.reply(stream, 412, RejectText.ToMismatch);
      return undefined;
    }
    return from;
  }

  private onStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    stream.on('error', (err) => this.ctx.logger.debug({ err: errText(err) }, 'peer stream error'));
    if (this.stopped) {
      stream.close(h2.NGHTTP2_REFUSED_STREAM);
      return;
    }
    const path = String(headers[h2.HTTP2_HEADER_PATH] ?? '');
    const method = String(headers[h2.HTTP2_HEADER_METHOD] ?? '');
    if (path !== streamPath && path !== snapshotPath) {
      this.reply(stream, 404, '404 page not found');
      return;
    }
    if (method !== 'POST') {
      this.reply(stream, 405, 'Method Not Allowed');
      return;
    }
    const from = this.admit(stream, headers);
    if (from === undefined) return;
    if (path === streamPath) this.acceptMessages(stream, from);
    else void this.acceptSnapshot(stream, from);
  }

  private acceptMessages(stream: ServerHttp2Stream, from: bigint): void {
    const old = this.streams.get(from);
    if (old && !old.destroyed) old.close(h2.NGHTTP2_CANCEL);
    this.streams.set(from, stream);
    stream.once('close', () => {
      if (this.streams.get(from) === stream) this.streams.delete(from);
    });
    stream.respond({ [h2.HTTP2_HEADER_STATUS]: 200, [headerClusterId]: idHex(this.ctx.clusterId) }, { endStream: false });
    const log = this.ctx.logger.child({ 'remote-peer-id': idHex(from) });
    log.debug('accepted message stream from peer');
    const decoder = new FrameDecoder(this.ctx.maxFrameBytes);
    const traffic = this.ctx.traffic(from);
    stream.on('data', (chunk: Buffer) => {
      traffic.receivedBytes += chunk.length;
      this.touch(stream);
      let frames: Buffer[];
      try {
        frames = decoder.push(chunk);
        for (const f of frames) {
          const msgs = decodeBatch(f);
          const ok = msgs.filter((m) => {
            const reason = checkPeerMessage(m, { self: this.ctx.memberId, from, path: 'stream' });
            if (reason !== undefined) this.refusals.refused(from, m.type, reason);
            return reason === undefined;
          });
          if (ok.length === 0) continue;
          try {
            this.ctx.handler.onMessages(ok);
          } catch (err) {
            log.error({ err: errText(err) }, 'onMessages handler failed');
          }
        }
      } catch (err) {
        log.warn({ err: errText(err) }, 'closing malformed message stream from peer');
        stream.close(h2.NGHTTP2_PROTOCOL_ERROR);
      }
    });
    stream.on('end', () => {
      if (!stream.destroyed) stream.end();
    });
  }

  private async acceptSnapshot(stream: ServerHttp2Stream, from: bigint): Promise<void> {
    const log = this.ctx.logger.child({ ...this.local, 'remote-snapshot-sender-id': idHex(from) });
    const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
    const decoder = new FrameDecoder(this.ctx.maxFrameBytes);
    let msg: raftpb.Message | undefined;
    try {
      while (!msg) {
        const r = await it.next();
        if (r.done) throw new Error('snapshot stream ended before its message');
        this.touch(stream);
        // Exactly one frame: whatever follows it is already snapshot data.
        const frames = decoder.push(r.value, 1);
        if (frames.length > 0) {
          const msgs = decodeBatch(frames[0]);
          if (msgs.length !== 1) throw new Error(`snapshot stream must start with one message, got ${msgs.length}`);
          msg = msgs[0];
        }
      }
    } catch (err) {
      log.warn({ err: errText(err) }, 'failed to read snapshot message');
      this.reply(stream, 400, `error reading snapshot message (${errText(err)})`);
      return;
    }
    const snapIndex = msg.snapshot?.metadata?.index ?? 0n;
    const refusal = checkPeerMessage(msg, { self: this.ctx.memberId, from, path: 'snapshot' });
    if (refusal !== undefined) {
      this.refusals.refused(from, msg.type, refusal);
      this.reply(
        stream,
        400,
        msg.type === raftpb.MessageType.MsgSnap ? `${RejectText.InvalidMessage} (${refusal})` : RejectText.WrongMessageType,
      );
      return;
    }
    log.info({ 'incoming-snapshot-index': snapIndex.toString() }, 'receiving database snapshot');
    let bytes = 0;
    const touch = () => this.touch(stream);
    // Yields the Data chunks; returns only after the End frame with the right total, throws if
    // the body ends (or breaks off) without it or is malformed.
    async function* data(): AsyncGenerator<Buffer> {
      let frames = decoder.push(Buffer.alloc(0));
      for (;;) {
        for (const f of frames) {
          if (f.length === 0) throw new Error('empty snapshot chunk');
          if (f[0] === SnapshotChunk.Data) {
            bytes += f.length - 1;
            yield f.subarray(1);
          } else if (f[0] === SnapshotChunk.End && f.length === 9) {
            const total = f.readBigUInt64BE(1);
            if (total !== BigInt(bytes)) throw new Error(`snapshot ended with ${bytes} bytes, sender counted ${total}`);
            return;
          } else {
            throw new Error(`bad snapshot chunk kind ${f[0]}`);
          }
        }
        const r = await it.next();
        if (r.done) throw new Error(`snapshot transfer broke off after ${bytes} bytes`);
        touch();
        frames = decoder.push(r.value);
      }
    }
    try {
      await this.ctx.handler.onSnapshot(msg, data());
    } catch (err) {
      log.warn({ 'incoming-snapshot-index': snapIndex.toString(), err: errText(err) }, 'failed to save incoming database snapshot');
      this.reply(stream, 500, `failed to save KV snapshot (${errText(err)})`);
      return;
    }
    log.info(
      { 'incoming-snapshot-index': snapIndex.toString(), 'incoming-snapshot-size-bytes': bytes },
      'received and saved database snapshot',
    );
    if (stream.destroyed || stream.closed) return;
    // Only after install does the sender hear success (raft's ReportSnapshot on its side).
    stream.respond({ [h2.HTTP2_HEADER_STATUS]: 204, [headerClusterId]: idHex(this.ctx.clusterId) }, { endStream: true });
    stream.resume();
  }

  /** Closes the message stream of a sender (removed peer). */
  dropSender(id: bigint): void {
    const s = this.streams.get(id);
    if (s && !s.destroyed) s.close(h2.NGHTTP2_CANCEL);
    this.streams.delete(id);
  }

  stop(): void {
    this.stopped = true;
    for (const s of this.sessions) s.destroy();
    this.sessions.clear();
    this.streams.clear();
  }
}

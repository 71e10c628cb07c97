// Client-side HTTP/2 sessions to a peer: dialing (plain or TLS by the URL's scheme) and a ping
// watchdog that tears down a session whose peer stopped answering.
import { connect, type ClientHttp2Session, type ClientHttp2Stream, type SecureClientSessionOptions } from 'node:http2';
import type { Timers } from './backoff.js';

/** Per-stream receive window we ask for; snapshots move faster than with HTTP/2's 64 KiB default. */
export const streamWindowBytes = 1024 * 1024;

export class DialError extends Error {
  override readonly name = 'DialError';
}

/** Opens an HTTP/2 session to a peer URL. Throws DialError when the URL cannot be dialed at all. */
export function dial(url: URL, tls: SecureClientSessionOptions | undefined): ClientHttp2Session {
  if (url.protocol === 'https:' && !tls) {
    throw new DialError(`peer URL ${url.origin} is https but --peer-cert-file/--peer-key-file are not set`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new DialError(`peer URL ${url.href} is neither http nor https`);
  const session = connect(url.origin, {
    ...(url.protocol === 'https:' ? tls : {}),
    settings: { enablePush: false, initialWindowSize: streamWindowBytes },
    maxSessionMemory: 64,
  });
  return session;
}

/**
 * Pings the peer every intervalMs; a ping still unanswered at the next tick means the peer (or the
 * path to it) is gone, and onDead runs once.
 */
export class PingWatch {
  private timer?: unknown;
  private outstanding = false;
  private stopped = false;

  constructor(
    private readonly session: ClientHttp2Session,
    private readonly timers: Timers,
    private readonly intervalMs: number,
    private readonly onDead: (reason: string) => void,
    /** Each answered ping's round trip, in ms (node's own measure). */
    private readonly onRtt?: (ms: number) => void,
  ) {
    this.schedule();
  }

  private schedule(): void {
    this.timer = this.timers.setTimeout(() => this.tick(), this.intervalMs);
  }

  private tick(): void {
    this.timer = undefined;
    if (this.stopped) return;
    if (this.outstanding) {
      this.stop();
      this.onDead(`peer did not answer a ping within ${this.intervalMs} ms`);
      return;
    }
    this.outstanding = true;
    try {
      this.session.ping((err, ms) => {
        if (err) return;
        this.outstanding = false;
        this.onRtt?.(ms);
      });
    } catch {
      // Session already closing; its close handler reports the failure.
    }
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }
}

/** Reads a (short) response body as text, up to limit bytes; resolves on end or close. */
export function readBody(stream: ClientHttp2Stream, limit = 4096): Promise<string> {
  return new Promise((resolve) => {
    const parts: Buffer[] = [];
    let n = 0;
    let done = false;
    const finish = () => {
      if (done) return;
      done = true;
      resolve(Buffer.concat(parts).toString('utf8').trim());
    };
    stream.on('data', (c: Buffer) => {
      if (n < limit) parts.push(c.subarray(0, limit - n));
      n += c.length;
    });
    stream.once('end', finish);
    stream.once('close', finish);
    stream.once('error', finish);
  });
}

/** Writes with backpressure: resolves once the stream can take more; rejects if it closes first. */
export function writeAll(stream: ClientHttp2Stream, buf: Buffer): Promise<void> {
  if (stream.destroyed || stream.closed || !stream.writable) return Promise.reject(new Error('stream closed'));
  if (stream.write(buf)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const cleanup = () => {
      stream.off('drain', onDrain);
      stream.off('close', onClose);
    };
    const onDrain = () => {
      cleanup();
      resolve();
    };
    const onClose = () => {
      cleanup();
      reject(new Error('stream closed'));
    };
    stream.on('drain', onDrain);
    stream.on('close', onClose);
  });
}

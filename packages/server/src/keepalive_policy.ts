// --grpc-keepalive-min-time: grpc-go's server keepalive enforcement policy, which etcd sets with
// PermitWithoutStream=false (embed/etcd.go), applied to the client port's HTTP/2 sessions. grpc-js
// has no server-side enforcement, so it is done here on Node's session 'ping' events, with
// grpc-go's rules (internal/transport/http2_server.go handlePing):
//
// - a ping counts a strike when it comes less than minTime after the previous one while streams
//   are open, or less than 2 h after it while none is open (pings without streams are not
//   permitted);
// - the server writing headers or data on the connection resets the strikes (the next ping is
//   not judged);
// - after more than 2 strikes the connection gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings" and
//   is closed — grpc-go clients then double their keepalive time.
//
// Without --grpc-keepalive-min-time (0), etcd sets no policy and grpc-go's default applies: the
// same rules with minTime 5 minutes.
import { constants, type Http2Session, type ServerHttp2Stream } from 'node:http2';

/** grpc-go's maxPingStrikes and defaultPingTimeout; its default MinTime. */
const maxPingStrikes = 2;
const noStreamPingMs = 2 * 3600 * 1000;
export const defaultKeepaliveMinTimeMs = 5 * 60 * 1000;

export interface KeepalivePolicyOptions {
  /** --grpc-keepalive-min-time in ms; 0 means grpc-go's default (5 minutes). */
  minTimeMs: number;
  /** Monotonic milliseconds (injected for tests). */
  now?: () => number;
}

/** Watches one session's pings and closes it when the client pings too often. */
export function enforceKeepalivePolicy(session: Http2Session, o: KeepalivePolicyOptions): void {
  const minTime = o.minTimeMs > 0 ? o.minTimeMs : defaultKeepaliveMinTimeMs;
  const now = o.now ?? (() => performance.now());
  let lastPingAt: number | undefined;
  let strikes = 0;
  let reset = false;
  let open = 0;
  session.on('stream', (stream: ServerHttp2Stream) => {
    open++;
    stream.once('close', () => open--);
    // The server answering (headers, data) resets the strikes, as grpc-go's resetPingStrikes.
    const respond = stream.respond.bind(stream);
    stream.respond = ((...a: Parameters<typeof respond>) => {
      reset = true;
      return respond(...a);
    }) as typeof stream.respond;
    const write = stream.write.bind(stream) as (...a: unknown[]) => boolean;
    (stream as { write: (...a: unknown[]) => boolean }).write = (...a: unknown[]) => {
      reset = true;
      return write(...a);
    };
  });
  session.on('ping', () => {
    const t = now();
    const last = lastPingAt;
    lastPingAt = t;
    if (reset) {
      reset = false;
      strikes = 0;
      return;
    }
    if (last !== undefined && t - last < (open < 1 ? noStreamPingMs : minTime)) strikes++;
    if (strikes > maxPingStrikes && !session.closed && !session.destroyed) {
      session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM, undefined, Buffer.from('too_many_pings'));
      session.close();
      // Streams still open would keep a closing session alive: grpc-go closes the connection.
      setTimeout(() => session.destroy(), 1000).unref();
    }
  });
}

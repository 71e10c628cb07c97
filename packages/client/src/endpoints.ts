// Endpoint strings as users and etcdctl write them, turned into gRPC targets.

/** A parsed endpoint. */
export interface Endpoint {
  /** As given by the user (what etcdctl prints in `endpoint status`). */
  readonly original: string;
  /** gRPC target for @grpc/grpc-js, e.g. "127.0.0.1:2379" or "unix:/tmp/s". */
  readonly target: string;
  /** Whether the scheme asks for TLS (https://, unixs://). */
  readonly secure: boolean;
}

/**
 * Accepted forms: "host:port", "http://host:port", "https://host:port", "unix:path",
 * "unix://path", "unixs://path". A trailing slash or path after host:port is ignored.
 */
export function parseEndpoint(original: string): Endpoint {
  const s = original.trim();
  if (s === '') throw new TypeError('empty endpoint');
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(s);
  if (m) {
    const scheme = m[1]!.toLowerCase();
    const rest = m[2]!;
    if (scheme === 'unix' || scheme === 'unixs') {
      return { original, target: `unix:${rest}`, secure: scheme === 'unixs' };
    }
    if (scheme !== 'http' && scheme !== 'https') {
      throw new TypeError(`unsupported endpoint scheme in ${JSON.stringify(original)}`);
    }
    return { original, target: hostPort(rest.replace(/\/.*$/, '')), secure: scheme === 'https' };
  }
  if (s.startsWith('unix:')) return { original, target: s, secure: false };
  return { original, target: hostPort(s), secure: false };
}

function hostPort(s: string): string {
  if (s === '') throw new TypeError('endpoint has no host');
  return s;
}

// The check etcd's Go client makes before MemberAdd and MemberUpdate (clientv3/cluster.go calls
// pkg/types.NewURLs on the peer URLs), with its error texts: Go's net/url parse errors for the
// forms a URL list typically gets wrong, then NewURLs' scheme, host:port and path rules. The
// request never leaves the client when it fails, as with etcd's client.

/** A peer URL list the member would refuse, found before sending (etcd's NewURLs error text). */
export class InvalidPeerUrlError extends Error {}

const isLetter = (c: string) => (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
const isSchemeChar = (c: string) => isLetter(c) || (c >= '0' && c <= '9') || c === '+' || c === '-' || c === '.';

/** Go's url.getScheme: the scheme, or '' when the string has none; throws Go's message. */
function goScheme(raw: string): string {
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (isLetter(c)) continue;
    if (isSchemeChar(c)) {
      if (i === 0) return '';
      continue;
    }
    if (c === ':') {
      if (i === 0) throw new InvalidPeerUrlError(`parse ${goQuote(raw)}: missing protocol scheme`);
      return raw.slice(0, i);
    }
    return '';
  }
  return '';
}

function goQuote(s: string): string {
  return JSON.stringify(s);
}

/** One URL as NewURLs checks it; throws InvalidPeerUrlError with etcd's text. */
function checkPeerUrl(input: string): void {
  const s = input.trim();
  const scheme = goScheme(s).toLowerCase();
  const rest = scheme === '' ? s : s.slice(scheme.length + 1);
  if (scheme === '' && !s.startsWith('/')) {
    const seg = s.split('/', 1)[0]!;
    if (seg.includes(':')) throw new InvalidPeerUrlError(`parse ${goQuote(s)}: first path segment in URL cannot contain colon`);
  }
  if (!['http', 'https', 'unix', 'unixs'].includes(scheme)) {
    throw new InvalidPeerUrlError(`URL scheme must be http, https, unix, or unixs: ${s}`);
  }
  // Scheme known: "//host[:port][/path][?query][#fragment]" (an opaque "http:x" has no host).
  const hier = rest.startsWith('//') ? rest.slice(2) : '';
  const end = hier.search(/[/?#]/);
  const authority = end < 0 ? hier : hier.slice(0, end);
  const afterHost = end < 0 ? '' : hier.slice(end);
  const host = authority.slice(authority.lastIndexOf('@') + 1);
  const colon = host.lastIndexOf(':');
  const port = colon >= 0 && !host.slice(colon).includes(']') ? host.slice(colon + 1) : undefined;
  if (port !== undefined && !/^\d*$/.test(port)) {
    throw new InvalidPeerUrlError(`parse ${goQuote(s)}: invalid port ${goQuote(`:${port}`)} after host`);
  }
  // net.SplitHostPort: needs a ':' port separator (and brackets balanced for IPv6).
  if (port === undefined || (host.startsWith('[') && !host.slice(0, colon).endsWith(']'))) {
    throw new InvalidPeerUrlError(`URL address does not have the form "host:port": ${s}`);
  }
  const path = afterHost.split(/[?#]/, 1)[0]!;
  if (path !== '') throw new InvalidPeerUrlError(`URL must not contain a path: ${s}`);
}

/** etcd's types.NewURLs checks of a MemberAdd/MemberUpdate peer URL list. */
export function checkPeerUrls(urls: readonly string[]): void {
  if (urls.length === 0) throw new InvalidPeerUrlError('no valid URLs given');
  for (const u of urls) checkPeerUrl(u);
}

import { describe, expect, it } from 'vitest';
import { checkPeerUrls } from './peer_urls.js';

// Expected texts: etcd 3.4's clientv3 MemberAdd (types.NewURLs over Go's net/url), as etcdctl
// `member add x --peer-urls=<url>` prints them after "Error: ".
const cases: [string, string | undefined][] = [
  ['http://127.0.0.1:2380', undefined],
  ['https://[::1]:2380', undefined],
  ['http://a:2380?x=1', undefined],
  ['127.0.0.1:1', 'parse "127.0.0.1:1": first path segment in URL cannot contain colon'],
  [':2380', 'parse ":2380": missing protocol scheme'],
  ['localhost:2380', 'URL scheme must be http, https, unix, or unixs: localhost:2380'],
  ['ftp://a:1', 'URL scheme must be http, https, unix, or unixs: ftp://a:1'],
  ['foo', 'URL scheme must be http, https, unix, or unixs: foo'],
  ['http://127.0.0.1', 'URL address does not have the form "host:port": http://127.0.0.1'],
  ['http://a:b', 'parse "http://a:b": invalid port ":b" after host'],
  ['http://a:1/', 'URL must not contain a path: http://a:1/'],
  ['http://a:1/p', 'URL must not contain a path: http://a:1/p'],
];

describe('checkPeerUrls (etcd types.NewURLs)', () => {
  for (const [url, want] of cases) {
    it(`${url} → ${want ?? 'ok'}`, () => {
      if (want === undefined) expect(() => checkPeerUrls([url])).not.toThrow();
      else expect(() => checkPeerUrls([url])).toThrow(want);
    });
  }
  it('refuses an empty list', () => expect(() => checkPeerUrls([])).toThrow('no valid URLs given'));
});

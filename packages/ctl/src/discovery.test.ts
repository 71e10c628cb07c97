import { describe, expect, it } from 'vitest';
import type { SrvRecord } from 'node:dns';
import { discoverEndpoints, srvService } from './discovery.js';
import type { Globals } from './globals.js';
import { Out } from './io.js';

const base = { endpoints: ['127.0.0.1:2379'], discoverySrv: 'example.com', discoverySrvName: '', insecureDiscovery: true } as Globals;

function sink() {
  let text = '';
  return { out: new Out({ write: (s: string | Uint8Array) => (text += String(s)) }), text: () => text };
}

const notFound = () => Object.assign(new Error('querySrv ENOTFOUND'), { code: 'ENOTFOUND' });

describe('--discovery-srv', () => {
  const records: Record<string, SrvRecord[]> = {
    '_etcd-client-ssl._tcp.example.com': [{ name: 'a.example.com', port: 2379, priority: 0, weight: 0 }],
    '_etcd-client._tcp.example.com': [{ name: 'b.example.com', port: 2380, priority: 0, weight: 0 }],
  };
  const lookup = async (name: string) => {
    const r = records[name];
    if (!r) throw notFound();
    return r;
  };

  it('names services as etcd does', () => {
    expect(srvService('etcd-client', '', 'https')).toBe('etcd-client-ssl');
    expect(srvService('etcd-client', 'x', 'http')).toBe('etcd-client-x');
  });

  it('takes https and http endpoints; drops insecure ones unless --insecure-discovery', async () => {
    const s = sink();
    expect(await discoverEndpoints(base, s.out, lookup)).toEqual(['https://a.example.com.:2379', 'http://b.example.com.:2380']);
    expect(await discoverEndpoints({ ...base, insecureDiscovery: false }, s.out, lookup)).toEqual(['https://a.example.com.:2379']);
    expect(s.text()).toBe('ignoring discovered insecure endpoint "http://b.example.com.:2380"\n');
  });

  it('keeps --endpoints without a domain or when nothing usable is found; fails when both lookups fail', async () => {
    const s = sink();
    expect(await discoverEndpoints({ ...base, discoverySrv: '' }, s.out, lookup)).toEqual(['127.0.0.1:2379']);
    expect(
      await discoverEndpoints({ ...base, discoverySrvName: 'none' }, s.out, async (n) =>
        n.includes('-ssl') ? [] : Promise.reject(notFound()),
      ),
    ).toEqual(['127.0.0.1:2379']);
    await expect(discoverEndpoints({ ...base, discoverySrv: 'nothing.test' }, s.out, lookup)).rejects.toThrow(
      'dns lookup errors: lookup _etcd-client-ssl._tcp.nothing.test: no such host and lookup _etcd-client._tcp.nothing.test: no such host',
    );
  });
});

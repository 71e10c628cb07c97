// --discovery-srv: endpoints from DNS SRV records, as etcdctl's endpointsFromCmd and etcd's
// pkg/srv GetClient do: _etcd-client-ssl[-<name>]._tcp.<domain> gives https:// endpoints,
// _etcd-client[-<name>]._tcp.<domain> http:// ones; both lookups failing is an error; without
// --insecure-discovery the http:// ones are dropped (with a notice); none found: --endpoints.
import { promises as dns, type SrvRecord } from 'node:dns';
import { CtlExit, ExitCode } from './exit.js';
import type { Globals } from './globals.js';
import type { Out } from './io.js';

export type SrvLookup = (name: string) => Promise<SrvRecord[]>;

const defaultLookup: SrvLookup = (name) => dns.resolveSrv(name);

/** Go's net error text for a failed lookup. */
function lookupError(name: string, e: unknown): string {
  const code = (e as NodeJS.ErrnoException).code;
  const why = code === 'ENOTFOUND' || code === 'ENODATA' ? 'no such host' : ((e as Error).message ?? String(e));
  return `lookup ${name}: ${why}`;
}

/** The SRV service name: etcd-client[-ssl][-<serviceName>]. */
export function srvService(service: string, serviceName: string, scheme: 'http' | 'https'): string {
  let s = scheme === 'https' ? `${service}-ssl` : service;
  if (serviceName !== '') s += `-${serviceName}`;
  return s;
}

export async function discoverEndpoints(g: Globals, err: Out, lookup: SrvLookup = defaultLookup): Promise<string[]> {
  if (g.discoverySrv === '') return g.endpoints;
  const urls: string[] = [];
  const errors: string[] = [];
  for (const scheme of ['https', 'http'] as const) {
    const name = `_${srvService('etcd-client', g.discoverySrvName, scheme)}._tcp.${g.discoverySrv}`;
    try {
      // Go's LookupSRV returns targets with their final dot.
      for (const r of await lookup(name)) urls.push(`${scheme}://${r.name.endsWith('.') ? r.name : `${r.name}.`}:${r.port}`);
    } catch (e) {
      errors.push(lookupError(name, e));
    }
  }
  if (errors.length === 2) throw new CtlExit(ExitCode.Error, `dns lookup errors: ${errors[0]} and ${errors[1]}`);
  let eps = urls;
  if (!g.insecureDiscovery) {
    eps = [];
    for (const u of urls) {
      if (u.startsWith('http://')) err.println(`ignoring discovered insecure endpoint ${JSON.stringify(u)}`);
      else eps.push(u);
    }
  }
  return eps.length > 0 ? eps : g.endpoints;
}

// Lease requests that only the leader (the primary lessor) can answer — keep-alive and
// time-to-live — and MemberPromote, forwarded from a follower to the leader's client URL over gRPC
// (etcd forwards them over its peer port). Over https the follower dials with its own client-port
// TLS: the CAs of --trusted-ca-file and --peer-trusted-ca-file (the peer CA as well, so a client
// port without a trusted CA still works, as etcd's peer-port forward does) and
// --cert-file/--key-file as its client certificate, so the
// leader accepts it under --client-cert-auth (as etcd's own gateway, that certificate must be
// valid for client auth too). The caller's token goes along; without one (a certificate-named
// caller) the leader sees the member's certificate, and the follower checks the caller's
// permissions on the answer itself (services/lease.ts), so a forward is never looser.
import { etcdserverpb } from '@kv/api';
import { credentials, Metadata } from '@grpc/grpc-js';
import { RpcError } from '../errors.js';
import type { Clock } from '../world/clock.js';

/**
 * Metadata on a keep-alive a follower forwards: the receiver answers it from its own lessor or
 * refuses it (NotLeader), never forwards it on (etcd's peer /leases handler does the same).
 */
export const ForwardedRenewKey = 'kv-forwarded-renew';

/** The caller's auth token as metadata: the leader checks the same user (tokens are known to every member). */
function withToken(token: string | undefined): Metadata {
  const md = new Metadata();
  if (token !== undefined) md.set('token', token);
  return md;
}

/** The member's client-port TLS material for dialing the leader's https client URL. */
export interface ForwardTls {
  ca?: Buffer;
  cert?: Buffer;
  key?: Buffer;
}

/**
 * The CAs a member trusts when it dials another member's https client URL (a forward, the
 * dashboard's Status asks): its client-port CA and its peer CA, either or both; none: the
 * system's CAs.
 */
export function memberDialCa(clientCa: Buffer | undefined, peerCa: Buffer | undefined): Buffer | undefined {
  const cas = [clientCa, peerCa].filter((c): c is Buffer => c !== undefined);
  return cas.length === 0 ? undefined : Buffer.concat(cas.flatMap((c) => [c, Buffer.from('\n')]));
}

export class LeaderForwarder {
  private readonly clients = new Map<string, etcdserverpb.LeaseClient>();
  private readonly clusterClients = new Map<string, etcdserverpb.ClusterClient>();

  /**
   * `clock` sets the calls' deadlines (gRPC deadlines are wall-clock times); `tls` gives the
   * client-port TLS material (read when a channel to a leader is made; none: the system's CAs).
   */
  constructor(
    private readonly clock: Clock,
    private readonly tls: () => ForwardTls | undefined = () => undefined,
  ) {}

  private creds(url: string) {
    if (new URL(url).protocol !== 'https:') return credentials.createInsecure();
    const t = this.tls();
    return credentials.createSsl(t?.ca ?? null, t?.key && t.cert ? t.key : null, t?.key && t.cert ? t.cert : null);
  }

  private client(url: string): etcdserverpb.LeaseClient {
    let c = this.clients.get(url);
    if (!c) {
      c = new etcdserverpb.LeaseClient(new URL(url).host, this.creds(url));
      this.clients.set(url, c);
    }
    return c;
  }

  private clusterClient(url: string): etcdserverpb.ClusterClient {
    let c = this.clusterClients.get(url);
    if (!c) {
      c = new etcdserverpb.ClusterClient(new URL(url).host, this.creds(url));
      this.clusterClients.set(url, c);
    }
    return c;
  }

  /** MemberPromote is decided by the leader, which alone knows how far the learner got. */
  promote(
    leaderUrls: string[],
    req: etcdserverpb.MemberPromoteRequest,
    timeoutMs: number,
    token?: string,
  ): Promise<etcdserverpb.MemberPromoteResponse> {
    if (leaderUrls.length === 0) return Promise.reject(new RpcError('NoLeader'));
    return new Promise((resolve, reject) => {
      this.clusterClient(leaderUrls[0]).memberPromote(req, withToken(token), { deadline: this.clock.wallNow() + timeoutMs }, (err, r) =>
        err ? reject(err) : resolve(r),
      );
    });
  }

  async renew(leaderUrls: string[], id: bigint, timeoutMs: number): Promise<bigint> {
    if (leaderUrls.length === 0) throw new RpcError('NoLeader');
    const md = new Metadata();
    md.set(ForwardedRenewKey, '1');
    const stream = this.client(leaderUrls[0]).leaseKeepAlive(md, { deadline: this.clock.wallNow() + timeoutMs });
    try {
      return await new Promise<bigint>((resolve, reject) => {
        stream.once('data', (r: etcdserverpb.LeaseKeepAliveResponse) => {
          if (r.TTL <= 0n) reject(new RpcError('LeaseNotFound'));
          else resolve(r.TTL);
        });
        stream.once('error', reject);
        stream.write({ ID: id });
      });
    } finally {
      stream.end();
      stream.cancel();
    }
  }

  timeToLive(
    leaderUrls: string[],
    req: etcdserverpb.LeaseTimeToLiveRequest,
    timeoutMs: number,
    token?: string,
  ): Promise<etcdserverpb.LeaseTimeToLiveResponse> {
    if (leaderUrls.length === 0) return Promise.reject(new RpcError('NoLeader'));
    return new Promise((resolve, reject) => {
      this.client(leaderUrls[0]).leaseTimeToLive(req, withToken(token), { deadline: this.clock.wallNow() + timeoutMs }, (err, r) =>
        err ? reject(err) : resolve(r),
      );
    });
  }

  close(): void {
    for (const c of [...this.clients.values(), ...this.clusterClients.values()]) c.close();
    this.clients.clear();
    this.clusterClients.clear();
  }
}

// Lease service: grant and revoke go through consensus; keep-alive, time-to-live and list are
// answered by the primary lessor (this member while it leads).
import { etcdserverpb } from '@kv/api';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { RpcError, toServiceError } from '../errors.js';
import { ForwardedRenewKey } from '../cluster/leader_forward.js';
import { tokenOf } from '../auth/tokens.js';
import type { Member } from '../member.js';
import { endStream } from './require_leader.js';
import { unary } from './unary.js';

export function leaseService(m: Member): etcdserverpb.LeaseServer {
  return {
    leaseGrant: unary(async (req: etcdserverpb.LeaseGrantRequest, call) => {
      const r = { ...req };
      // No id given: choose one, positive (as etcd does).
      while (r.ID === 0n) r.ID = m.ids.next() & 0x7fff_ffff_ffff_ffffn;
      // Not permission-checked (etcd), but a bad token fails it.
      return (await m.proposeFull({ leaseGrant: r }, () => m.identity.authInfo(call.metadata))).resp as etcdserverpb.LeaseGrantResponse;
    }),
    leaseRevoke: unary(async (req: etcdserverpb.LeaseRevokeRequest, call) => {
      // Applied with write permission checked on every attached key (auth/apply.ts).
      return (await m.proposeFull({ leaseRevoke: req }, () => m.identity.authInfo(call.metadata))).resp as etcdserverpb.LeaseRevokeResponse;
    }),
    leaseTimeToLive: unary(async (req: etcdserverpb.LeaseTimeToLiveRequest, call) => {
      const ai = m.auth.enabled ? (m.identity.authInfo(call.metadata) ?? { username: '', revision: 0n }) : undefined;
      const resp = await m.leaseTimeToLive(req, tokenOf(call.metadata));
      // keys=true lists the attached keys: each one needs read permission (etcd 3.4 checks none).
      if (ai && req.keys) for (const k of resp.keys) m.auth.checkRead(ai, k);
      return resp;
    }),
    leaseLeases: unary(async () => {
      const resp: etcdserverpb.LeaseLeasesResponse = {
        header: m.header(m.store.currentRev()),
        leases: m.lessor.list().map((l) => ({ ID: l.id })),
      };
      return resp;
    }),
    leaseKeepAlive(stream: ServerDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>) {
      // A follower's forward (cluster/leader_forward.ts) is answered here or refused, not forwarded.
      const forwarded = stream.metadata.get(ForwardedRenewKey).length > 0;
      // etcd answers each request before it reads the next, so a client that half-closes gets
      // every answer first: the stream ends once the client's side has and no renew is pending.
      let pending = 0;
      let clientDone = false;
      const settled = () => {
        pending--;
        if (clientDone && pending === 0 && !stream.writableEnded) stream.end();
      };
      stream.on('data', (req: etcdserverpb.LeaseKeepAliveRequest) => {
        pending++;
        m.renew(req.ID, { forwarded })
          .then(
            (ttl) => {
              // An unknown or expired lease answers TTL 0 on the stream, as etcd does.
              if (!stream.writableEnded) stream.write({ header: m.header(m.store.currentRev()), ID: req.ID, TTL: ttl });
            },
            (err) => {
              if (err instanceof RpcError && err.etcdName === 'LeaseNotFound') {
                if (!stream.writableEnded) stream.write({ header: m.header(m.store.currentRev()), ID: req.ID, TTL: 0n });
                return;
              }
              // Any other failure (e.g. no leader to renew through) ends the stream with its status;
              // destroy(err) would drop the status and leave the client waiting.
              endStream(stream, toServiceError(err));
            },
          )
          .finally(settled);
      });
      stream.on('end', () => {
        clientDone = true;
        if (pending === 0) stream.end();
      });
      stream.on('error', () => undefined);
    },
  };
}

// Cluster service. A single member answers MemberList; membership changes arrive with the
// replicated cluster (they need raft's configuration changes) and are left unimplemented here,
// which grpc-js reports as UNIMPLEMENTED.
import { etcdserverpb } from '@kv/api';
import type { Member } from '../member.js';
import { unary } from './unary.js';

export function clusterService(m: Member): Partial<etcdserverpb.ClusterServer> {
  return {
    memberList: unary(async () => {
      const resp: etcdserverpb.MemberListResponse = {
        header: m.header(m.store.currentRev()),
        members: m.members().map((x) => ({
          ID: x.id,
          name: x.name,
          peerURLs: x.peerUrls,
          clientURLs: x.clientUrls,
          isLearner: false,
        })),
      };
      return resp;
    }),
  };
}

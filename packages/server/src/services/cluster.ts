// Cluster service. A single member answers MemberList; membership changes need raft's
// configuration changes and arrive with the replicated cluster: until then they answer
// UNIMPLEMENTED with a message saying so.
import { etcdserverpb } from '@kv/api';
import { status } from '@grpc/grpc-js';
import type { Member } from '../member.js';
import { unary } from './unary.js';

const notYet = unary(async () => {
  throw Object.assign(new Error('kv: membership changes need the replicated cluster; this kvd runs a single member'), {
    code: status.UNIMPLEMENTED,
  });
});

export function clusterService(m: Member): etcdserverpb.ClusterServer {
  return {
    memberAdd: notYet,
    memberRemove: notYet,
    memberUpdate: notYet,
    memberPromote: notYet,
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

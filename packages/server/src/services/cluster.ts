// Cluster service: membership. A single member (LocalLog) answers MemberList only; membership
// changes need raft's configuration changes and answer UNIMPLEMENTED there. A clustered member
// proposes conf changes (etcd's V1 ConfChange with the member as JSON in its context) and answers
// once the change is applied here.
import { etcdserverpb, raftpb } from '@kv/api';
import { status } from '@grpc/grpc-js';
import { encodeMember } from '../cluster/membership.js';
import { parseUrl } from '../config.js';
import { RpcError } from '../errors.js';
import { computeMemberId } from '../ids.js';
import type { Member } from '../member.js';
import { unary } from './unary.js';

function wireMembers(m: Member): etcdserverpb.Member[] {
  return m.members().map((x) => ({ ID: x.id, name: x.name, peerURLs: x.peerUrls, clientURLs: x.clientUrls, isLearner: x.isLearner ?? false }));
}

function checkUrls(urls: string[]): void {
  if (urls.length === 0) throw new RpcError('MemberBadURLs');
  for (const u of urls) {
    try {
      parseUrl(u, 'peer URL');
    } catch {
      throw new RpcError('MemberBadURLs');
    }
  }
}

function needRaft(m: Member) {
  if (!m.raft) {
    throw Object.assign(new Error('kv: membership changes need the replicated cluster; this kvd runs a single member'), {
      code: status.UNIMPLEMENTED,
    });
  }
  return m.raft;
}

export function clusterService(m: Member): etcdserverpb.ClusterServer {
  const change = async (cc: Omit<raftpb.ConfChange, 'id'>) => {
    const raft = needRaft(m);
    await raft.proposeConfChange({ ...cc, id: m.ids.next() });
  };
  return {
    memberList: unary(async (req: etcdserverpb.MemberListRequest) => {
      if (req.linearizable) await m.consensus.readBarrier();
      return { header: m.header(m.store.currentRev()), members: wireMembers(m) };
    }),
    memberAdd: unary(async (req: etcdserverpb.MemberAddRequest) => {
      needRaft(m);
      checkUrls(req.peerURLs);
      const taken = new Set(m.members().flatMap((x) => x.peerUrls));
      if (req.peerURLs.some((u) => taken.has(u))) throw new RpcError('PeerURLExist');
      const id = computeMemberId(req.peerURLs, m.config.initialClusterToken, Date.now() / 1000);
      if (m.members().some((x) => x.id === id)) throw new RpcError('MemberExist');
      await change({
        type: req.isLearner ? raftpb.ConfChangeType.ConfChangeAddLearnerNode : raftpb.ConfChangeType.ConfChangeAddNode,
        nodeId: id,
        context: encodeMember({ id, name: '', peerURLs: req.peerURLs, clientURLs: [], isLearner: req.isLearner }),
      });
      return {
        header: m.header(m.store.currentRev()),
        member: { ID: id, name: '', peerURLs: req.peerURLs, clientURLs: [], isLearner: req.isLearner },
        members: wireMembers(m),
      };
    }),
    memberRemove: unary(async (req: etcdserverpb.MemberRemoveRequest) => {
      needRaft(m);
      if (!m.members().some((x) => x.id === req.ID)) throw new RpcError('MemberNotFound');
      await change({ type: raftpb.ConfChangeType.ConfChangeRemoveNode, nodeId: req.ID, context: Buffer.alloc(0) });
      return { header: m.header(m.store.currentRev()), members: wireMembers(m) };
    }),
    memberUpdate: unary(async (req: etcdserverpb.MemberUpdateRequest) => {
      needRaft(m);
      checkUrls(req.peerURLs);
      const cur = m.members().find((x) => x.id === req.ID);
      if (!cur) throw new RpcError('MemberNotFound');
      const taken = new Set(m.members().filter((x) => x.id !== req.ID).flatMap((x) => x.peerUrls));
      if (req.peerURLs.some((u) => taken.has(u))) throw new RpcError('PeerURLExist');
      await change({
        type: raftpb.ConfChangeType.ConfChangeUpdateNode,
        nodeId: req.ID,
        context: encodeMember({ id: req.ID, name: cur.name, peerURLs: req.peerURLs, clientURLs: cur.clientUrls, isLearner: cur.isLearner ?? false }),
      });
      return { header: m.header(m.store.currentRev()), members: wireMembers(m) };
    }),
    memberPromote: unary(async (req: etcdserverpb.MemberPromoteRequest) => {
      const raft = needRaft(m);
      const cur = m.members().find((x) => x.id === req.ID);
      if (!cur) throw new RpcError('MemberNotFound');
      if (!cur.isLearner) throw new RpcError('MemberNotLearner');
      if (!raft.learnerReady(req.ID)) throw new RpcError('LearnerNotReady');
      await change({
        type: raftpb.ConfChangeType.ConfChangeAddNode,
        nodeId: req.ID,
        context: encodeMember({ id: req.ID, name: cur.name, peerURLs: cur.peerUrls, clientURLs: cur.clientUrls, isLearner: false }),
      });
      return { header: m.header(m.store.currentRev()), members: wireMembers(m) };
    }),
  };
}

// Cluster service: membership. Changes are proposed as raft conf changes (etcd's V1 ConfChange
// with the member as JSON in its context) and answered once the change is applied here.
import { etcdserverpb, raftpb } from '@kv/api';
import { encodeMember } from '../cluster/membership.js';
import { parseUrl } from '../config.js';
import { RpcError } from '../errors.js';
import { computeMemberId } from '../ids.js';
import type { Member } from '../member.js';
import { unary } from './unary.js';

function wireMembers(m: Member): etcdserverpb.Member[] {
  return m
    .members()
    .map((x) => ({ ID: x.id, name: x.name, peerURLs: x.peerUrls, clientURLs: x.clientUrls, isLearner: x.isLearner ?? false }));
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

/** Proposes a membership change with a fresh id and waits until it is applied here. */
async function change(m: Member, cc: Omit<raftpb.ConfChange, 'id'>): Promise<void> {
  await m.consensus.proposeConfChange({ ...cc, id: m.ids.next() });
}

/**
 * MemberPromote, decided by the leader, which alone knows how far the learner got: a follower
 * forwards it there (the member's peer network), the leader checks and proposes it.
 */
export async function promoteMember(m: Member, req: etcdserverpb.MemberPromoteRequest): Promise<etcdserverpb.MemberPromoteResponse> {
  await m.consensus.waitLeader();
  if (!m.consensus.isLeader()) {
    const r = await m.forwardPromote(req);
    return { ...r, header: m.header(m.store.currentRev()) };
  }
  const cur = m.members().find((x) => x.id === req.ID);
  if (!cur) throw new RpcError('MemberNotFound');
  if (!cur.isLearner) throw new RpcError('MemberNotLearner');
  if (!m.consensus.learnerReady(req.ID)) throw new RpcError('LearnerNotReady');
  await change(m, {
    type: raftpb.ConfChangeType.ConfChangeAddNode,
    nodeId: req.ID,
    context: encodeMember({ id: req.ID, name: cur.name, peerURLs: cur.peerUrls, clientURLs: cur.clientUrls, isLearner: false }),
  });
  return { header: m.header(m.store.currentRev()), members: wireMembers(m) };
}

export function clusterService(m: Member): etcdserverpb.ClusterServer {
  return {
    memberList: unary(async (req: etcdserverpb.MemberListRequest) => {
      if (req.linearizable) await m.consensus.readBarrier();
      return { header: m.header(m.store.currentRev()), members: wireMembers(m) };
    }),
    memberAdd: unary(async (req: etcdserverpb.MemberAddRequest) => {
      checkUrls(req.peerURLs);
      const taken = new Set(m.members().flatMap((x) => x.peerUrls));
      if (req.peerURLs.some((u) => taken.has(u))) throw new RpcError('PeerURLExist');
      const id = computeMemberId(req.peerURLs, m.config.initialClusterToken, m.clock.wallNow() / 1000);
      if (m.members().some((x) => x.id === id)) throw new RpcError('MemberExist');
      await change(m, {
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
      if (!m.members().some((x) => x.id === req.ID)) throw new RpcError('MemberNotFound');
      await change(m, { type: raftpb.ConfChangeType.ConfChangeRemoveNode, nodeId: req.ID, context: Buffer.alloc(0) });
      return { header: m.header(m.store.currentRev()), members: wireMembers(m) };
    }),
    memberUpdate: unary(async (req: etcdserverpb.MemberUpdateRequest) => {
      // etcd answers an unknown member first. It takes any URLs for a known one; kv refuses
      // URLs it could not dial (deliberately stricter: a member with a bad peer URL is lost).
      const cur = m.members().find((x) => x.id === req.ID);
      if (!cur) throw new RpcError('MemberNotFound');
      checkUrls(req.peerURLs);
      const taken = new Set(
        m
          .members()
          .filter((x) => x.id !== req.ID)
          .flatMap((x) => x.peerUrls),
      );
      if (req.peerURLs.some((u) => taken.has(u))) throw new RpcError('PeerURLExist');
      await change(m, {
        type: raftpb.ConfChangeType.ConfChangeUpdateNode,
        nodeId: req.ID,
        context: encodeMember({
          id: req.ID,
          name: cur.name,
          peerURLs: req.peerURLs,
          clientURLs: cur.clientUrls,
          isLearner: cur.isLearner ?? false,
        }),
      });
      return { header: m.header(m.store.currentRev()), members: wireMembers(m) };
    }),
    memberPromote: unary((req: etcdserverpb.MemberPromoteRequest) => promoteMember(m, req)),
  };
}

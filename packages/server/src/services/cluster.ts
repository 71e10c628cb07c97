// Cluster service: membership. Changes are proposed as raft conf changes (etcd's V1 ConfChange
// with the member as JSON in its context) and answered once the change is applied here.
import { etcdserverpb, raftpb } from '@kv/api';
import { encodeMember } from '../cluster/membership.js';
import { checkReconfig, type ReconfigChange } from '../cluster/reconfig_check.js';
import { parseUrl } from '../config.js';
import { RpcError } from '../errors.js';
import { computeMemberId } from '../ids.js';
import { tokenOf } from '../auth/tokens.js';
import type { Member } from '../member.js';
import { unary } from './unary.js';

/** etcd 3.4's ClusterServer.header(): cluster, member and term, no revision (membership is not in the MVCC store). */
function clusterHeader(m: Member): etcdserverpb.ResponseHeader {
  return { ...m.header(0n), revision: 0n };
}

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

/**
 * --strict-reconfig-check: refuses, with etcd's error, a change that would cost the cluster its
 * quorum, judged from this member's membership and peer connections (cluster/reconfig_check.ts).
 */
function mayReconfigure(m: Member, change: ReconfigChange): void {
  if (!m.config.strictReconfigCheck) return;
  // A network that cannot tell whom it reaches counts every peer as connected long enough.
  const activeSince = m.network.activeSince ? (id: bigint) => m.network.activeSince!(id) : () => Number.NEGATIVE_INFINITY;
  const refusal = checkReconfig(
    {
      self: m.memberId,
      members: m.members().map((x) => ({ id: x.id, name: x.name, isLearner: x.isLearner ?? false })),
      activeSince,
      now: m.clock.now(),
    },
    change,
  );
  if (refusal === undefined) return;
  const what = change.kind === 'add' ? `add (learner: ${change.isLearner})` : `${change.kind} ${change.id.toString(16)}`;
  m.logger.warn(
    { 'requested-change': what, error: refusal === 'Unhealthy' ? 'unhealthy cluster' : 'not enough started members' },
    refusal === 'Unhealthy'
      ? `rejecting member ${change.kind} request; local member has not been connected to all peers, reconfigure breaks active quorum`
      : `rejecting member ${change.kind} request; not enough healthy members`,
  );
  throw new RpcError(refusal);
}

/** Proposes a membership change with a fresh id and waits until it is applied here. */
async function change(m: Member, cc: Omit<raftpb.ConfChange, 'id'>): Promise<void> {
  await m.consensus.proposeConfChange({ ...cc, id: m.ids.next() });
}

/**
 * MemberPromote, decided by the leader, which alone knows how far the learner got: a follower
 * forwards it there (the member's peer network), the leader checks and proposes it.
 */
export async function promoteMember(
  m: Member,
  req: etcdserverpb.MemberPromoteRequest,
  token?: string,
): Promise<etcdserverpb.MemberPromoteResponse> {
  await m.consensus.waitLeader();
  if (!m.consensus.isLeader()) {
    // The caller's token goes along: the leader's root-only gate checks the same user.
    const r = await m.forwardPromote(req, token);
    return { ...r, header: clusterHeader(m) };
  }
  const cur = m.members().find((x) => x.id === req.ID);
  if (!cur) throw new RpcError('MemberNotFound');
  if (!cur.isLearner) throw new RpcError('MemberNotLearner');
  if (!m.consensus.learnerReady(req.ID)) throw new RpcError('LearnerNotReady');
  mayReconfigure(m, { kind: 'promote', id: req.ID });
  await change(m, {
    type: raftpb.ConfChangeType.ConfChangeAddNode,
    nodeId: req.ID,
    context: encodeMember({ id: req.ID, name: cur.name, peerURLs: cur.peerUrls, clientURLs: cur.clientUrls, isLearner: false }),
  });
  return { header: clusterHeader(m), members: wireMembers(m) };
}

export function clusterService(m: Member): etcdserverpb.ClusterServer {
  return {
    memberList: unary(async (req: etcdserverpb.MemberListRequest) => {
      if (req.linearizable) await m.consensus.readBarrier();
      return { header: clusterHeader(m), members: wireMembers(m) };
    }),
    memberAdd: unary(async (req: etcdserverpb.MemberAddRequest) => {
      checkUrls(req.peerURLs);
      // etcd's order: the URLs parse, then the strict check, then the change is validated.
      mayReconfigure(m, { kind: 'add', isLearner: req.isLearner });
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
        header: clusterHeader(m),
        member: { ID: id, name: '', peerURLs: req.peerURLs, clientURLs: [], isLearner: req.isLearner },
        members: wireMembers(m),
      };
    }),
    memberRemove: unary(async (req: etcdserverpb.MemberRemoveRequest) => {
      mayReconfigure(m, { kind: 'remove', id: req.ID });
      if (!m.members().some((x) => x.id === req.ID)) throw new RpcError('MemberNotFound');
      await change(m, { type: raftpb.ConfChangeType.ConfChangeRemoveNode, nodeId: req.ID, context: Buffer.alloc(0) });
      return { header: clusterHeader(m), members: wireMembers(m) };
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
      return { header: clusterHeader(m), members: wireMembers(m) };
    }),
    memberPromote: unary((req: etcdserverpb.MemberPromoteRequest, call) => promoteMember(m, req, tokenOf(call.metadata))),
  };
}

// Leadership transfer (thesis §3.10): the leader brings the transferee up to date, sends it
// MsgTimeoutNow, and the transferee campaigns at once (overriding leases, skipping pre-vote).
// Proposals are refused meanwhile; the transfer is abandoned after an election timeout.

import { describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { ErrProposalDropped } from './errors.js';
import { None, RaftState } from './state.js';
import { confChangeAsV2, newEntry, newMessage } from './util.js';
import { nextEnts } from './rafttest/helpers.js';
import { Network } from './rafttest/network.js';
import type { Raft } from './raft.js';

const MT = raftpb.MessageType;
const msg = newMessage;
const hup = (id: bigint) => msg({ from: id, to: id, type: MT.MsgHup });
const transfer = (from: bigint, to: bigint) => msg({ from, to, type: MT.MsgTransferLeader });
const emptyProp = () => msg({ from: 1n, to: 1n, type: MT.MsgProp, entries: [newEntry()] });

function check(r: Raft, state: RaftState, lead: bigint): void {
  expect([r.state, r.lead, r.leadTransferee]).toEqual([state, lead, None]);
}

function elected(extra = {}): Network {
  const n = new Network([null, null, null], extra);
  n.send(hup(1n));
  expect(n.raft(1).lead).toBe(1n);
  return n;
}

describe('§3.10 leadership transfer', () => {
  it('to an up-to-date node, and back', () => {
    const n = elected();
    n.send(transfer(2n, 1n));
    check(n.raft(1), RaftState.Follower, 2n);
    n.send(emptyProp());
    n.send(transfer(1n, 2n));
    check(n.raft(1), RaftState.Leader, 1n);
  });

  it('requested on a follower is forwarded to the leader', () => {
    const n = elected();
    n.send(transfer(2n, 2n));
    check(n.raft(1), RaftState.Follower, 2n);
    n.send(emptyProp());
    n.send(transfer(1n, 1n));
    check(n.raft(1), RaftState.Leader, 1n);
  });

  it('works with check quorum (MsgTimeoutNow campaigns override leases)', () => {
    const n = new Network([null, null, null], { checkQuorum: true });
    for (let i = 1; i <= 3; i++) n.raft(i).randomizedElectionTimeout = n.raft(i).electionTimeout + i;
    const f = n.raft(2);
    for (let i = 0; i < f.electionTimeout; i++) f.tick();
    n.send(hup(1n));
    n.send(transfer(2n, 1n));
    check(n.raft(1), RaftState.Follower, 2n);
    n.send(emptyProp());
    n.send(transfer(1n, 2n));
    check(n.raft(1), RaftState.Leader, 1n);
  });

  it('uses MsgTimeoutNow and no pre-vote, even when pre-vote is on', () => {
    const n = elected({ preVote: true });
    const seen: raftpb.MessageType[] = [];
    n.msgHook = (m) => {
      seen.push(m.type);
      return true;
    };
    n.send(transfer(3n, 1n));
    check(n.raft(1), RaftState.Follower, 3n);
    expect(seen).toContain(MT.MsgTimeoutNow);
    expect(seen).not.toContain(MT.MsgPreVote);
  });

  it('to a slow follower: it is caught up first', () => {
    const n = elected();
    n.isolate(3n);
    n.send(emptyProp());
    n.recover();
    expect(n.raft(1).prs.progress.get(3n)!.match).toBe(1n);
    n.send(transfer(3n, 1n));
    check(n.raft(1), RaftState.Follower, 3n);
  });

  it('to a follower that needs a snapshot', () => {
    const n = elected();
    n.isolate(3n);
    n.send(emptyProp());
    const lead = n.raft(1);
    const st = n.storage.get(1n)!;
    nextEnts(lead, st);
    st.createSnapshot(
      lead.raftLog.applied,
      { voters: lead.prs.voterNodes(), learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false },
      Buffer.alloc(0),
    );
    st.compact(lead.raftLog.applied);
    n.recover();
    expect(lead.prs.progress.get(3n)!.match).toBe(1n);
    n.send(transfer(3n, 1n));
    // The snapshot is sent on the heartbeat response; the follower then catches up.
    n.send(msg({ from: 3n, to: 1n, type: MT.MsgHeartbeatResp }));
    check(lead, RaftState.Follower, 3n);
  });

  it('to self or to a non-member is ignored', () => {
    const n = elected();
    n.send(transfer(1n, 1n));
    check(n.raft(1), RaftState.Leader, 1n);
    n.send(transfer(4n, 1n));
    check(n.raft(1), RaftState.Leader, 1n);
  });

  it('is abandoned after an election timeout', () => {
    const n = elected();
    n.isolate(3n);
    const lead = n.raft(1);
    n.send(transfer(3n, 1n));
    expect(lead.leadTransferee).toBe(3n);
    for (let i = 0; i < lead.heartbeatTimeout; i++) lead.tick();
    expect(lead.leadTransferee).toBe(3n);
    for (let i = 0; i < lead.electionTimeout - lead.heartbeatTimeout; i++) lead.tick();
    check(lead, RaftState.Leader, 1n);
  });

  it('proposals are dropped while transferring', () => {
    const n = elected();
    n.isolate(3n);
    const lead = n.raft(1);
    n.send(transfer(3n, 1n));
    expect(lead.leadTransferee).toBe(3n);
    expect(() => lead.step(emptyProp())).toThrow(ErrProposalDropped);
    expect(lead.prs.progress.get(1n)!.match).toBe(1n);
  });

  it('a higher-term election during the transfer wins', () => {
    const n = elected();
    n.isolate(3n);
    const lead = n.raft(1);
    n.send(transfer(3n, 1n));
    n.send(msg({ from: 2n, to: 2n, type: MT.MsgHup, index: 1n, term: 2n }));
    check(lead, RaftState.Follower, 2n);
  });

  it('is aborted when the transferee is removed', () => {
    const n = elected();
    n.ignore(MT.MsgTimeoutNow);
    const lead = n.raft(1);
    n.send(transfer(3n, 1n));
    expect(lead.leadTransferee).toBe(3n);
    lead.applyConfChange(
      confChangeAsV2({ type: raftpb.ConfChangeType.ConfChangeRemoveNode, nodeId: 3n, context: Buffer.alloc(0), id: 0n }),
    );
    check(lead, RaftState.Leader, 1n);
  });

  it('transferring back to the leader cancels', () => {
    const n = elected();
    n.isolate(3n);
    n.send(transfer(3n, 1n));
    n.send(transfer(1n, 1n));
    check(n.raft(1), RaftState.Leader, 1n);
  });

  it('a second transfer to another node replaces the first', () => {
    const n = elected();
    n.isolate(3n);
    n.send(transfer(3n, 1n));
    n.send(transfer(2n, 1n));
    check(n.raft(1), RaftState.Follower, 2n);
  });

  it('repeating the transfer to the same node does not extend its deadline', () => {
    const n = elected();
    n.isolate(3n);
    const lead = n.raft(1);
    n.send(transfer(3n, 1n));
    for (let i = 0; i < lead.heartbeatTimeout; i++) lead.tick();
    n.send(transfer(3n, 1n));
    for (let i = 0; i < lead.electionTimeout - lead.heartbeatTimeout; i++) lead.tick();
    check(lead, RaftState.Leader, 1n);
  });

  it('a learner cannot become the transferee', () => {
    const n = elected();
    const lead = n.raft(1);
    lead.applyConfChange(
      confChangeAsV2({ type: raftpb.ConfChangeType.ConfChangeAddLearnerNode, nodeId: 4n, context: Buffer.alloc(0), id: 0n }),
    );
    lead.msgs = [];
    lead.step(transfer(4n, 1n));
    check(lead, RaftState.Leader, 1n);
  });
});

// Membership changes (§6 of the paper; thesis §4): one pending change at a time, single-step
// changes, joint consensus (enter / auto-leave / explicit leave), learners and their promotion,
// and a removed node that stops campaigning.

import { describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { ConfChangeError } from './confchange/index.js';
import { MemoryStorage } from './storage.js';
import { None, RaftState } from './state.js';
import { Raft } from './raft.js';
import { confChangeAsV2, emptyConfState, marshalConfChange, newEntry, newMessage } from './util.js';
import { nextEnts, readMessages } from './rafttest/helpers.js';
import { Network, newTestLearnerRaft, newTestRaft, type PeerFactory } from './rafttest/network.js';

const MT = raftpb.MessageType;
const CT = raftpb.ConfChangeType;
const msg = newMessage;
const hup = (id: bigint) => msg({ from: id, to: id, type: MT.MsgHup });
const cc1 = (type: raftpb.ConfChangeType, nodeId: bigint): raftpb.ConfChange => ({ type, nodeId, context: Buffer.alloc(0), id: 0n });
const v2 = (type: raftpb.ConfChangeType, nodeId: bigint) => confChangeAsV2(cc1(type, nodeId));
function ccv2(
  changes: [raftpb.ConfChangeType, bigint][],
  transition = raftpb.ConfChangeTransition.ConfChangeTransitionAuto,
): raftpb.ConfChangeV2 {
  return { transition, changes: changes.map(([type, nodeId]) => ({ type, nodeId })), context: Buffer.alloc(0) };
}
function propCC(cc: raftpb.ConfChange | raftpb.ConfChangeV2, id = 1n): raftpb.Message {
  const { type, data } = marshalConfChange(cc);
  return msg({ from: id, to: id, type: MT.MsgProp, entries: [newEntry({ Type: type, Data: data })] });
}

function leader(peers: bigint[], storage = new MemoryStorage()): Raft {
  const r = newTestRaft(1n, peers, 10, 1, storage);
  r.becomeCandidate();
  r.becomeLeader();
  return r;
}

describe('§6 one configuration change at a time', () => {
  it('a proposed conf change becomes pending', () => {
    const r = leader([1n, 2n]);
    const index = r.raftLog.lastIndex();
    r.step(msg({ from: 1n, to: 1n, type: MT.MsgProp, entries: [newEntry({ Type: raftpb.EntryType.EntryConfChange })] }));
    expect(r.raftLog.lastIndex()).toBe(index + 1n);
    expect(r.pendingConfIndex).toBe(index + 1n);
  });

  it('a second conf change while one is pending is replaced by an empty normal entry', () => {
    const r = leader([1n, 2n]);
    r.step(msg({ from: 1n, to: 1n, type: MT.MsgProp, entries: [newEntry({ Type: raftpb.EntryType.EntryConfChange })] }));
    const index = r.raftLog.lastIndex();
    const pending = r.pendingConfIndex;
    r.step(msg({ from: 1n, to: 1n, type: MT.MsgProp, entries: [newEntry({ Type: raftpb.EntryType.EntryConfChange })] }));
    expect(r.raftLog.entries(index + 1n, 1000n)).toEqual([newEntry({ Term: 1n, Index: 3n })]);
    expect(r.pendingConfIndex).toBe(pending);
  });

  it('a new leader treats its whole unapplied log as possibly holding a conf change', () => {
    for (const [addEntry, want] of [
      [false, 0n],
      [true, 1n],
    ] as const) {
      const r = newTestRaft(1n, [1n, 2n], 10, 1, new MemoryStorage());
      if (addEntry) r.appendEntry([newEntry()]);
      r.becomeCandidate();
      r.becomeLeader();
      expect(r.pendingConfIndex).toBe(want);
    }
  });

  it('a follower with committed but unapplied conf changes does not campaign', () => {
    const st = new MemoryStorage();
    const { type, data } = marshalConfChange(cc1(CT.ConfChangeAddNode, 4n));
    st.append([newEntry({ Index: 1n, Term: 1n, Type: type, Data: data })]);
    st.setHardState({ term: 1n, vote: 0n, commit: 1n });
    const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, st);
    r.step(hup(1n));
    expect(r.state).toBe(RaftState.Follower);
    r.raftLog.appliedTo(1n);
    r.step(hup(1n));
    expect(r.state).toBe(RaftState.Candidate);
  });
});

describe('§6 single-step changes', () => {
  it('adds a voter', () => {
    const r = newTestRaft(1n, [1n], 10, 1, new MemoryStorage());
    r.applyConfChange(v2(CT.ConfChangeAddNode, 2n));
    expect(r.prs.voterNodes()).toEqual([1n, 2n]);
  });

  it('adds a learner, promotes it, and can demote/promote ourselves', () => {
    const r = newTestRaft(1n, [1n], 10, 1, new MemoryStorage());
    r.applyConfChange(v2(CT.ConfChangeAddLearnerNode, 2n));
    expect(r.isLearner).toBe(false);
    expect(r.prs.learnerNodes()).toEqual([2n]);
    expect(r.prs.progress.get(2n)!.isLearner).toBe(true);
    r.applyConfChange(v2(CT.ConfChangeAddNode, 2n));
    expect(r.prs.progress.get(2n)!.isLearner).toBe(false);
    r.applyConfChange(v2(CT.ConfChangeAddLearnerNode, 1n));
    expect(r.prs.progress.get(1n)!.isLearner).toBe(true);
    expect(r.isLearner).toBe(true);
    r.applyConfChange(v2(CT.ConfChangeAddNode, 1n));
    expect(r.isLearner).toBe(false);
  });

  it('removes a voter; removing the last voter is refused', () => {
    const r = newTestRaft(1n, [1n, 2n], 10, 1, new MemoryStorage());
    r.applyConfChange(v2(CT.ConfChangeRemoveNode, 2n));
    expect(r.prs.voterNodes()).toEqual([1n]);
    expect(() => r.applyConfChange(v2(CT.ConfChangeRemoveNode, 1n))).toThrow(ConfChangeError);
  });

  it('removes a learner', () => {
    const r = newTestLearnerRaft(1n, [1n], [2n], 10, 1, new MemoryStorage());
    r.applyConfChange(v2(CT.ConfChangeRemoveNode, 2n));
    expect(r.prs.voterNodes()).toEqual([1n]);
    expect(r.prs.learnerNodes()).toEqual([]);
  });

  it('promotable iff a voter in the configuration', () => {
    for (const [peers, want] of [
      [[1n], true],
      [[1n, 2n, 3n], true],
      [[], false],
      [[2n, 3n], false],
    ] as const) {
      expect(newTestRaft(1n, [...peers], 5, 1, new MemoryStorage()).promotable()).toBe(want);
    }
  });

  it('voter ids are reported sorted', () => {
    expect(newTestRaft(1n, [3n, 2n, 1n], 10, 1, new MemoryStorage()).prs.voterNodes()).toEqual([1n, 2n, 3n]);
  });

  it('removing a node can commit entries that were waiting for it', () => {
    const s = new MemoryStorage();
    const r = newTestRaft(1n, [1n, 2n], 5, 1, s);
    r.becomeCandidate();
    r.becomeLeader();
    const cc = cc1(CT.ConfChangeRemoveNode, 2n);
    r.step(propCC(cc));
    expect(nextEnts(r, s)).toEqual([]);
    const ccIndex = r.raftLog.lastIndex();
    r.step(msg({ from: 1n, type: MT.MsgProp, entries: [newEntry({ Data: Buffer.from('hello') })] }));
    r.step(msg({ type: MT.MsgAppResp, from: 2n, index: ccIndex }));
    const ents = nextEnts(r, s);
    expect(ents.map((e) => [e.Type, e.Data.toString()])).toEqual([
      [raftpb.EntryType.EntryNormal, ''],
      [raftpb.EntryType.EntryConfChange, Buffer.from(raftpb.ConfChange.encode(cc).finish()).toString()],
    ]);
    // Applying the removal leaves a single voter: "hello" commits at once.
    r.applyConfChange(confChangeAsV2(cc));
    expect(nextEnts(r, s).map((e) => e.Data.toString())).toEqual(['hello']);
  });

  it('a promoted learner can campaign and win', () => {
    const mk: PeerFactory = (id) => newTestLearnerRaft(id, [1n], [2n], 10, 1, new MemoryStorage());
    const n = new Network([mk, mk]);
    const [n1, n2] = [n.raft(1), n.raft(2)];
    n1.becomeFollower(1n, None);
    n2.becomeFollower(1n, None);
    n1.randomizedElectionTimeout = n1.electionTimeout;
    for (let i = 0; i < n1.electionTimeout; i++) n1.tick();
    expect(n1.state).toBe(RaftState.Leader);
    expect(n2.state).toBe(RaftState.Follower);
    n.send(msg({ from: 1n, to: 1n, type: MT.MsgBeat }));
    n1.applyConfChange(v2(CT.ConfChangeAddNode, 2n));
    n2.applyConfChange(v2(CT.ConfChangeAddNode, 2n));
    expect(n2.isLearner).toBe(false);
    n2.randomizedElectionTimeout = n2.electionTimeout;
    for (let i = 0; i < n2.electionTimeout; i++) n2.tick();
    n.send(msg({ from: 2n, to: 2n, type: MT.MsgBeat }));
    expect(n1.state).toBe(RaftState.Follower);
    expect(n2.state).toBe(RaftState.Leader);
  });

  it('a removed node stops campaigning', () => {
    const r = newTestRaft(2n, [1n, 2n, 3n], 10, 1, new MemoryStorage());
    r.applyConfChange(v2(CT.ConfChangeRemoveNode, 2n));
    expect(r.promotable()).toBe(false);
    for (let i = 0; i < 10 * r.electionTimeout; i++) r.tick();
    expect(r.state).toBe(RaftState.Follower);
    expect(r.term).toBe(0n);
    expect(readMessages(r)).toEqual([]);
  });

  it('a leader that removed itself takes no more proposals', () => {
    const r = leader([1n, 2n]);
    r.applyConfChange(v2(CT.ConfChangeRemoveNode, 1n));
    expect(() => r.step(msg({ from: 1n, to: 1n, type: MT.MsgProp, entries: [newEntry()] }))).toThrow(/dropped/);
  });
});

describe('§6 joint consensus (thesis §4.3)', () => {
  /** A leader of (1 2 3) with everything committed and applied, plus a network to followers. */
  function jointSetup() {
    const n = new Network([null, null, null]);
    n.send(hup(1n));
    const lead = n.raft(1);
    for (const id of [1n, 2n, 3n]) nextEnts(n.raft(id), n.storage.get(id)!);
    return { n, lead };
  }

  /** Applies committed conf changes on every node, as the application would. */
  function applyAll(n: Network): void {
    for (const id of [1n, 2n, 3n]) {
      const r = n.raft(id);
      const st = n.storage.get(id)!;
      st.append(r.raftLog.unstableEntries());
      r.raftLog.stableTo(r.raftLog.lastIndex(), r.raftLog.lastTerm());
      const ents = r.raftLog.nextEnts();
      for (const e of ents) {
        if (e.Type === raftpb.EntryType.EntryConfChangeV2) r.applyConfChange(raftpb.ConfChangeV2.decode(e.Data));
      }
      if (ents.length > 0) {
        r.advance({ appliedIndex: ents[ents.length - 1].Index, committedEntries: ents, stableSnapIndex: 0n });
      }
      // advance may have proposed (leader auto-leave): deliver.
      n.send(...n.filter(readMessages(r)));
    }
  }

  it('enter joint with auto-leave: the leader leaves the joint config by itself', () => {
    const { n, lead } = jointSetup();
    n.send(
      propCC(
        ccv2([
          [CT.ConfChangeAddLearnerNode, 3n],
          [CT.ConfChangeRemoveNode, 2n],
        ]),
      ),
    );
    applyAll(n);
    expect(lead.prs.config.voters.isJoint()).toBe(true);
    expect(lead.prs.config.autoLeave).toBe(true);
    expect(lead.prs.config.toString()).toBe('voters=(1)&&(1 2 3) learners_next=(3) autoleave');
    // Applying the joint entry made the leader propose the empty ConfChangeV2; once it commits
    // and is applied, the configuration is simple again.
    applyAll(n);
    expect(lead.prs.config.voters.isJoint()).toBe(false);
    expect(lead.prs.config.toString()).toBe('voters=(1) learners=(3)');
    expect(n.raft(3).isLearner).toBe(true);
    // 3 is still on the leader's config after leaving (as a learner); 2 is gone.
    expect([...lead.prs.progress.keys()].sort()).toEqual([1n, 3n]);
  });

  it('explicit joint: a new change is refused until the joint config is left by an empty change', () => {
    const { n, lead } = jointSetup();
    n.send(propCC(ccv2([[CT.ConfChangeAddNode, 4n]], raftpb.ConfChangeTransition.ConfChangeTransitionJointExplicit)));
    applyAll(n);
    expect(lead.prs.config.toString()).toBe('voters=(1 2 3 4)&&(1 2 3)');
    applyAll(n);
    // No automatic leave.
    expect(lead.prs.config.voters.isJoint()).toBe(true);
    // Another change is neutralized.
    const before = lead.raftLog.lastIndex();
    n.send(propCC(ccv2([[CT.ConfChangeAddNode, 5n]])));
    const ent = lead.raftLog.entries(before + 1n, 1000n)[0];
    expect(ent.Type).toBe(raftpb.EntryType.EntryNormal);
    applyAll(n);
    // The empty change leaves.
    n.send(propCC(ccv2([])));
    applyAll(n);
    expect(lead.prs.config.toString()).toBe('voters=(1 2 3 4)');
  });

  it('an empty conf change outside a joint config is neutralized', () => {
    const { n, lead } = jointSetup();
    const before = lead.raftLog.lastIndex();
    n.send(propCC(ccv2([])));
    expect(lead.raftLog.entries(before + 1n, 1000n)[0].Type).toBe(raftpb.EntryType.EntryNormal);
  });

  it('while joint, commitment needs majorities of both halves', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, new MemoryStorage());
    r.applyConfChange(
      ccv2([
        [CT.ConfChangeAddNode, 4n],
        [CT.ConfChangeAddNode, 5n],
        [CT.ConfChangeRemoveNode, 3n],
      ]),
    );
    expect(r.prs.config.toString()).toBe('voters=(1 2 4 5)&&(1 2 3) autoleave');
    r.becomeCandidate();
    r.becomeLeader();
    const li = r.raftLog.lastIndex();
    readMessages(r);
    // 1 and 2 are a majority of the old config but not of the new one (4 voters).
    r.step(msg({ from: 2n, type: MT.MsgAppResp, index: li, term: r.term }));
    expect(r.raftLog.committed).toBe(0n);
    r.step(msg({ from: 4n, type: MT.MsgAppResp, index: li, term: r.term }));
    expect(r.raftLog.committed).toBe(li);
  });

  it('a node restarted from a joint ConfState is joint', () => {
    const st = new MemoryStorage();
    st.applySnapshot({
      data: Buffer.alloc(0),
      metadata: {
        index: 5n,
        term: 1n,
        confState: { ...emptyConfState(), voters: [1n, 2n, 4n], votersOutgoing: [1n, 2n, 3n], autoLeave: true },
      },
    });
    const r = new Raft({ id: 1n, electionTick: 10, heartbeatTick: 1, storage: st });
    expect(r.prs.config.toString()).toBe('voters=(1 2 4)&&(1 2 3) autoleave');
    expect(r.raftLog.committed).toBe(5n);
  });
});

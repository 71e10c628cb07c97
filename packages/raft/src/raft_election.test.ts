// Elections beyond the basic paper rules: network-level elections (§5.2, §5.4.1), pre-vote
// (thesis §9.6) and check-quorum / leader leases (thesis §6.2 / §4.2.3 disruptive servers).

import { describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { MemoryStorage } from './storage.js';
import { None, RaftState } from './state.js';
import { newEntry, newMessage } from './util.js';
import { readMessages } from './rafttest/helpers.js';
import { BlackHole, entsWithConfig, Network, newTestLearnerRaft, newTestRaft, votedWithConfig, type PeerSpec } from './rafttest/network.js';
import { CampaignType, type Config } from './raft.js';

const MT = raftpb.MessageType;
const msg = newMessage;
const hup = (id: bigint) => msg({ from: id, to: id, type: MT.MsgHup });
const prop = (id: bigint, data = 'somedata') =>
  msg({ from: id, to: id, type: MT.MsgProp, entries: [newEntry({ Data: Buffer.from(data) })] });
const nop = () => new BlackHole();

describe('§5.2 elections over a network', () => {
  for (const preVote of [false, true]) {
    it(`elects a leader iff a quorum answers${preVote ? ' (pre-vote)' : ''}`, () => {
      const cfg: Partial<Config> = { preVote };
      const candState = preVote ? RaftState.PreCandidate : RaftState.Candidate;
      const candTerm = preVote ? 0n : 1n;
      const cases: [PeerSpec[], RaftState, bigint][] = [
        [[null, null, null], RaftState.Leader, 1n],
        [[null, null, nop()], RaftState.Leader, 1n],
        [[null, nop(), nop()], candState, candTerm],
        [[null, nop(), nop(), null], candState, candTerm],
        [[null, nop(), nop(), null, null], RaftState.Leader, 1n],
        // Three logs further along than node 1, in the same term: rejections, not silence.
        [[null, entsWithConfig(cfg, 1), entsWithConfig(cfg, 1), entsWithConfig(cfg, 1, 1), null], RaftState.Follower, 1n],
      ];
      for (const [specs, state, term] of cases) {
        const n = new Network(specs, cfg);
        n.send(hup(1n));
        expect(n.raft(1).state).toBe(state);
        expect(n.raft(1).term).toBe(term);
      }
    });

    it(`a newer uncommitted entry can be overwritten by the elected leader's${preVote ? ' (pre-vote)' : ''}`, () => {
      const cfg: Partial<Config> = { preVote };
      // 1 won term 1 and replicated to 2; 3 won term 2 but replicated nothing; 4 and 5 voted in 2.
      const n = new Network([
        entsWithConfig(cfg, 1),
        entsWithConfig(cfg, 1),
        entsWithConfig(cfg, 2),
        votedWithConfig(cfg, 3n, 2n),
        votedWithConfig(cfg, 3n, 2n),
      ]);
      // A quorum knows term 2: node 1 fails but learns the term.
      n.send(hup(1n));
      expect(n.raft(1).state).toBe(RaftState.Follower);
      expect(n.raft(1).term).toBe(2n);
      n.send(hup(1n));
      expect(n.raft(1).state).toBe(RaftState.Leader);
      expect(n.raft(1).term).toBe(3n);
      for (let id = 1; id <= 5; id++) {
        expect(
          n
            .raft(id)
            .raftLog.allEntries()
            .map((e) => e.Term),
        ).toEqual([1n, 3n]);
      }
    });

    it(`a leader cycles: every node can win in turn${preVote ? ' (pre-vote)' : ''}`, () => {
      const n = new Network([null, null, null], { preVote });
      for (let c = 1n; c <= 3n; c++) {
        n.send(hup(c));
        for (let id = 1n; id <= 3n; id++) {
          expect(n.raft(id).state).toBe(id === c ? RaftState.Leader : RaftState.Follower);
        }
      }
    });
  }

  for (const vt of [MT.MsgVote, MT.MsgPreVote]) {
    it(`grants a ${raftpb.messageTypeToJSON(vt)} for a higher term from any state`, () => {
      for (const st of [RaftState.Follower, RaftState.PreCandidate, RaftState.Candidate, RaftState.Leader]) {
        const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, new MemoryStorage());
        r.term = 1n;
        if (st === RaftState.Follower) r.becomeFollower(r.term, 3n);
        else if (st === RaftState.PreCandidate) r.becomePreCandidate();
        else if (st === RaftState.Candidate) r.becomeCandidate();
        else {
          r.becomeCandidate();
          r.becomeLeader();
        }
        readMessages(r);
        const origTerm = r.term;
        const newTerm = r.term + 1n;
        r.step(msg({ from: 2n, to: 1n, type: vt, term: newTerm, logTerm: newTerm, index: 42n }));
        const resp = readMessages(r);
        expect(resp.length).toBe(1);
        expect(resp[0].type).toBe(vt === MT.MsgVote ? MT.MsgVoteResp : MT.MsgPreVoteResp);
        expect(resp[0].reject).toBe(false);
        if (vt === MT.MsgVote) {
          expect(r.state).toBe(RaftState.Follower);
          expect(r.term).toBe(newTerm);
          expect(r.vote).toBe(2n);
        } else {
          // A pre-vote changes nothing locally.
          expect(r.state).toBe(st);
          expect(r.term).toBe(origTerm);
          expect([None, 1n]).toContain(r.vote);
        }
      }
    });
  }

  it('dueling candidates: a candidate with a shorter log disrupts the term but cannot win (§5.4.1)', () => {
    const n = new Network([null, null, null]);
    n.cut(1n, 3n);
    n.send(hup(1n));
    n.send(hup(3n));
    expect(n.raft(1).state).toBe(RaftState.Leader);
    expect(n.raft(3).state).toBe(RaftState.Candidate);
    n.recover();
    // 3 campaigns at a higher term: 1 and 2 step down but reject it (its log lacks entry 1).
    n.send(hup(3n));
    for (const [id, term, last] of [
      [1, 2n, 1n],
      [2, 2n, 1n],
      [3, 2n, 0n],
    ] as const) {
      expect(n.raft(id).state).toBe(RaftState.Follower);
      expect(n.raft(id).term).toBe(term);
      expect(n.raft(id).raftLog.lastIndex()).toBe(last);
    }
  });

  it('a single voter elects itself at once (with or without pre-vote)', () => {
    for (const preVote of [false, true]) {
      const n = new Network([null], { preVote });
      n.send(hup(1n));
      expect(n.raft(1).state).toBe(RaftState.Leader);
      // Campaigning again as leader is a no-op.
      const term = n.raft(1).term;
      n.send(hup(1n));
      expect(n.raft(1).state).toBe(RaftState.Leader);
      expect(n.raft(1).term).toBe(term);
    }
  });

  it('a candidate concedes to a leader of its term and accepts its log', () => {
    const n = new Network([null, null, null]);
    n.isolate(1n);
    n.send(hup(1n));
    n.send(hup(3n));
    n.recover();
    n.send(msg({ from: 3n, to: 3n, type: MT.MsgBeat }));
    n.send(prop(3n, 'force follower'));
    n.send(msg({ from: 3n, to: 3n, type: MT.MsgBeat }));
    expect(n.raft(1).state).toBe(RaftState.Follower);
    expect(n.raft(1).term).toBe(1n);
    for (let id = 1; id <= 3; id++) {
      expect(n.raft(id).raftLog.committed).toBe(2n);
      expect(
        n
          .raft(id)
          .raftLog.allEntries()
          .map((e) => e.Data.toString()),
      ).toEqual(['', 'force follower']);
    }
  });

  it('old-term messages are ignored and logs stay consistent', () => {
    const n = new Network([null, null, null]);
    n.send(hup(1n));
    n.send(hup(2n));
    n.send(hup(1n));
    // A stale append from term 2 (node 2's old leadership).
    n.send(msg({ from: 2n, to: 1n, type: MT.MsgApp, term: 2n, entries: [newEntry({ Index: 3n, Term: 2n })] }));
    n.send(prop(1n));
    for (let id = 1; id <= 3; id++) {
      const l = n.raft(id).raftLog;
      expect(l.committed).toBe(4n);
      expect(l.allEntries().map((e) => [e.Index, e.Term])).toEqual([
        [1n, 1n],
        [2n, 2n],
        [3n, 3n],
        [4n, 3n],
      ]);
    }
  });

  it('a vote request with a stale term is rejected with our term, which the candidate adopts (§5.1)', () => {
    // Regression (simulation seed 318, 3 nodes, no pre-vote): ignoring stale vote requests let a
    // lower-term candidate, the only one able to win, campaign below a sleeper's term forever.
    const r = newTestRaft(1n, [1n, 2n], 10, 1, new MemoryStorage());
    r.becomeFollower(53n, None);
    r.step(msg({ from: 2n, to: 1n, type: MT.MsgVote, term: 50n, logTerm: 3n, index: 17n }));
    expect(readMessages(r)).toEqual([msg({ from: 1n, to: 2n, type: MT.MsgVoteResp, term: 53n, reject: true })]);
    expect(r.term).toBe(53n);
    expect(r.vote).toBe(None);

    const c = newTestRaft(2n, [1n, 2n], 10, 1, new MemoryStorage());
    c.becomeFollower(49n, None);
    c.becomeCandidate();
    c.step(msg({ from: 1n, to: 2n, type: MT.MsgVoteResp, term: 53n, reject: true }));
    expect(c.state).toBe(RaftState.Follower);
    expect(c.term).toBe(53n);
    // Its next campaign is at 54 and wins node 1's vote.
    c.campaign(CampaignType.Election);
    expect(c.term).toBe(54n);
    const [req] = readMessages(c);
    r.step(req);
    expect(readMessages(r)).toEqual([msg({ from: 1n, to: 2n, type: MT.MsgVoteResp, term: 54n })]);
  });

  it('a stale leader learns the higher term from its followers, even without check-quorum or pre-vote', () => {
    // Regression (simulation seed 13187, 3 nodes, neither option on): the leader of the current
    // configuration {3,5} sat at term 6; node 3, restarted with an older configuration that did not
    // list 5, campaigned up to term 47 among nodes that would not elect it, and silently dropped
    // the leader's term-6 appends, so nothing ever reached the leader.
    const leader = newTestRaft(5n, [3n, 5n], 10, 1, new MemoryStorage());
    leader.becomeFollower(6n, None);
    leader.becomeCandidate(); // term 7
    leader.becomeLeader();
    readMessages(leader);
    const f = newTestRaft(3n, [3n, 5n], 10, 1, new MemoryStorage());
    f.becomeFollower(47n, None);
    leader.step(msg({ from: 5n, to: 5n, type: MT.MsgBeat }));
    for (const m of readMessages(leader)) f.step(m);
    const [resp] = readMessages(f);
    expect(resp).toEqual(msg({ from: 3n, to: 5n, type: MT.MsgAppResp, term: 47n }));
    leader.step(resp);
    expect(leader.state).toBe(RaftState.Follower);
    expect(leader.term).toBe(47n);
  });

  it('learners never campaign, even after their election timeout', () => {
    const n1 = newTestLearnerRaft(1n, [1n], [2n], 10, 1, new MemoryStorage());
    const n2 = newTestLearnerRaft(2n, [1n], [2n], 10, 1, new MemoryStorage());
    n1.becomeFollower(1n, None);
    n2.becomeFollower(1n, None);
    n2.randomizedElectionTimeout = n2.electionTimeout;
    for (let i = 0; i < n2.electionTimeout; i++) n2.tick();
    expect(n2.state).toBe(RaftState.Follower);
    expect(readMessages(n2)).toEqual([]);
    // An explicit MsgHup is ignored too.
    n2.step(hup(2n));
    expect(n2.state).toBe(RaftState.Follower);
  });

  it('a learner grants votes (it may have been promoted without knowing yet)', () => {
    const r = newTestLearnerRaft(2n, [1n], [2n], 10, 1, new MemoryStorage());
    r.step(msg({ from: 1n, to: 2n, type: MT.MsgVote, term: 2n, logTerm: 11n, index: 11n }));
    const m = readMessages(r);
    expect(m.length).toBe(1);
    expect(m[0].type).toBe(MT.MsgVoteResp);
    expect(m[0].reject).toBe(false);
  });

  it('a node outside the configuration ignores MsgTimeoutNow and cannot become leader', () => {
    const r = newTestRaft(1n, [2n, 3n, 4n], 5, 1, new MemoryStorage());
    r.step(msg({ from: 2n, to: 1n, type: MT.MsgTimeoutNow }));
    r.step(msg({ from: 2n, to: 1n, type: MT.MsgVoteResp }));
    r.step(msg({ from: 3n, to: 1n, type: MT.MsgVoteResp }));
    expect(r.state).toBe(RaftState.Follower);
  });
});

describe('§9.6 pre-vote', () => {
  it('dueling pre-candidates: the loser falls back without bumping any term', () => {
    const n = new Network([null, null, null], { preVote: true });
    n.cut(1n, 3n);
    n.send(hup(1n));
    n.send(hup(3n));
    expect(n.raft(1).state).toBe(RaftState.Leader);
    // 3's pre-vote was rejected by 2 (it has a leader and a longer log): back to follower.
    expect(n.raft(3).state).toBe(RaftState.Follower);
    n.recover();
    n.send(hup(3n));
    expect(n.raft(1).state).toBe(RaftState.Leader);
    expect([n.raft(1).term, n.raft(2).term, n.raft(3).term]).toEqual([1n, 1n, 1n]);
  });

  it('a pre-candidate does not increase its term and becomes candidate after winning', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, new MemoryStorage(), { preVote: true });
    r.step(hup(1n));
    expect(r.state).toBe(RaftState.PreCandidate);
    expect(r.term).toBe(0n);
    expect(r.vote).toBe(None);
    const reqs = readMessages(r);
    expect(reqs.map((m) => [m.type, m.term])).toEqual([
      [MT.MsgPreVote, 1n],
      [MT.MsgPreVote, 1n],
    ]);
    r.step(msg({ from: 2n, to: 1n, type: MT.MsgPreVoteResp, term: 1n }));
    expect(r.state).toBe(RaftState.Candidate);
    expect(r.term).toBe(1n);
    expect(r.vote).toBe(1n);
  });

  it('a rejoining partitioned node does not disrupt a stable leader', () => {
    const n = new Network([null, null, null], { checkQuorum: true, preVote: true });
    n.send(hup(1n));
    n.isolate(3n);
    n.send(prop(1n));
    n.send(prop(1n));
    // Node 3 keeps timing out while partitioned; with pre-vote its term stays put.
    n.send(hup(3n));
    n.send(hup(3n));
    expect(n.raft(3).term).toBe(1n);
    n.recover();
    n.send(hup(3n));
    expect(n.raft(1).state).toBe(RaftState.Leader);
    expect(n.raft(3).state).toBe(RaftState.PreCandidate);
    expect([n.raft(1).term, n.raft(2).term, n.raft(3).term]).toEqual([1n, 1n, 1n]);
    // The next heartbeat brings it back as a follower.
    n.send(msg({ from: 1n, to: 3n, type: MT.MsgHeartbeat, term: n.raft(1).term }));
    expect(n.raft(3).state).toBe(RaftState.Follower);
    expect(n.raft(1).state).toBe(RaftState.Leader);
  });

  it('without pre-vote, the same rejoining node forces a new term', () => {
    const n = new Network([null, null, null], { checkQuorum: true });
    n.send(hup(1n));
    n.isolate(3n);
    n.send(prop(1n));
    n.send(hup(3n));
    n.send(hup(3n));
    expect(n.raft(3).term).toBe(3n);
    n.recover();
    // The leader's heartbeat is answered with the higher term: the leader steps down.
    n.send(msg({ from: 1n, to: 3n, type: MT.MsgHeartbeat, term: n.raft(1).term }));
    expect(n.raft(1).state).toBe(RaftState.Follower);
    expect(n.raft(1).term).toBe(3n);
  });

  it('a node with a smaller term can still complete an election with pre-vote', () => {
    const n = new Network([null, null, null], { preVote: true });
    n.send(hup(1n));
    // Isolate 3: it cannot raise its term (pre-vote fails), others proceed.
    n.isolate(3n);
    n.send(prop(1n));
    n.send(hup(2n));
    expect(n.raft(2).state).toBe(RaftState.Leader);
    n.recover();
    n.isolate(2n); // the new leader fails
    n.send(hup(3n)); // 3 is behind in log and term: its pre-vote is rejected by 1
    n.send(hup(1n)); // 1 has the longest log: wins
    expect(n.raft(1).state).toBe(RaftState.Leader);
    expect(n.raft(3).state).toBe(RaftState.Follower);
  });

  it('a node without a term (0) rejects a pre-vote silently instead of panicking', () => {
    // Regression (simulation seed 2985, 5 nodes): node 5 crashed while persisting; the entries
    // of term 1 reached the disk but the hard state naming term 1 did not. Restarted at term 0,
    // it rejected a pre-vote from a node with a shorter log, and a rejection carrying term 0 was a
    // RaftPanic.
    const s = new MemoryStorage();
    s.append([newEntry({ Index: 1n, Term: 1n }), newEntry({ Index: 2n, Term: 1n })]);
    const r = newTestRaft(5n, [1n, 2n, 3n, 4n, 5n], 10, 1, s, { preVote: true });
    expect(r.term).toBe(0n);
    r.step(msg({ from: 2n, to: 5n, type: MT.MsgPreVote, term: 1n, logTerm: 1n, index: 1n }));
    expect(readMessages(r)).toEqual([]);
    expect(r.term).toBe(0n);
    // A candidate with a log at least as new still gets the pre-vote.
    r.step(msg({ from: 3n, to: 5n, type: MT.MsgPreVote, term: 1n, logTerm: 1n, index: 2n }));
    expect(readMessages(r)).toEqual([msg({ from: 5n, to: 3n, type: MT.MsgPreVoteResp, term: 1n })]);
  });

  it('a pre-vote is answered with the request term even when we reject for a stale term', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, new MemoryStorage(), { preVote: true });
    r.becomeFollower(5n, None);
    r.step(msg({ from: 2n, to: 1n, type: MT.MsgPreVote, term: 3n, logTerm: 10n, index: 10n }));
    expect(readMessages(r)).toEqual([msg({ from: 1n, to: 2n, type: MT.MsgPreVoteResp, term: 5n, reject: true })]);
    // A higher-term pre-vote is granted with the request's term, and our term is unchanged.
    r.step(msg({ from: 2n, to: 1n, type: MT.MsgPreVote, term: 6n, logTerm: 10n, index: 10n }));
    expect(readMessages(r)).toEqual([msg({ from: 1n, to: 2n, type: MT.MsgPreVoteResp, term: 6n })]);
    expect(r.term).toBe(5n);
  });
});

describe('check quorum (leader lease)', () => {
  it('the leader stays while a quorum is active', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 5, 1, new MemoryStorage(), { checkQuorum: true });
    r.becomeCandidate();
    r.becomeLeader();
    for (let i = 0; i < r.electionTimeout + 1; i++) {
      r.step(msg({ from: 2n, type: MT.MsgHeartbeatResp, term: r.term }));
      r.tick();
    }
    expect(r.state).toBe(RaftState.Leader);
  });

  it('the leader steps down after an election timeout without hearing from a quorum', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 5, 1, new MemoryStorage(), { checkQuorum: true });
    r.becomeCandidate();
    r.becomeLeader();
    for (let i = 0; i < r.electionTimeout + 1; i++) r.tick();
    expect(r.state).toBe(RaftState.Follower);
  });

  it('followers that heard from the leader recently ignore vote requests (lease)', () => {
    const n = new Network([null, null, null], { checkQuorum: true });
    const b = n.raft(2);
    b.randomizedElectionTimeout = b.electionTimeout + 1;
    for (let i = 0; i < b.electionTimeout; i++) b.tick();
    n.send(hup(1n));
    expect(n.raft(1).state).toBe(RaftState.Leader);
    expect(n.raft(3).state).toBe(RaftState.Follower);
    n.send(hup(3n));
    // 2 is within its lease: 3 does not get its vote.
    expect(n.raft(3).state).toBe(RaftState.Candidate);
    for (let i = 0; i < b.electionTimeout; i++) b.tick();
    n.send(hup(3n));
    expect(n.raft(3).state).toBe(RaftState.Leader);
  });

  it('a stuck candidate with a higher term is freed when the leader contacts it', () => {
    const n = new Network([null, null, null], { checkQuorum: true });
    const [a, b, c] = [n.raft(1), n.raft(2), n.raft(3)];
    b.randomizedElectionTimeout = b.electionTimeout + 1;
    for (let i = 0; i < b.electionTimeout; i++) b.tick();
    n.send(hup(1n));
    n.isolate(1n);
    n.send(hup(3n));
    expect(b.state).toBe(RaftState.Follower);
    expect(c.state).toBe(RaftState.Candidate);
    expect(c.term).toBe(b.term + 1n);
    n.send(hup(3n));
    expect(c.term).toBe(b.term + 2n);
    n.recover();
    // The leader's heartbeat to 3 is answered at 3's higher term: the leader steps down.
    n.send(msg({ from: 1n, to: 3n, type: MT.MsgHeartbeat, term: a.term }));
    expect(a.state).toBe(RaftState.Follower);
    expect(c.term).toBe(a.term);
    n.send(hup(3n));
    expect(c.state).toBe(RaftState.Leader);
  });

  it('a voter removed from its own configuration never campaigns, but follows the leader', () => {
    const n = new Network([
      (id) => newTestRaft(id, [1n, 2n], 10, 1, new MemoryStorage(), { checkQuorum: true }),
      (id) => newTestRaft(id, [1n], 10, 1, new MemoryStorage(), { checkQuorum: true }),
    ]);
    const b = n.raft(2);
    b.randomizedElectionTimeout = b.electionTimeout + 1;
    expect(b.promotable()).toBe(false);
    for (let i = 0; i < b.electionTimeout; i++) b.tick();
    expect(b.state).toBe(RaftState.Follower);
    n.send(hup(1n));
    expect(n.raft(1).state).toBe(RaftState.Leader);
    expect(b.state).toBe(RaftState.Follower);
    expect(b.lead).toBe(1n);
  });

  it('a leader learning of a new voter does not step down before that voter had a chance', () => {
    const r = newTestRaft(1n, [1n], 10, 1, new MemoryStorage(), { checkQuorum: true });
    r.becomeCandidate();
    r.becomeLeader();
    for (let i = 0; i < r.electionTimeout - 1; i++) r.tick();
    r.applyConfChange({
      transition: raftpb.ConfChangeTransition.ConfChangeTransitionAuto,
      changes: [{ type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: 2n }],
      context: Buffer.alloc(0),
    });
    // New peers start recently active.
    r.tick();
    expect(r.state).toBe(RaftState.Leader);
    for (let i = 0; i < r.electionTimeout; i++) r.tick();
    expect(r.state).toBe(RaftState.Follower);
  });
});

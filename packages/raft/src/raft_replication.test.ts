// Log replication from the leader's side (§5.3): per-follower progress (probe / replicate),
// flow control (maxInflightMsgs, maxSizePerMsg), the uncommitted-size budget, proposal
// forwarding and dropping, commit rules (§5.4.2) and fast log backtracking.

import { describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { ErrProposalDropped } from './errors.js';
import { MemoryStorage } from './storage.js';
import { RaftState } from './state.js';
import { Raft } from './raft.js';
import { confChangeAsV2, newEntry, newMessage } from './util.js';
import { ltoa, nextEnts, readMessages } from './rafttest/helpers.js';
import { BlackHole, Network, newTestRaft, type PeerFactory, type PeerSpec } from './rafttest/network.js';
import { StateType as PS } from './tracker/index.js';

const MT = raftpb.MessageType;
const msg = newMessage;
const hup = (id: bigint) => msg({ from: id, to: id, type: MT.MsgHup });
const prop = (id: bigint, data = 'somedata') =>
  msg({ from: id, to: id, type: MT.MsgProp, entries: [newEntry({ Data: Buffer.from(data) })] });
const nop = () => new BlackHole();
const e = (index: number, term: number) => newEntry({ Index: BigInt(index), Term: BigInt(term) });

function catchErr(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

function leader(peers: bigint[], extra = {}, storage = new MemoryStorage()): Raft {
  const r = newTestRaft(1n, peers, 5, 1, storage, extra);
  r.becomeCandidate();
  r.becomeLeader();
  return r;
}

describe('§5.3 replication over a network', () => {
  it('proposals succeed iff a quorum is reachable', () => {
    const cases: [PeerSpec[], boolean][] = [
      [[null, null, null], true],
      [[null, null, nop()], true],
      [[null, nop(), nop()], false],
      [[null, nop(), nop(), null], false],
      [[null, nop(), nop(), null, null], true],
    ];
    for (const [specs, success] of cases) {
      const n = new Network(specs);
      n.send(hup(1n));
      n.send(prop(1n));
      for (const [id, p] of n.peers) {
        if (p instanceof BlackHole) continue;
        const r = n.raft(id);
        if (success) {
          expect(r.raftLog.committed).toBe(2n);
          expect(r.raftLog.allEntries().map((x) => x.Data.toString())).toEqual(['', 'somedata']);
        } else {
          // Without a leader nothing is appended anywhere (a candidate drops the proposal).
          expect(r.raftLog.committed).toBe(0n);
        }
      }
      expect(n.raft(1).term).toBe(1n);
    }
  });

  it('followers forward proposals to the leader', () => {
    for (const specs of [
      [null, null, null],
      [null, null, nop()],
    ] as PeerSpec[][]) {
      const n = new Network(specs);
      n.send(hup(1n));
      n.send(prop(2n));
      for (const id of [1n, 2n]) {
        expect(n.raft(id).raftLog.committed).toBe(2n);
        expect(
          n
            .raft(id)
            .raftLog.allEntries()
            .map((x) => x.Data.toString()),
        ).toEqual(['', 'somedata']);
      }
    }
  });

  it('replicates and commits entries, including after a leader change', () => {
    const n = new Network([null, null, null]);
    n.send(hup(1n));
    n.send(prop(1n, 'a'));
    for (let id = 1; id <= 3; id++) expect(n.raft(id).raftLog.committed).toBe(2n);
    n.send(hup(2n));
    n.send(prop(2n, 'b'));
    for (let id = 1n; id <= 3n; id++) {
      expect(n.raft(id).raftLog.committed).toBe(4n);
      const st = n.storage.get(id)!;
      expect(
        nextEnts(n.raft(id), st)
          .filter((x) => x.Data.length > 0)
          .map((x) => x.Data.toString()),
      ).toEqual(['a', 'b']);
    }
  });

  it('a learner receives and commits entries but is not counted', () => {
    const mk: PeerFactory = (id) => newTestRaft(id, [1n], 10, 1, new MemoryStorage(), { learners: [2n] });
    const n = new Network([mk, mk]);
    const [n1, n2] = [n.raft(1), n.raft(2)];
    n1.becomeFollower(1n, 0n);
    n2.becomeFollower(1n, 0n);
    n1.randomizedElectionTimeout = n1.electionTimeout;
    for (let i = 0; i < n1.electionTimeout; i++) n1.tick();
    n.send(msg({ from: 1n, to: 1n, type: MT.MsgBeat }));
    expect(n1.state).toBe(RaftState.Leader);
    expect(n2.isLearner).toBe(true);
    const next = n1.raftLog.committed + 1n;
    n.send(prop(1n));
    expect(n1.raftLog.committed).toBe(next);
    expect(n2.raftLog.committed).toBe(next);
    expect(n1.prs.progress.get(2n)!.match).toBe(n2.raftLog.committed);
  });

  it('a single node commits its own proposals', () => {
    const n = new Network([null]);
    n.send(hup(1n));
    n.send(prop(1n));
    n.send(prop(1n));
    expect(n.raft(1).raftLog.committed).toBe(3n);
  });
});

describe('§5.4.2 commit only current-term entries', () => {
  it('a new leader cannot commit old entries until an entry of its own term is replicated', () => {
    const n = new Network([null, null, null, null, null]);
    n.send(hup(1n));
    n.cut(1n, 3n);
    n.cut(1n, 4n);
    n.cut(1n, 5n);
    n.send(prop(1n));
    n.send(prop(1n));
    expect(n.raft(1).raftLog.committed).toBe(1n);
    n.recover();
    // Keep 2's empty entry of term 2 from being replicated.
    n.ignore(MT.MsgApp);
    n.send(hup(2n));
    expect(n.raft(2).raftLog.committed).toBe(1n);
    n.recover();
    n.send(msg({ from: 2n, to: 2n, type: MT.MsgBeat }));
    n.send(prop(2n));
    expect(n.raft(2).raftLog.committed).toBe(5n);
  });

  it("the new leader's empty entry commits previous-term entries", () => {
    const n = new Network([null, null, null, null, null]);
    n.send(hup(1n));
    n.cut(1n, 3n);
    n.cut(1n, 4n);
    n.cut(1n, 5n);
    n.send(prop(1n));
    n.send(prop(1n));
    expect(n.raft(1).raftLog.committed).toBe(1n);
    n.recover();
    n.send(hup(2n));
    expect(n.raft(1).raftLog.committed).toBe(4n);
  });

  it('the commit index is the quorum match, if that entry has the current term', () => {
    const cases: [number[], raftpb.Entry[], number, number][] = [
      [[1], [e(1, 1)], 1, 1],
      [[1], [e(1, 1)], 2, 0],
      [[2], [e(1, 1), e(2, 2)], 2, 2],
      [[1], [e(1, 2)], 2, 1],
      [[2, 1, 1], [e(1, 1), e(2, 2)], 1, 1],
      [[2, 1, 1], [e(1, 1), e(2, 1)], 2, 0],
      [[2, 1, 2], [e(1, 1), e(2, 2)], 2, 2],
      [[2, 1, 2], [e(1, 1), e(2, 1)], 2, 0],
      [[2, 1, 1, 1], [e(1, 1), e(2, 2)], 1, 1],
      [[2, 1, 1, 1], [e(1, 1), e(2, 1)], 2, 0],
      [[2, 1, 1, 2], [e(1, 1), e(2, 2)], 1, 1],
      [[2, 1, 1, 2], [e(1, 1), e(2, 1)], 2, 0],
      [[2, 1, 2, 2], [e(1, 1), e(2, 2)], 2, 2],
      [[2, 1, 2, 2], [e(1, 1), e(2, 1)], 2, 0],
    ];
    for (const [matches, logs, term, w] of cases) {
      const st = new MemoryStorage();
      st.append(logs);
      st.setHardState({ term: BigInt(term), vote: 0n, commit: 0n });
      const r = newTestRaft(1n, [1n], 10, 2, st);
      matches.forEach((m, j) => {
        const id = BigInt(j + 1);
        if (id > 1n) {
          r.applyConfChange(
            confChangeAsV2({ type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: id, context: Buffer.alloc(0), id: 0n }),
          );
        }
        const pr = r.prs.progress.get(id)!;
        pr.match = BigInt(m);
        pr.next = BigInt(m) + 1n;
      });
      r.maybeCommit();
      expect(r.raftLog.committed).toBe(BigInt(w));
    }
  });
});

describe('progress and flow control', () => {
  it("the leader's own progress tracks its log", () => {
    const r = leader([1n, 2n]);
    r.prs.progress.get(2n)!.becomeReplicate();
    for (let i = 0; i < 5; i++) {
      const pr = r.prs.progress.get(1n)!;
      expect([pr.state, pr.match, pr.next]).toEqual([PS.StateReplicate, BigInt(i + 1), BigInt(i + 2)]);
      r.step(prop(1n, 'foo'));
    }
  });

  it('a probing follower gets one append until it answers', () => {
    const r = leader([1n, 2n]);
    r.step(prop(1n));
    r.step(prop(1n));
    r.step(prop(1n));
    expect(readMessages(r).length).toBe(1);
  });

  it('a heartbeat response resumes a paused probe', () => {
    const r = leader([1n, 2n]);
    r.prs.progress.get(2n)!.probeSent = true;
    r.step(msg({ from: 1n, to: 1n, type: MT.MsgBeat }));
    expect(r.prs.progress.get(2n)!.probeSent).toBe(true);
    r.prs.progress.get(2n)!.becomeReplicate();
    r.step(msg({ from: 2n, to: 1n, type: MT.MsgHeartbeatResp }));
    expect(r.prs.progress.get(2n)!.probeSent).toBe(false);
  });

  it('inflight window and per-message size bound optimistic replication', () => {
    const r = leader([1n, 2n], { maxInflightMsgs: 3, maxSizePerMsg: 2048n });
    readMessages(r);
    r.prs.progress.get(2n)!.becomeProbe();
    const blob = 'a'.repeat(1000);
    for (let i = 0; i < 10; i++) r.step(prop(1n, blob));
    let ms = readMessages(r);
    // Probe: one append, carrying the empty entry and the first proposal.
    expect(ms.length).toBe(1);
    expect(ms[0].entries.map((x) => x.Data.length)).toEqual([0, 1000]);
    // Acked: replicate; three messages of two 1000-byte entries fill the window.
    r.step(msg({ from: 2n, to: 1n, type: MT.MsgAppResp, index: ms[0].entries[1].Index }));
    ms = readMessages(r);
    expect(ms.map((m) => [m.type, m.entries.length])).toEqual([
      [MT.MsgApp, 2],
      [MT.MsgApp, 2],
      [MT.MsgApp, 2],
    ]);
    // Acking all three frees the window: the remaining three entries go out.
    r.step(msg({ from: 2n, to: 1n, type: MT.MsgAppResp, index: ms[2].entries[1].Index }));
    ms = readMessages(r);
    expect(ms.map((m) => [m.type, m.entries.length])).toEqual([
      [MT.MsgApp, 2],
      [MT.MsgApp, 1],
    ]);
  });

  it('maxSizePerMsg 0 means one entry per append', () => {
    const r = leader([1n, 2n], { maxSizePerMsg: 0n });
    readMessages(r);
    r.prs.progress.get(2n)!.becomeReplicate();
    r.step(
      msg({ from: 1n, to: 1n, type: MT.MsgProp, entries: [newEntry({ Data: Buffer.from('a') }), newEntry({ Data: Buffer.from('b') })] }),
    );
    // A broadcast sends one append per follower: entry 1 only.
    let ms = readMessages(r);
    expect(ms.map((m) => m.entries.map((x) => x.Index))).toEqual([[1n]]);
    // An ack lets the leader stream the rest, one entry per message.
    r.step(msg({ from: 2n, to: 1n, type: MT.MsgAppResp, index: 1n }));
    ms = readMessages(r);
    expect(ms.map((m) => m.entries.map((x) => x.Index))).toEqual([[2n], [3n]]);
  });

  it('the uncommitted tail is bounded by maxUncommittedEntriesSize', () => {
    const maxEntries = 1024;
    const testEntry = newEntry({ Data: Buffer.from('testdata') });
    const r = leader([1n, 2n, 3n], { maxUncommittedEntriesSize: BigInt(maxEntries * 8), maxInflightMsgs: 2048 });
    expect(r.uncommittedSize).toBe(0n);
    r.prs.progress.get(2n)!.becomeReplicate();
    r.prs.progress.get(3n)!.becomeReplicate();
    r.uncommittedSize = 0n;
    const propMsg = msg({ from: 1n, to: 1n, type: MT.MsgProp, entries: [testEntry] });
    for (let i = 0; i < maxEntries; i++) r.step(propMsg);
    expect(catchErr(() => r.step(propMsg))).toBe(ErrProposalDropped);
    expect(readMessages(r).length).toBe(maxEntries * 2);
    r.reduceUncommittedSize(Array(maxEntries).fill(testEntry));
    expect(r.uncommittedSize).toBe(0n);
    // With an empty tail, one oversized proposal is accepted...
    const large = Array(2 * maxEntries).fill(testEntry);
    r.step(msg({ from: 1n, to: 1n, type: MT.MsgProp, entries: large }));
    // ...but nothing more.
    expect(catchErr(() => r.step(propMsg))).toBe(ErrProposalDropped);
    expect(readMessages(r).length).toBe(2);
    r.reduceUncommittedSize(large);
    expect(r.uncommittedSize).toBe(0n);
  });

  it('heartbeat responses resend appends to a follower that is behind', () => {
    const st = new MemoryStorage();
    st.append([e(1, 1), e(2, 2), e(3, 3)]);
    const r = leader([1n, 2n], {}, st);
    r.raftLog.commitTo(r.raftLog.lastIndex());
    r.step(msg({ from: 2n, type: MT.MsgHeartbeatResp }));
    let ms = readMessages(r);
    expect(ms.map((m) => m.type)).toEqual([MT.MsgApp]);
    // Still paused in probe, but the heartbeat response itself allows one more probe.
    r.step(msg({ from: 2n, type: MT.MsgHeartbeatResp }));
    ms = readMessages(r);
    expect(ms.map((m) => m.type)).toEqual([MT.MsgApp]);
    r.step(msg({ from: 2n, type: MT.MsgAppResp, index: ms[0].index + BigInt(ms[0].entries.length) }));
    readMessages(r);
    // Caught up: heartbeats no longer trigger appends.
    r.step(msg({ from: 2n, type: MT.MsgHeartbeatResp }));
    expect(readMessages(r)).toEqual([]);
  });

  it('an append response after a commit resets the probe wait of the other followers', () => {
    const r = leader([1n, 2n, 3n]);
    r.bcastAppend();
    readMessages(r);
    r.step(msg({ from: 2n, type: MT.MsgAppResp, index: 1n }));
    expect(r.raftLog.committed).toBe(1n);
    readMessages(r);
    r.step(msg({ from: 1n, type: MT.MsgProp, entries: [newEntry()] }));
    let ms = readMessages(r);
    expect(ms.map((m) => [m.type, m.to, m.entries.map((x) => x.Index)])).toEqual([[MT.MsgApp, 2n, [2n]]]);
    r.step(msg({ from: 3n, type: MT.MsgAppResp, index: 1n }));
    ms = readMessages(r);
    expect(ms.map((m) => [m.type, m.to, m.entries.map((x) => x.Index)])).toEqual([[MT.MsgApp, 3n, [2n]]]);
  });

  it('an unreachable follower in replicate state falls back to probing', () => {
    const r = leader([1n, 2n]);
    const pr = r.prs.progress.get(2n)!;
    pr.becomeReplicate();
    r.step(msg({ from: 2n, to: 1n, type: MT.MsgUnreachable }));
    expect(pr.state).toBe(PS.StateProbe);
    expect(pr.next).toBe(pr.match + 1n);
  });

  it('stale append responses do not move progress backwards', () => {
    const r = leader([1n, 2n]);
    readMessages(r);
    r.step(msg({ from: 2n, type: MT.MsgAppResp, index: 1n, term: r.term }));
    const pr = r.prs.progress.get(2n)!;
    expect(pr.match).toBe(1n);
    r.step(msg({ from: 2n, type: MT.MsgAppResp, index: 0n, term: r.term }));
    expect(pr.match).toBe(1n);
  });
});

describe('fast log backtracking (rejection hints)', () => {
  it('a follower with a long divergent tail converges in a few round trips', () => {
    // Leader 1 has entries of term 1..3 at 1..3 then term 5 at 4..20; follower 2 has term 4
    // entries at 4..50 (uncommitted garbage from an old leader).
    const leaderEnts = [e(1, 1), e(2, 2), e(3, 3), ...Array.from({ length: 17 }, (_, i) => e(4 + i, 5))];
    const followerEnts = [e(1, 1), e(2, 2), e(3, 3), ...Array.from({ length: 47 }, (_, i) => e(4 + i, 4))];
    const mk =
      (ents: raftpb.Entry[], term: bigint): PeerFactory =>
      (id, peers) => {
        const st = new MemoryStorage();
        st.append(ents);
        st.setHardState({ term, vote: 0n, commit: 3n });
        return newTestRaft(id, peers, 10, 1, st);
      };
    const n = new Network([mk(leaderEnts, 5n), mk(followerEnts, 4n), new BlackHole()]);
    const lead = n.raft(1);
    lead.becomeCandidate();
    lead.becomeLeader();
    readMessages(lead);
    let rejections = 0;
    n.msgHook = (m) => {
      if (m.type === MT.MsgAppResp && m.reject) rejections++;
      return true;
    };
    lead.bcastAppend();
    n.send(...n.filter(readMessages(lead)));
    expect(ltoa(n.raft(2))).toBe(ltoa(lead).replace(/committed: \d+/, `committed: ${n.raft(2).raftLog.committed}`));
    // Without hints this would take ~17 rejections (one per index); the hint skips whole terms.
    expect(rejections).toBeLessThanOrEqual(2);
    expect(lead.prs.progress.get(2n)!.match).toBe(lead.raftLog.lastIndex());
  });

  it('the reject hint names the last index whose term is <= the probed term', () => {
    const st = new MemoryStorage();
    st.append([e(1, 1), e(2, 1), e(3, 2), e(4, 4), e(5, 4)]);
    const r = newTestRaft(2n, [1n, 2n], 10, 1, st);
    r.becomeFollower(6n, 1n);
    r.step(msg({ from: 1n, to: 2n, type: MT.MsgApp, term: 6n, index: 5n, logTerm: 3n }));
    const [resp] = readMessages(r);
    expect([resp.reject, resp.index, resp.rejectHint, resp.logTerm]).toEqual([true, 5n, 3n, 2n]);
    // Probe beyond our log: hint at our last entry.
    r.step(msg({ from: 1n, to: 2n, type: MT.MsgApp, term: 6n, index: 9n, logTerm: 6n }));
    const [resp2] = readMessages(r);
    expect([resp2.reject, resp2.index, resp2.rejectHint, resp2.logTerm]).toEqual([true, 9n, 5n, 4n]);
  });
});

describe('proposals without a leader', () => {
  it('a follower without leader drops proposals with ErrProposalDropped', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, new MemoryStorage());
    expect(catchErr(() => r.step(prop(1n)))).toBe(ErrProposalDropped);
  });

  it('a candidate drops proposals', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, new MemoryStorage());
    r.becomeCandidate();
    expect(catchErr(() => r.step(prop(1n)))).toBe(ErrProposalDropped);
  });

  it('with forwarding disabled a follower drops proposals even with a leader', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, new MemoryStorage(), { disableProposalForwarding: true });
    r.becomeFollower(1n, 2n);
    expect(catchErr(() => r.step(prop(1n)))).toBe(ErrProposalDropped);
    expect(readMessages(r)).toEqual([]);
  });

  it('a follower with a leader forwards the proposal as a local (term 0) message', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, new MemoryStorage());
    r.becomeFollower(1n, 2n);
    r.step(prop(1n));
    const ms = readMessages(r);
    expect(ms.map((m) => [m.type, m.from, m.to, m.term])).toEqual([[MT.MsgProp, 1n, 2n, 0n]]);
  });
});

// Read-only queries through ReadIndex (thesis §6.4): the leader records its commit index,
// confirms its leadership with a heartbeat round (ReadOnlySafe) or trusts its lease
// (ReadOnlyLeaseBased), and answers with a ReadState.

import { describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { MemoryStorage } from './storage.js';
import { RaftState, ReadOnlyOption } from './state.js';
import { newEntry, newMessage } from './util.js';
import { readMessages } from './rafttest/helpers.js';
import { Network, newTestRaft, type PeerFactory } from './rafttest/network.js';
import type { Config } from './raft.js';

const MT = raftpb.MessageType;
const msg = newMessage;
const hup = (id: bigint) => msg({ from: id, to: id, type: MT.MsgHup });
const readIndex = (id: bigint, ctx: string) =>
  msg({ from: id, to: id, type: MT.MsgReadIndex, entries: [newEntry({ Data: Buffer.from(ctx) })] });
const emptyProp = () => msg({ from: 1n, to: 1n, type: MT.MsgProp, entries: [newEntry()] });

function cluster(extra: Partial<Config>, learners: bigint[] = []): Network {
  const ids = learners.length > 0 ? [1n] : [1n, 2n, 3n];
  const mk: PeerFactory = (id) => newTestRaft(id, ids, 10, 1, new MemoryStorage(), { ...extra, learners });
  const n = new Network(learners.length > 0 ? [mk, mk] : [mk, mk, mk]);
  const b = n.raft(2);
  b.randomizedElectionTimeout = b.electionTimeout + 1;
  for (let i = 0; i < b.electionTimeout; i++) b.tick();
  n.send(hup(1n));
  expect(n.raft(1).state).toBe(RaftState.Leader);
  return n;
}

function checkReads(n: Network, cases: [number, number, string][]): void {
  for (const [id, wri, ctx] of cases) {
    for (let j = 0; j < 10; j++) n.send(emptyProp());
    n.send(readIndex(BigInt(id), ctx));
    const r = n.raft(id);
    expect(r.readStates.length).toBeGreaterThan(0);
    expect(r.readStates[0].index).toBe(BigInt(wri));
    expect(r.readStates[0].requestCtx.toString()).toBe(ctx);
    r.readStates = [];
  }
}

describe('§6.4 read index', () => {
  it('ReadOnlySafe: served on leader and followers after a quorum heartbeat round', () => {
    const n = cluster({});
    checkReads(n, [
      [1, 11, 'ctx1'],
      [2, 21, 'ctx2'],
      [3, 31, 'ctx3'],
      [1, 41, 'ctx4'],
      [2, 51, 'ctx5'],
      [3, 61, 'ctx6'],
    ]);
  });

  it('ReadOnlySafe with a learner: the learner forwards, the single voter confirms alone', () => {
    const n = cluster({}, [2n]);
    checkReads(n, [
      [1, 11, 'ctx1'],
      [2, 21, 'ctx2'],
      [1, 31, 'ctx3'],
      [2, 41, 'ctx4'],
    ]);
  });

  it('ReadOnlyLeaseBased: answered from the commit index without a heartbeat round', () => {
    const n = cluster({ readOnlyOption: ReadOnlyOption.LeaseBased, checkQuorum: true });
    checkReads(n, [
      [1, 11, 'ctx1'],
      [2, 21, 'ctx2'],
      [3, 31, 'ctx3'],
      [1, 41, 'ctx4'],
    ]);
    // No heartbeat is needed for a lease read.
    n.raft(1).msgs = [];
    n.raft(1).step(readIndex(1n, 'x'));
    expect(readMessages(n.raft(1))).toEqual([]);
    expect(n.raft(1).readStates.length).toBe(1);
  });

  it('LeaseBased without checkQuorum is a configuration error', () => {
    expect(() => newTestRaft(1n, [1n], 10, 1, new MemoryStorage(), { readOnlyOption: ReadOnlyOption.LeaseBased })).toThrow(
      /CheckQuorum must be enabled/,
    );
  });

  it('a new leader postpones reads until it committed an entry of its term', () => {
    const nodes: [bigint, bigint, bigint, bigint][] = [
      // id, committed, applied, compact index
      [1n, 1n, 1n, 0n],
      [2n, 2n, 2n, 2n],
      [3n, 2n, 2n, 2n],
    ];
    const specs: PeerFactory[] = nodes.map(([, committed, applied, compact]) => (id, peers) => {
      const st = new MemoryStorage();
      st.append([newEntry({ Index: 1n, Term: 1n }), newEntry({ Index: 2n, Term: 1n })]);
      st.setHardState({ term: 1n, commit: committed, vote: 0n });
      if (compact !== 0n) st.compact(compact);
      return newTestRaft(id, peers, 10, 1, st, { applied });
    });
    const n = new Network(specs);
    // Keep the new leader's empty entry from committing.
    n.ignore(MT.MsgApp);
    n.send(hup(1n));
    const r = n.raft(1);
    expect(r.state).toBe(RaftState.Leader);
    n.send(readIndex(1n, 'ctx'));
    expect(r.readStates.length).toBe(0);
    expect(r.pendingReadIndexMessages.length).toBe(1);
    n.recover();
    for (let i = 0; i < r.heartbeatTimeout; i++) r.tick();
    n.send(emptyProp());
    expect(r.raftLog.committed).toBe(4n);
    expect(r.raftLog.termOrZero(r.raftLog.committed)).toBe(r.term);
    // Released once the term's entry committed, at the commit index of that moment.
    expect(r.readStates.length).toBe(1);
    expect(r.readStates[0].index).toBe(4n);
    n.send(readIndex(1n, 'ctx'));
    expect(r.readStates.length).toBe(2);
    expect(r.readStates[1].index).toBe(4n);
  });

  it('the pending read is freed once a quorum acknowledged', () => {
    const r = newTestRaft(1n, [1n, 2n], 5, 1, new MemoryStorage());
    r.becomeCandidate();
    r.becomeLeader();
    r.raftLog.commitTo(r.raftLog.lastIndex());
    r.step(msg({ from: 2n, type: MT.MsgReadIndex, entries: [newEntry({ Data: Buffer.from('ctx') })] }));
    const ms = readMessages(r);
    expect(ms.map((m) => [m.type, m.context.toString()])).toEqual([[MT.MsgHeartbeat, 'ctx']]);
    expect(r.readOnly.pendingCount()).toBe(1);
    r.step(msg({ from: 2n, type: MT.MsgHeartbeatResp, context: Buffer.from('ctx') }));
    expect(r.readOnly.pendingCount()).toBe(0);
    // The follower's request is answered with a MsgReadIndexResp.
    // (The heartbeat response also triggers an append to the lagging follower.)
    const resp = readMessages(r).filter((m) => m.type === MT.MsgReadIndexResp);
    expect(resp.map((m) => [m.type, m.to, m.index, m.entries[0].Data.toString()])).toEqual([
      [MT.MsgReadIndexResp, 2n, r.raftLog.committed, 'ctx'],
    ]);
  });

  it('a follower without leader drops read requests', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, new MemoryStorage());
    r.step(readIndex(1n, 'ctx'));
    expect(readMessages(r)).toEqual([]);
    expect(r.readStates).toEqual([]);
  });

  it('acks confirm all earlier reads too', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 5, 1, new MemoryStorage());
    r.becomeCandidate();
    r.becomeLeader();
    r.raftLog.commitTo(r.raftLog.lastIndex());
    r.step(readIndex(1n, 'a'));
    r.step(readIndex(1n, 'b'));
    readMessages(r);
    r.step(msg({ from: 2n, type: MT.MsgHeartbeatResp, context: Buffer.from('b') }));
    expect(r.readStates.map((s) => s.requestCtx.toString())).toEqual(['a', 'b']);
  });

  it('a context pending for one requester is not queued for another; the same requester re-sending it is a retry', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 5, 1, new MemoryStorage());
    r.becomeCandidate();
    r.becomeLeader();
    r.raftLog.commitTo(r.raftLog.lastIndex());
    const fromPeer = (from: bigint, ctx: string) => msg({ from, type: MT.MsgReadIndex, entries: [newEntry({ Data: Buffer.from(ctx) })] });
    r.step(fromPeer(2n, 'c'));
    const committedAtFirst = r.raftLog.committed;
    // Another requester with the same context: answering it with the index recorded for the
    // first one could be stale, so it is left out (and logged); it must retry with its own.
    r.step(fromPeer(3n, 'c'));
    expect(r.readOnly.pendingCount()).toBe(1);
    // The first requester re-sends (its message or the answer may have been lost): still one
    // request, with the index of its first arrival.
    r.step(fromPeer(2n, 'c'));
    expect(r.readOnly.pendingCount()).toBe(1);
    readMessages(r);
    r.step(msg({ from: 2n, type: MT.MsgHeartbeatResp, context: Buffer.from('c') }));
    const resp = readMessages(r).filter((m) => m.type === MT.MsgReadIndexResp);
    expect(resp.map((m) => [m.to, m.index, m.entries[0].Data.toString()])).toEqual([[2n, committedAtFirst, 'c']]);
    expect(r.readOnly.pendingCount()).toBe(0);
  });
});

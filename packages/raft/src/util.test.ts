import { describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { seededRandom } from './rand.js';
import { RaftState } from './state.js';
import {
  confChangeAsV2,
  confChangeEnterJoint,
  confChangeLeaveJoint,
  confStatesEquivalent,
  describeEntry,
  describeHardState,
  describeMessage,
  describeSoftState,
  emptyConfState,
  entryConfChangeV2,
  entrySize,
  isLocalMsg,
  isResponseMsg,
  limitSize,
  marshalConfChange,
  newEntry,
  newMessage,
  voteRespMsgType,
} from './util.js';
import { RaftPanic } from './errors.js';

const MT = raftpb.MessageType;
const CT = raftpb.ConfChangeType;
const TR = raftpb.ConfChangeTransition;

describe('message classification', () => {
  it('isLocalMsg', () => {
    const local = [MT.MsgHup, MT.MsgBeat, MT.MsgUnreachable, MT.MsgSnapStatus, MT.MsgCheckQuorum];
    for (let t = MT.MsgHup; t <= MT.MsgPreVoteResp; t++) expect(isLocalMsg(t)).toBe(local.includes(t));
  });

  it('isResponseMsg', () => {
    const resp = [MT.MsgAppResp, MT.MsgVoteResp, MT.MsgHeartbeatResp, MT.MsgUnreachable, MT.MsgPreVoteResp];
    for (let t = MT.MsgHup; t <= MT.MsgPreVoteResp; t++) expect(isResponseMsg(t)).toBe(resp.includes(t));
  });

  it('voteRespMsgType', () => {
    expect(voteRespMsgType(MT.MsgVote)).toBe(MT.MsgVoteResp);
    expect(voteRespMsgType(MT.MsgPreVote)).toBe(MT.MsgPreVoteResp);
    expect(() => voteRespMsgType(MT.MsgApp)).toThrow(RaftPanic);
  });
});

describe('sizes', () => {
  it('entrySize is the encoded size with every scalar field present (as etcd counts it)', () => {
    const cc = newEntry({ Term: 300n, Index: 1n << 40n, Type: raftpb.EntryType.EntryConfChange, Data: Buffer.alloc(200) });
    expect(entrySize(cc)).toBe(raftpb.Entry.encode(cc).finish().length);
    // proto3 omits a zero Type on the wire; etcd's size still counts its two bytes.
    const normal = newEntry({ Term: 1n, Index: 1n, Data: Buffer.from('hello') });
    expect(entrySize(normal)).toBe(raftpb.Entry.encode(normal).finish().length + 2);
  });

  it('limitSize keeps at least one entry', () => {
    const ents = [1, 2, 3].map((i) => newEntry({ Term: 1n, Index: BigInt(i), Data: Buffer.alloc(10) }));
    const sz = BigInt(entrySize(ents[0]));
    expect(limitSize(ents, 0n).length).toBe(1);
    expect(limitSize(ents, sz * 2n).length).toBe(2);
    expect(limitSize(ents, sz * 2n + 1n).length).toBe(2);
    expect(limitSize(ents, sz * 3n).length).toBe(3);
    expect(limitSize([], 0n)).toEqual([]);
  });
});

describe('conf change helpers', () => {
  it('V1 becomes a single-change Auto V2; V1 stays V1 on the wire', () => {
    const v1: raftpb.ConfChange = { type: CT.ConfChangeAddNode, nodeId: 3n, context: Buffer.from('c'), id: 7n };
    const v2 = confChangeAsV2(v1);
    expect(v2).toEqual({
      transition: TR.ConfChangeTransitionAuto,
      changes: [{ type: CT.ConfChangeAddNode, nodeId: 3n }],
      context: Buffer.from('c'),
    });
    const { type, data } = marshalConfChange(v1);
    expect(type).toBe(raftpb.EntryType.EntryConfChange);
    expect(entryConfChangeV2(newEntry({ Type: type, Data: data }))).toEqual(v2);
    const m2 = marshalConfChange(v2);
    expect(m2.type).toBe(raftpb.EntryType.EntryConfChangeV2);
    expect(entryConfChangeV2(newEntry())).toBeUndefined();
  });

  it('enterJoint / leaveJoint', () => {
    const one = [{ type: CT.ConfChangeAddNode, nodeId: 1n }];
    const two = [...one, { type: CT.ConfChangeAddNode, nodeId: 2n }];
    const mk = (transition: raftpb.ConfChangeTransition, changes: raftpb.ConfChangeSingle[]) => ({
      transition,
      changes,
      context: Buffer.alloc(0),
    });
    expect(confChangeEnterJoint(mk(TR.ConfChangeTransitionAuto, one))).toEqual({ autoLeave: false, ok: false });
    expect(confChangeEnterJoint(mk(TR.ConfChangeTransitionAuto, two))).toEqual({ autoLeave: true, ok: true });
    expect(confChangeEnterJoint(mk(TR.ConfChangeTransitionJointImplicit, one))).toEqual({ autoLeave: true, ok: true });
    expect(confChangeEnterJoint(mk(TR.ConfChangeTransitionJointExplicit, one))).toEqual({ autoLeave: false, ok: true });
    expect(confChangeLeaveJoint(mk(TR.ConfChangeTransitionAuto, []))).toBe(true);
    expect(confChangeLeaveJoint({ ...mk(TR.ConfChangeTransitionAuto, []), context: Buffer.from('x') })).toBe(true);
    expect(confChangeLeaveJoint(mk(TR.ConfChangeTransitionAuto, one))).toBe(false);
  });

  it('confStatesEquivalent ignores order', () => {
    const a = { ...emptyConfState(), voters: [1n, 2n, 3n], learners: [5n] };
    expect(confStatesEquivalent(a, { ...a, voters: [3n, 1n, 2n] })).toBe(true);
    expect(confStatesEquivalent(a, { ...a, voters: [1n, 2n] })).toBe(false);
    expect(confStatesEquivalent(a, { ...a, autoLeave: true })).toBe(false);
  });
});

describe('descriptions', () => {
  it('describeMessage / describeEntry', () => {
    const m = newMessage({
      from: 1n,
      to: 2n,
      type: MT.MsgApp,
      term: 3n,
      logTerm: 2n,
      index: 5n,
      commit: 4n,
      entries: [newEntry({ Term: 3n, Index: 6n, Data: Buffer.from('foo') })],
    });
    expect(describeMessage(m)).toBe('1->2 MsgApp Term:3 Log:2/5 Commit:4 Entries:[3/6 EntryNormal "foo"]');
    const r = newMessage({ from: 2n, to: 1n, type: MT.MsgAppResp, term: 3n, index: 5n, reject: true, rejectHint: 4n });
    expect(describeMessage(r)).toBe('2->1 MsgAppResp Term:3 Log:0/5 Rejected (Hint: 4)');
    const { type, data } = marshalConfChange({
      transition: TR.ConfChangeTransitionAuto,
      changes: [
        { type: CT.ConfChangeAddNode, nodeId: 2n },
        { type: CT.ConfChangeAddLearnerNode, nodeId: 3n },
      ],
      context: Buffer.alloc(0),
    });
    expect(describeEntry(newEntry({ Term: 1n, Index: 2n, Type: type, Data: data }))).toBe('1/2 EntryConfChangeV2 v2 l3');
    expect(describeEntry(newEntry({ Term: 1n, Index: 2n }), (d) => d.toString('hex'))).toBe('1/2 EntryNormal');
  });

  it('describeHardState / describeSoftState', () => {
    expect(describeHardState({ term: 2n, vote: 1n, commit: 5n })).toBe('Term:2 Vote:1 Commit:5');
    expect(describeHardState({ term: 2n, vote: 0n, commit: 5n })).toBe('Term:2 Commit:5');
    expect(describeSoftState({ lead: 1n, raftState: RaftState.Leader })).toBe('Lead:1 State:StateLeader');
  });
});

describe('seededRandom', () => {
  it('is deterministic per seed and stays in range', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const c = seededRandom(43n);
    const xs = Array.from({ length: 100 }, () => a(10));
    expect(xs).toEqual(Array.from({ length: 100 }, () => b(10)));
    expect(xs).not.toEqual(Array.from({ length: 100 }, () => c(10)));
    expect(xs.every((x) => x >= 0 && x < 10 && Number.isInteger(x))).toBe(true);
    expect(new Set(xs).size).toBe(10);
    expect(() => a(0)).toThrow(RangeError);
  });
});

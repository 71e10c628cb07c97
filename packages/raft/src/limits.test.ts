// The term bound (limits.ts): a member at the largest term stops campaigning instead of making a
// term it could neither persist nor send, and a message above it is ignored.
import { describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { maxTerm } from './limits.js';
import { newTestRaft } from './rafttest/network.js';
import { None, RaftState } from './state.js';
import { MemoryStorage } from './storage.js';
import { readMessages } from './rafttest/helpers.js';
import { newMessage } from './util.js';

const MT = raftpb.MessageType;
const storage = () => new MemoryStorage();

describe('term bound', () => {
  it('is 2^63 - 1, so term + 1 always fits a uint64', () => {
    expect(maxTerm).toBe(9223372036854775807n);
  });

  for (const preVote of [false, true]) {
    it(`a follower at the maximum term does not campaign${preVote ? ' (pre-vote)' : ''}`, () => {
      const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, storage(), { preVote });
      r.becomeFollower(maxTerm, None);
      r.step(newMessage({ from: 1n, to: 1n, type: MT.MsgHup }));
      expect(r.state).toBe(RaftState.Follower);
      expect(r.term).toBe(maxTerm);
      expect(readMessages(r)).toEqual([]);
    });
  }

  it('one below the maximum still campaigns, at the maximum', () => {
    const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, storage());
    r.becomeFollower(maxTerm - 1n, None);
    r.step(newMessage({ from: 1n, to: 1n, type: MT.MsgHup }));
    expect(r.state).toBe(RaftState.Candidate);
    expect(r.term).toBe(maxTerm);
    expect(readMessages(r).map((m) => m.term)).toEqual([maxTerm, maxTerm]);
  });

  for (const type of [MT.MsgHeartbeat, MT.MsgApp, MT.MsgVote, MT.MsgPreVote, MT.MsgAppResp]) {
    it(`ignores a ${raftpb.messageTypeToJSON(type)} with a term above the maximum`, () => {
      const r = newTestRaft(1n, [1n, 2n, 3n], 10, 1, storage());
      r.becomeFollower(2n, None);
      r.step(newMessage({ from: 2n, to: 1n, type, term: (1n << 64n) - 1n }));
      expect(r.term).toBe(2n);
      expect(readMessages(r)).toEqual([]);
    });
  }
});

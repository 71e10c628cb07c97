// Helpers shared by the unit tests (kept out of *.test.ts so several test files can use them).

import { raftpb } from '@kv/api';
import type { Raft } from '../raft.js';
import { RaftState } from '../state.js';
import type { MemoryStorage } from '../storage.js';
import { newMessage } from '../util.js';

const MT = raftpb.MessageType;

/** Drains the raft's outgoing messages. */
export function readMessages(r: Raft): raftpb.Message[] {
  const msgs = r.msgs;
  r.msgs = [];
  return msgs;
}

/** Orders messages by recipient, then type, then index (stable comparisons in tests). */
export function sortMessages(msgs: raftpb.Message[]): raftpb.Message[] {
  return [...msgs].sort((a, b) =>
    a.to !== b.to ? (a.to < b.to ? -1 : 1) : a.type !== b.type ? a.type - b.type : a.index < b.index ? -1 : a.index > b.index ? 1 : 0,
  );
}

/** The successful MsgAppResp a follower would send for m. */
export function acceptAndReply(m: raftpb.Message): raftpb.Message {
  if (m.type !== MT.MsgApp) throw new Error('type should be MsgApp');
  return newMessage({ from: m.to, to: m.from, term: m.term, type: MT.MsgAppResp, index: m.index + BigInt(m.entries.length) });
}

/**
 * Leader only: acknowledges its initial empty entry from every follower, then persists and applies
 * everything, so the test starts from a clean committed state.
 */
export function commitNoopEntry(r: Raft, s: MemoryStorage): void {
  if (r.state !== RaftState.Leader) throw new Error('it should only be used when it is the leader');
  r.bcastAppend();
  for (const m of readMessages(r)) {
    if (m.type !== MT.MsgApp || m.entries.length !== 1 || m.entries[0].Data.length !== 0) {
      throw new Error('not a message to append noop entry');
    }
    r.step(acceptAndReply(m));
  }
  readMessages(r);
  s.append(r.raftLog.unstableEntries());
  r.raftLog.appliedTo(r.raftLog.committed);
  r.raftLog.stableTo(r.raftLog.lastIndex(), r.raftLog.lastTerm());
}

/** A textual dump of a raft log (committed, applied, entries) for comparing logs. */
export function ltoa(r: Raft): string {
  const l = r.raftLog;
  let s = `committed: ${l.committed}\napplied:  ${l.applied}\n`;
  l.allEntries().forEach((e, i) => {
    s += `#${i}: ${e.Term}/${e.Index} ${e.Type} ${e.Data.toString('hex')}\n`;
  });
  return s;
}

/**
 * Persists all unstable entries to `s`, then returns the committed-but-unapplied entries and
 * marks them applied (a minimal application loop for tests driving Raft directly).
 */
export function nextEnts(r: Raft, s: MemoryStorage): raftpb.Entry[] {
  s.append(r.raftLog.unstableEntries());
  r.raftLog.stableTo(r.raftLog.lastIndex(), r.raftLog.lastTerm());
  const ents = r.raftLog.nextEnts();
  r.raftLog.appliedTo(r.raftLog.committed);
  return ents;
}

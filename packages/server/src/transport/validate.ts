// The gate between the network and raft: every message a peer sends is checked here before it
// is stepped. A peer id in the request headers is not proof of anything (plain-http peer ports
// take any connection), so nothing raft would trust from its own node is trusted from a peer.
//
// Invariant: a message that passes leaves raft room for + 1 in every term and index it carries
// (raft's maxTerm / maxIndex), has a type a remote raft node sends, names the stream's sender
// as `from` and this member as `to`, and is shaped the way raft's own sender shapes that type;
// the entries it would add to the log (MsgProp, MsgApp) decode as the apply loop decodes them.
// A message that fails is dropped (the caller logs why); it never reaches raft.
import { checkWire, etcdserverpb, raftpb } from '@kv/api';
import { maxIndex, maxTerm } from '@kv/raft';

const MT = raftpb.MessageType;

/** Types a remote raft node puts on the message stream (MsgSnap comes on the snapshot path). */
const streamTypes: ReadonlySet<raftpb.MessageType> = new Set([
  MT.MsgProp, // a follower forwards proposals to its leader
  MT.MsgApp,
  MT.MsgAppResp,
  MT.MsgVote,
  MT.MsgVoteResp,
  MT.MsgHeartbeat,
  MT.MsgHeartbeatResp,
  MT.MsgTransferLeader, // a follower forwards a transfer request to its leader
  MT.MsgTimeoutNow,
  MT.MsgReadIndex, // forwarded by a follower
  MT.MsgReadIndexResp,
  MT.MsgPreVote,
  MT.MsgPreVoteResp,
]);

/** Types a sender leaves at term 0 (raft forwards them without stamping its term). */
const termlessTypes: ReadonlySet<raftpb.MessageType> = new Set([MT.MsgProp, MT.MsgReadIndex]);

const entryTypes: ReadonlySet<raftpb.EntryType> = new Set([
  raftpb.EntryType.EntryNormal,
  raftpb.EntryType.EntryConfChange,
  raftpb.EntryType.EntryConfChangeV2,
]);

export interface PeerMessageContext {
  /** This member. */
  self: bigint;
  /** The sender the stream was admitted for (its x-server-from header). */
  from: bigint;
  /** 'stream' for /raft/stream, 'snapshot' for the head of a /raft/snapshot body. */
  path: 'stream' | 'snapshot';
}

const typeName = (t: raftpb.MessageType) => (t in MT ? raftpb.messageTypeToJSON(t) : `unknown type ${t}`);

function checkTermIndex(what: string, term: bigint, index: bigint): string | undefined {
  if (term > maxTerm) return `${what} term ${term} exceeds the maximum ${maxTerm}`;
  if (index > maxIndex) return `${what} index ${index} exceeds the maximum ${maxIndex}`;
  return undefined;
}

function checkSnapshot(m: raftpb.Message): string | undefined {
  const md = m.snapshot?.metadata;
  if (!md) return 'MsgSnap without snapshot metadata';
  const bad = checkTermIndex('snapshot', md.term, md.index);
  if (bad) return bad;
  if (md.index === 0n || md.term === 0n) return `snapshot at index ${md.index}, term ${md.term} (both must be positive)`;
  if (md.term > m.term) return `snapshot term ${md.term} is above the message term ${m.term}`;
  const cs = md.confState;
  if (!cs || cs.voters.length === 0) return 'snapshot without voters in its configuration';
  for (const id of [...cs.voters, ...cs.learners, ...cs.votersOutgoing, ...cs.learnersNext]) {
    if (id === 0n) return 'snapshot configuration names member id 0';
  }
  return undefined;
}

/**
 * Why an entry's data is not what the apply loop can decode, or undefined. An entry that passes
 * raft is committed and applied on every member; one the apply loop cannot decode would stop
 * every member, and stop it again after every restart, since it stays in the log.
 */
function checkEntryData(e: raftpb.Entry): string | undefined {
  try {
    if (e.Type === raftpb.EntryType.EntryNormal) {
      // Empty: a new leader's entry. Otherwise one request (raft_consensus.ts decodes it so),
      // checked strictly as client requests are (wire types, lengths, nesting).
      if (e.Data.length > 0) {
        checkWire('etcdserverpb.InternalRaftRequest', e.Data);
        etcdserverpb.InternalRaftRequest.decode(e.Data);
      }
    } else if (e.Type === raftpb.EntryType.EntryConfChange) {
      checkWire('raftpb.ConfChange', e.Data);
      raftpb.ConfChange.decode(e.Data);
    } else {
      checkWire('raftpb.ConfChangeV2', e.Data);
      raftpb.ConfChangeV2.decode(e.Data);
    }
  } catch (err) {
    return `its data does not decode (${err instanceof Error ? err.message : String(err)})`;
  }
  return undefined;
}

function checkEntries(m: raftpb.Message): string | undefined {
  for (const [i, e] of m.entries.entries()) {
    const bad = checkTermIndex(`entry ${i}`, e.Term, e.Index);
    if (bad) return bad;
    if (!entryTypes.has(e.Type)) return `entry ${i} has unknown type ${e.Type}`;
    if (m.type === MT.MsgProp || m.type === MT.MsgApp) {
      const why = checkEntryData(e);
      if (why) return `entry ${i} of type ${raftpb.entryTypeToJSON(e.Type)}: ${why}`;
    }
  }
  if (m.type === MT.MsgProp) {
    if (m.entries.length === 0) return 'MsgProp without entries';
    return undefined;
  }
  if (m.type === MT.MsgApp) {
    // raft's sender: entries follow (index, logTerm) contiguously, with terms that never go down
    // and never exceed the leader's term.
    let prevIndex = m.index;
    let prevTerm = m.logTerm;
    for (const [i, e] of m.entries.entries()) {
      if (e.Index !== prevIndex + 1n) return `entry ${i} has index ${e.Index}, expected ${prevIndex + 1n}`;
      if (e.Term < prevTerm || e.Term > m.term) return `entry ${i} has term ${e.Term} outside ${prevTerm}..${m.term}`;
      prevIndex = e.Index;
      prevTerm = e.Term;
    }
    return undefined;
  }
  if (m.type === MT.MsgReadIndex || m.type === MT.MsgReadIndexResp) {
    // The read's context travels as one entry's data.
    return m.entries.length > 1 ? `${typeName(m.type)} with ${m.entries.length} entries` : undefined;
  }
  return m.entries.length > 0 ? `${typeName(m.type)} with ${m.entries.length} entries` : undefined;
}

/** Why a message from a peer must be dropped, or undefined when raft may step it. */
export function checkPeerMessage(m: raftpb.Message, ctx: PeerMessageContext): string | undefined {
  if (m.from !== ctx.from) return `from ${m.from.toString(16)} is not the stream's sender ${ctx.from.toString(16)}`;
  if (m.to !== ctx.self) return `to ${m.to.toString(16)} is not this member`;
  if (ctx.path === 'snapshot') {
    if (m.type !== MT.MsgSnap) return `${typeName(m.type)} on the snapshot path`;
  } else if (!streamTypes.has(m.type)) {
    return `${typeName(m.type)} is not a message a peer sends on the stream`;
  }
  const bad = checkTermIndex('message', m.term, m.index) ?? checkTermIndex('message log', m.logTerm, 0n);
  if (bad) return bad;
  if (m.commit > maxIndex) return `commit ${m.commit} exceeds the maximum ${maxIndex}`;
  if (m.rejectHint > maxIndex) return `reject hint ${m.rejectHint} exceeds the maximum ${maxIndex}`;
  if (termlessTypes.has(m.type)) {
    if (m.term !== 0n) return `${typeName(m.type)} with term ${m.term} (forwarded requests carry term 0)`;
  } else if (m.term === 0n) {
    // raft treats term 0 as a local message and skips every term check.
    return `${typeName(m.type)} with term 0`;
  }
  if (m.type === MT.MsgSnap) return checkSnapshot(m);
  if (m.snapshot !== undefined) return `${typeName(m.type)} carrying a snapshot`;
  return checkEntries(m);
}

/**
 * Rate-limited warnings: the first refusal of a message type from a sender is logged at once,
 * later ones at most once per interval, with the number suppressed in between.
 */
export class RefusalLog {
  /** Keyed by sender and message type: at most members × message types keys. */
  private readonly last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly warn: (fields: Record<string, unknown>, msg: string) => void,
    private readonly intervalMs = 10_000,
    private readonly now: () => number = Date.now,
  ) {}

  refused(from: bigint, type: raftpb.MessageType, reason: string): void {
    const t = this.now();
    const key = `${from.toString(16)}/${type}`;
    const prev = this.last.get(key);
    if (prev && t - prev.at < this.intervalMs) {
      prev.suppressed++;
      return;
    }
    const suppressed = prev?.suppressed ?? 0;
    this.last.set(key, { at: t, suppressed: 0 });
    this.warn(
      {
        'remote-peer-id': from.toString(16),
        'message-type': typeName(type),
        reason,
        ...(suppressed > 0 ? { 'suppressed-since-last': suppressed } : {}),
      },
      'refused a raft message from a peer',
    );
  }
}

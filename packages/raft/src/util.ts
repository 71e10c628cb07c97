// Small helpers shared by the core: message classification, entry sizes, conf-change codecs and
// the human-readable descriptions used by tests and debug output.

import { raftpb } from '@kv/api';
import type { SoftState } from './state.js';
import { raftStateString } from './state.js';
import { confChangesToString } from './confchange/strings.js';
import { panic } from './errors.js';
import type { Ready } from './rawnode.js';

const MT = raftpb.MessageType;

export function minBig(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
}

export function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** Message types only the node itself generates (never accepted from the network). */
export function isLocalMsg(t: raftpb.MessageType): boolean {
  return t === MT.MsgHup || t === MT.MsgBeat || t === MT.MsgUnreachable || t === MT.MsgSnapStatus || t === MT.MsgCheckQuorum;
}

/** Message types that answer a request and therefore need a progress entry for the sender. */
export function isResponseMsg(t: raftpb.MessageType): boolean {
  return t === MT.MsgAppResp || t === MT.MsgVoteResp || t === MT.MsgHeartbeatResp || t === MT.MsgUnreachable || t === MT.MsgPreVoteResp;
}

/** The response type for a (pre-)vote request. */
export function voteRespMsgType(t: raftpb.MessageType): raftpb.MessageType {
  if (t === MT.MsgVote) return MT.MsgVoteResp;
  if (t === MT.MsgPreVote) return MT.MsgPreVoteResp;
  return panic(`not a vote message: ${raftpb.messageTypeToJSON(t)}`);
}

function varintSize(v: bigint | number): number {
  let x = BigInt(v);
  if (x < 0n) x = BigInt.asUintN(64, x);
  let n = 1;
  while (x >= 0x80n) {
    x >>= 7n;
    n++;
  }
  return n;
}

/**
 * Encoded size of an entry as etcd's gogo-protobuf computes it (all scalar fields present, Data
 * only when non-empty). Used for maxSizePerMsg / maxCommittedSizePerReady accounting.
 */
export function entrySize(e: raftpb.Entry): number {
  let n = 1 + varintSize(e.Type) + 1 + varintSize(e.Term) + 1 + varintSize(e.Index);
  const l = e.Data?.length ?? 0;
  if (l > 0) n += 1 + l + varintSize(l);
  return n;
}

/** Size of an entry's payload only (independent of term and index). */
export function payloadSize(e: raftpb.Entry): number {
  return e.Data?.length ?? 0;
}

/**
 * The longest prefix of `ents` whose total encoded size is at most maxSize, but always at least
 * one entry (so that progress is possible with an entry larger than the limit).
 */
export function limitSize(ents: raftpb.Entry[], maxSize: bigint): raftpb.Entry[] {
  if (ents.length === 0) return ents;
  let size = BigInt(entrySize(ents[0]));
  let limit = 1;
  for (; limit < ents.length; limit++) {
    size += BigInt(entrySize(ents[limit]));
    if (size > maxSize) break;
  }
  return limit === ents.length ? ents : ents.slice(0, limit);
}

export function newEntry(p: Partial<raftpb.Entry> = {}): raftpb.Entry {
  return {
    Term: p.Term ?? 0n,
    Index: p.Index ?? 0n,
    Type: p.Type ?? raftpb.EntryType.EntryNormal,
    Data: p.Data ?? Buffer.alloc(0),
  };
}

/** A message with every field at its zero value, overridden by `p`. */
export function newMessage(p: Partial<raftpb.Message> = {}): raftpb.Message {
  return {
    type: p.type ?? MT.MsgHup,
    to: p.to ?? 0n,
    from: p.from ?? 0n,
    term: p.term ?? 0n,
    logTerm: p.logTerm ?? 0n,
    index: p.index ?? 0n,
    entries: p.entries ?? [],
    commit: p.commit ?? 0n,
    snapshot: p.snapshot,
    reject: p.reject ?? false,
    rejectHint: p.rejectHint ?? 0n,
    context: p.context ?? Buffer.alloc(0),
  };
}

export function emptyConfState(): raftpb.ConfState {
  return { voters: [], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };
}

export function emptySnapshot(): raftpb.Snapshot {
  return { data: Buffer.alloc(0), metadata: { index: 0n, term: 0n, confState: emptyConfState() } };
}

export function emptyHardState(): raftpb.HardState {
  return { term: 0n, vote: 0n, commit: 0n };
}

export function isHardStateEqual(a: raftpb.HardState, b: raftpb.HardState): boolean {
  return a.term === b.term && a.vote === b.vote && a.commit === b.commit;
}

export function isEmptyHardState(h: raftpb.HardState): boolean {
  return h.term === 0n && h.vote === 0n && h.commit === 0n;
}

/** A snapshot is "empty" when it carries no index (index 0 is never a real snapshot). */
export function isEmptySnap(s: raftpb.Snapshot | undefined): boolean {
  return s === undefined || (s.metadata?.index ?? 0n) === 0n;
}

export function snapIndex(s: raftpb.Snapshot): bigint {
  return s.metadata?.index ?? 0n;
}

export function snapTerm(s: raftpb.Snapshot): bigint {
  return s.metadata?.term ?? 0n;
}

export function snapConfState(s: raftpb.Snapshot): raftpb.ConfState {
  return s.metadata?.confState ?? emptyConfState();
}

// ---- conf changes ------------------------------------------------------------------------------

/** Either flavour of configuration change a caller may propose or apply. */
export type ConfChangeI = raftpb.ConfChange | raftpb.ConfChangeV2;

/** A V1 change names one node; a V2 change carries a list of changes. */
export function isConfChangeV1(cc: ConfChangeI): cc is raftpb.ConfChange {
  return !Array.isArray((cc as raftpb.ConfChangeV2).changes);
}

/** Any conf change as a V2 (a V1 change is a V2 with one change and the Auto transition). */
export function confChangeAsV2(cc: ConfChangeI): raftpb.ConfChangeV2 {
  if (isConfChangeV1(cc)) {
    return {
      transition: raftpb.ConfChangeTransition.ConfChangeTransitionAuto,
      changes: [{ type: cc.type, nodeId: cc.nodeId }],
      context: cc.context ?? Buffer.alloc(0),
    };
  }
  return cc;
}

/**
 * Whether a V2 change must go through a joint configuration, and if so whether the joint state is
 * left automatically. A single change with the Auto transition is applied directly (simple).
 */
export function confChangeEnterJoint(cc: raftpb.ConfChangeV2): { autoLeave: boolean; ok: boolean } {
  const t = cc.transition;
  if (t !== raftpb.ConfChangeTransition.ConfChangeTransitionAuto || cc.changes.length > 1) {
    switch (t) {
      case raftpb.ConfChangeTransition.ConfChangeTransitionAuto:
      case raftpb.ConfChangeTransition.ConfChangeTransitionJointImplicit:
        return { autoLeave: true, ok: true };
      case raftpb.ConfChangeTransition.ConfChangeTransitionJointExplicit:
        return { autoLeave: false, ok: true };
      default:
        return panic(`unknown conf change transition: ${t}`);
    }
  }
  return { autoLeave: false, ok: false };
}

/** The empty V2 change (context aside) means "leave the joint configuration". */
export function confChangeLeaveJoint(cc: raftpb.ConfChangeV2): boolean {
  return cc.transition === raftpb.ConfChangeTransition.ConfChangeTransitionAuto && cc.changes.length === 0;
}

/** Encodes a conf change as an entry type and payload (V1 stays V1 for compatibility). */
export function marshalConfChange(cc: ConfChangeI): {
  type: raftpb.EntryType;
  data: Buffer;
} {
  if (isConfChangeV1(cc)) {
    return { type: raftpb.EntryType.EntryConfChange, data: Buffer.from(raftpb.ConfChange.encode(cc).finish()) };
  }
  return { type: raftpb.EntryType.EntryConfChangeV2, data: Buffer.from(raftpb.ConfChangeV2.encode(cc).finish()) };
}

/** Decodes the conf change carried by a conf-change entry as a V2, or undefined for normal entries. */
export function entryConfChangeV2(e: raftpb.Entry): raftpb.ConfChangeV2 | undefined {
  if (e.Type === raftpb.EntryType.EntryConfChange) return confChangeAsV2(raftpb.ConfChange.decode(e.Data));
  if (e.Type === raftpb.EntryType.EntryConfChangeV2) return raftpb.ConfChangeV2.decode(e.Data);
  return undefined;
}

function sortedIds(ids: bigint[]): bigint[] {
  return [...ids].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
}

function sameIdSet(a: bigint[], b: bigint[]): boolean {
  const x = sortedIds(a);
  const y = sortedIds(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}

/** Two ConfStates describe the same configuration (member order does not matter). */
export function confStatesEquivalent(a: raftpb.ConfState, b: raftpb.ConfState): boolean {
  return (
    sameIdSet(a.voters, b.voters) &&
    sameIdSet(a.learners, b.learners) &&
    sameIdSet(a.votersOutgoing, b.votersOutgoing) &&
    sameIdSet(a.learnersNext, b.learnersNext) &&
    a.autoLeave === b.autoLeave
  );
}

// ---- descriptions (debugging and data-driven tests) ---------------------------------------------

/** Formats entry payloads; the default prints them as a quoted string. */
export type EntryFormatter = (data: Buffer) => string;

const hex = (v: bigint): string => v.toString(16);

function quote(data: Buffer): string {
  return JSON.stringify(data.toString('latin1'));
}

function idList(ids: bigint[]): string {
  return `[${ids.map((i) => i.toString()).join(' ')}]`;
}

export function describeHardState(hs: raftpb.HardState): string {
  let s = `Term:${hs.term}`;
  if (hs.vote !== 0n) s += ` Vote:${hs.vote}`;
  return s + ` Commit:${hs.commit}`;
}

export function describeSoftState(ss: SoftState): string {
  return `Lead:${ss.lead} State:${raftStateString(ss.raftState)}`;
}

export function describeConfState(cs: raftpb.ConfState): string {
  return (
    `Voters:${idList(cs.voters)} VotersOutgoing:${idList(cs.votersOutgoing)} ` +
    `Learners:${idList(cs.learners)} LearnersNext:${idList(cs.learnersNext)} AutoLeave:${cs.autoLeave}`
  );
}

export function describeSnapshot(s: raftpb.Snapshot): string {
  return `Index:${snapIndex(s)} Term:${snapTerm(s)} ConfState:${describeConfState(snapConfState(s))}`;
}

/** "term/index Type payload", e.g. `1/3 EntryNormal "data"`. */
export function describeEntry(e: raftpb.Entry, f?: EntryFormatter): string {
  const fmt = f ?? quote;
  let formatted: string;
  switch (e.Type) {
    case raftpb.EntryType.EntryNormal:
      formatted = fmt(e.Data);
      break;
    case raftpb.EntryType.EntryConfChange:
    case raftpb.EntryType.EntryConfChangeV2:
      try {
        formatted = confChangesToString(entryConfChangeV2(e)!.changes);
      } catch (err) {
        formatted = String(err);
      }
      break;
    default:
      formatted = '';
  }
  if (formatted !== '') formatted = ' ' + formatted;
  return `${e.Term}/${e.Index} ${raftpb.entryTypeToJSON(e.Type)}${formatted}`;
}

/** One described entry per line, each followed by a newline. */
export function describeEntries(ents: raftpb.Entry[], f?: EntryFormatter): string {
  return ents.map((e) => describeEntry(e, f) + '\n').join('');
}

/** "from->to Type Term:t Log:logTerm/index [Rejected (Hint: h)] [Commit:c] [Entries:[...]]". */
export function describeMessage(m: raftpb.Message, f?: EntryFormatter): string {
  let s = `${hex(m.from)}->${hex(m.to)} ${raftpb.messageTypeToJSON(m.type)} Term:${m.term} Log:${m.logTerm}/${m.index}`;
  if (m.reject) s += ` Rejected (Hint: ${m.rejectHint})`;
  if (m.commit !== 0n) s += ` Commit:${m.commit}`;
  if (m.entries.length > 0) s += ` Entries:[${m.entries.map((e) => describeEntry(e, f)).join(', ')}]`;
  if (!isEmptySnap(m.snapshot)) s += ` Snapshot: ${describeSnapshot(m.snapshot!)}`;
  return s;
}

/** Multi-line description of a Ready (tests and debugging); "<empty Ready>" if nothing is in it. */
export function describeReady(rd: Ready, f?: EntryFormatter): string {
  let s = '';
  if (rd.softState !== undefined) s += describeSoftState(rd.softState) + '\n';
  if (rd.hardState !== undefined && !isEmptyHardState(rd.hardState)) s += `HardState ${describeHardState(rd.hardState)}\n`;
  if (rd.readStates.length > 0) {
    s += 'ReadStates:\n';
    for (const r of rd.readStates) s += `index=${r.index} ctx=${(f ?? quote)(r.requestCtx)}\n`;
  }
  if (rd.entries.length > 0) s += 'Entries:\n' + describeEntries(rd.entries, f);
  if (rd.snapshot !== undefined && !isEmptySnap(rd.snapshot)) s += `Snapshot ${describeSnapshot(rd.snapshot)}\n`;
  if (rd.committedEntries.length > 0) s += 'CommittedEntries:\n' + describeEntries(rd.committedEntries, f);
  if (rd.messages.length > 0) s += 'Messages:\n' + rd.messages.map((m) => describeMessage(m, f) + '\n').join('');
  return s !== '' ? `Ready MustSync=${rd.mustSync}:\n${s}` : '<empty Ready>';
}

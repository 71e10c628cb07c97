// Cluster membership as the state machine sees it: the members, learners and removed ids, changed
// only by applied conf-change entries (and attribute updates), persisted in the `members` and
// `membersRemoved` buckets with etcd's layout — key: the member id in hex, value: the member as
// JSON `{"id","peerURLs","name","clientURLs","isLearner"}` — so the list survives restarts and
// travels with backend snapshots.
import { raftpb } from '@kv/api';

export interface MemberRecord {
  id: bigint;
  name: string;
  peerURLs: string[];
  clientURLs: string[];
  isLearner: boolean;
}

export interface MembersBucket {
  put(bucket: 'members' | 'membersRemoved', key: Buffer, value: Buffer): void;
  del(bucket: 'members' | 'membersRemoved', key: Buffer): void;
}

/**
 * The JSON etcd puts in a conf change's context and in the members bucket: Go's json.Marshal of
 * etcd's Member — fields in its struct order (id, then RaftAttributes' peerURLs and isLearner,
 * then Attributes' name and clientURLs), the omitempty ones (isLearner, name, clientURLs) left
 * out when empty, and Go's escapes of <, >, &, U+2028 and U+2029.
 */
export function encodeMember(m: MemberRecord): Buffer {
  const o: Record<string, unknown> = { id: '@ID@', peerURLs: m.peerURLs };
  if (m.isLearner) o.isLearner = true;
  if (m.name !== '') o.name = m.name;
  if (m.clientURLs.length > 0) o.clientURLs = m.clientURLs;
  // Ids are uint64: written as a JSON number literal without going through a JS number.
  const body = JSON.stringify(o).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  return Buffer.from(body.replace('"@ID@"', m.id.toString()));
}

export function decodeMember(buf: Buffer): MemberRecord {
  const text = buf.toString('utf8');
  const idMatch = /"id"\s*:\s*(\d+)/.exec(text);
  const o = JSON.parse(text) as Partial<Omit<MemberRecord, 'id'>>;
  if (!idMatch) throw new Error(`member record without id: ${text}`);
  return {
    id: BigInt(idMatch[1]),
    name: o.name ?? '',
    peerURLs: o.peerURLs ?? [],
    clientURLs: o.clientURLs ?? [],
    isLearner: o.isLearner ?? false,
  };
}

const keyOf = (id: bigint) => Buffer.from(id.toString(16));

export class Membership {
  private readonly members = new Map<bigint, MemberRecord>();
  private readonly removed = new Set<bigint>();

  restore(members: Iterable<Buffer>, removed: Iterable<Buffer>): void {
    this.members.clear();
    this.removed.clear();
    for (const v of members) {
      const m = decodeMember(v);
      this.members.set(m.id, m);
    }
    for (const k of removed) this.removed.add(BigInt(`0x${k.toString()}`));
  }

  list(): MemberRecord[] {
    return [...this.members.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  get(id: bigint): MemberRecord | undefined {
    return this.members.get(id);
  }

  isRemoved(id: bigint): boolean {
    return this.removed.has(id);
  }

  /** Applies a committed conf change (V1, with etcd's JSON member in its context). */
  applyConfChange(cc: raftpb.ConfChange, bucket: MembersBucket): void {
    const T = raftpb.ConfChangeType;
    switch (cc.type) {
      case T.ConfChangeAddNode:
      case T.ConfChangeAddLearnerNode: {
        const existing = this.members.get(cc.nodeId);
        const fromCtx = cc.context.length > 0 ? decodeMember(cc.context) : undefined;
        const m: MemberRecord = {
          id: cc.nodeId,
          name: existing?.name ?? fromCtx?.name ?? '',
          peerURLs: fromCtx?.peerURLs ?? existing?.peerURLs ?? [],
          clientURLs: existing?.clientURLs ?? fromCtx?.clientURLs ?? [],
          // AddNode of an existing learner promotes it.
          isLearner: cc.type === T.ConfChangeAddLearnerNode,
        };
        this.members.set(m.id, m);
        bucket.put('members', keyOf(m.id), encodeMember(m));
        break;
      }
      case T.ConfChangeRemoveNode:
        this.members.delete(cc.nodeId);
        this.removed.add(cc.nodeId);
        bucket.del('members', keyOf(cc.nodeId));
        bucket.put('membersRemoved', keyOf(cc.nodeId), Buffer.from('removed'));
        break;
      case T.ConfChangeUpdateNode: {
        const existing = this.members.get(cc.nodeId);
        if (!existing) break;
        const fromCtx = decodeMember(cc.context);
        const m = { ...existing, peerURLs: fromCtx.peerURLs };
        this.members.set(m.id, m);
        bucket.put('members', keyOf(m.id), encodeMember(m));
        break;
      }
    }
  }

  /** Applies a member's published attributes (name and client URLs). */
  setAttributes(id: bigint, name: string, clientURLs: string[], bucket: MembersBucket): void {
    const existing = this.members.get(id);
    if (!existing) return;
    const m = { ...existing, name, clientURLs };
    this.members.set(id, m);
    bucket.put('members', keyOf(id), encodeMember(m));
  }
}

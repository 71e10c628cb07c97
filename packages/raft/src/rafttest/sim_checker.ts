// The safety properties of Raft (paper, figure 3) checked by the whole-cluster simulation. Every
// check is sound: it only fails on an execution that violates the property.
//
// - Election Safety: at most one leader per term (seen as Leader at a step, or sending
//   MsgApp/MsgHeartbeat/MsgSnap of that term).
// - Log Matching, over the durable logs: two persisted entries with the same index and term carry
//   the same data and follow entries of the same term. (By induction this is "same index and term
//   => identical prefixes".) Durable logs change only when written, so checking each write is
//   checking every step.
// - Commit agreement: any node's durable commit index covers only entries of the agreed term at
//   each index.
// - Leader Completeness: an entry committed in term t is in the log of every leader of a term > t.
//   The term an entry was committed in is bounded from above by observing durable (term, commit
//   index) pairs: a node at term T whose commit index covers i proves i was committed in a term
//   <= T.
// - State Machine Safety: no two nodes apply different entries at an index; state machine digests
//   (also carried inside snapshots) agree at every index.

import type { raftpb } from '@kv/api';
import type { Raft } from '../raft.js';
import type { MemoryStorage } from '../storage.js';

/** A violated safety property. */
export class SafetyViolation extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SafetyViolation';
  }
}

function fail(msg: string): never {
  throw new SafetyViolation(msg);
}

/** What an entry is, for comparisons: type and data (index and term are compared separately). */
export function entryKey(e: raftpb.Entry): string {
  return `${e.Type}:${e.Data.toString('latin1')}`;
}

/** Rolling digest of an applied log prefix (FNV-1a style, 32 bits). */
export function digestEntry(prev: number, e: raftpb.Entry): number {
  let h = Math.imul(prev ^ 0x9e37_79b9, 0x0100_0193);
  h = Math.imul(h ^ Number(e.Index), 0x85eb_ca6b);
  h = Math.imul(h ^ Number(e.Term), 0xc2b2_ae35);
  h = Math.imul(h ^ e.Type, 0x0100_0193);
  for (const b of e.Data) h = Math.imul(h ^ b, 0x0100_0193);
  return h >>> 0;
}

export class SafetyChecker {
  /** term → leader id. */
  private readonly leaderOfTerm = new Map<bigint, bigint>();
  /** `${index}/${term}` → term of the previous entry and the entry's key, as first persisted. */
  private readonly durable = new Map<string, { prevTerm: bigint; key: string; by: bigint }>();
  /** Agreed term of each committed index (by Number(index)). */
  private readonly termAt: bigint[] = [];
  /** Agreed applied entry and state machine digest at each index. */
  private readonly entryAt: string[] = [];
  private readonly digestAt: number[] = [];
  /** term → largest commit index seen on a node at that term. */
  private readonly maxCommitAtTerm = new Map<bigint, bigint>();
  /** `${id}/${term}` → indexes verified for that leader (Leader Completeness). */
  private readonly verifiedUpTo = new Map<string, bigint>();

  /** Highest index applied anywhere. */
  maxApplied = 0n;

  /** Election Safety. */
  leader(id: bigint, term: bigint): void {
    const known = this.leaderOfTerm.get(term);
    if (known === undefined) this.leaderOfTerm.set(term, id);
    else if (known !== id) fail(`election safety: two leaders in term ${term}: ${known} and ${id}`);
  }

  /** Number of terms that had a leader. */
  leaderTerms(): number {
    return this.leaderOfTerm.size;
  }

  /** Log Matching: `ents` were just written to `log` (the durable log of node `id`). */
  durableEntries(id: bigint, log: MemoryStorage, ents: raftpb.Entry[]): void {
    for (const e of ents) {
      const prevTerm = log.term(e.Index - 1n);
      const key = entryKey(e);
      const k = `${e.Index}/${e.Term}`;
      const seen = this.durable.get(k);
      if (seen === undefined) {
        this.durable.set(k, { prevTerm, key, by: id });
      } else if (seen.key !== key || seen.prevTerm !== prevTerm) {
        fail(
          `log matching: entry ${e.Index}/${e.Term} persisted by ${id} (prev term ${prevTerm}, ${key}) differs from node ${seen.by}'s (prev term ${seen.prevTerm}, ${seen.key})`,
        );
      }
    }
  }

  /**
   * Commit agreement for node `id`, from its durable state: the entries up to the durable commit
   * index (after `checkedTo`) of its durable log. Returns the new watermark. Also records the
   * (term, commit) observation for Leader Completeness.
   *
   * The durable commit index, not the in-memory one: a single voter counts itself as holding an
   * entry as soon as it appends it and so "commits" entries it has not persisted; nothing can
   * observe that commit before the Ready carrying those entries is persisted (that Ready hands out
   * the committed entries and the messages announcing the commit), and a crash first loses both.
   */
  committed(id: bigint, hs: raftpb.HardState, log: MemoryStorage, checkedTo: bigint): bigint {
    const committed = hs.commit;
    this.observeCommit(hs.term, committed);
    if (committed <= checkedTo) return checkedTo;
    let i = log.firstIndex() - 1n;
    if (i <= checkedTo) i = checkedTo + 1n;
    const last = log.lastIndex();
    if (committed > last) fail(`durable state of node ${id}: commit index ${committed} beyond its last entry ${last}`);
    for (; i <= committed; i++) {
      const t = log.term(i);
      const n = Number(i);
      const agreed = this.termAt[n];
      if (agreed === undefined) this.termAt[n] = t;
      else if (agreed !== t) fail(`commit agreement: node ${id} committed index ${i} at term ${t}, but it was committed at term ${agreed}`);
    }
    return committed;
  }

  /**
   * A node at `term` knows that everything up to `index` is committed (it applied it, or its
   * durable commit index covers it): those entries were committed in a term <= `term`.
   */
  observeCommit(term: bigint, index: bigint): void {
    const prev = this.maxCommitAtTerm.get(term);
    if (prev === undefined || prev < index) this.maxCommitAtTerm.set(term, index);
  }

  /** Leader Completeness for a node that is currently leader of r.term. */
  leaderCompleteness(id: bigint, r: Raft): void {
    const T = r.term;
    // Every index <= q was committed in a term < T.
    let q = 0n;
    for (const [t, c] of this.maxCommitAtTerm) if (t < T && c > q) q = c;
    const key = `${id}/${T}`;
    const from = this.verifiedUpTo.get(key) ?? 0n;
    if (q <= from) return;
    const log = r.raftLog;
    const first = log.firstIndex();
    const last = log.lastIndex();
    for (let i = from + 1n; i <= q; i++) {
      if (i < first - 1n) continue; // compacted: covered by its snapshot (checked by digest)
      const agreed = this.termAt[Number(i)];
      if (agreed === undefined) continue;
      if (i > last) fail(`leader completeness: leader ${id} of term ${T} lacks committed index ${i} (last index ${last})`);
      const t = log.term(i);
      if (t !== agreed) {
        fail(`leader completeness: leader ${id} of term ${T} has term ${t} at committed index ${i}, committed at term ${agreed}`);
      }
    }
    this.verifiedUpTo.set(key, q);
  }

  /** State Machine Safety: node `id` applied `e`, its state machine digest is now `digest`. */
  applied(id: bigint, e: raftpb.Entry, digest: number): void {
    const n = Number(e.Index);
    const key = `${e.Term}:${entryKey(e)}`;
    const agreed = this.entryAt[n];
    if (agreed === undefined) this.entryAt[n] = key;
    else if (agreed !== key)
      fail(`state machine safety: node ${id} applied ${JSON.stringify(key)} at index ${e.Index}, another node ${JSON.stringify(agreed)}`);
    const t = this.termAt[n];
    if (t === undefined) this.termAt[n] = e.Term;
    else if (t !== e.Term) fail(`state machine safety: node ${id} applied index ${e.Index} of term ${e.Term}, committed at term ${t}`);
    this.digest(id, e.Index, digest);
  }

  /** A node installed a snapshot at `index` whose state machine digest is `digest`. */
  snapshotInstalled(id: bigint, index: bigint, term: bigint, digest: number): void {
    const n = Number(index);
    const t = this.termAt[n];
    if (t === undefined) this.termAt[n] = term;
    else if (t !== term) fail(`state machine safety: node ${id} installed a snapshot at ${index}/${term}, committed at term ${t}`);
    this.digest(id, index, digest);
  }

  /** The agreed applied entry key at index (`term:type:data`), if anyone applied it. */
  appliedEntry(index: bigint): string | undefined {
    return this.entryAt[Number(index)];
  }

  private digest(id: bigint, index: bigint, digest: number): void {
    const n = Number(index);
    const agreed = this.digestAt[n];
    if (agreed === undefined) this.digestAt[n] = digest;
    else if (agreed !== digest) fail(`state machine safety: node ${id}'s state machine at index ${index} differs from another node's`);
    if (index > this.maxApplied) this.maxApplied = index;
  }
}

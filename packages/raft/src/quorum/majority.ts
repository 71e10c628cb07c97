// MajorityConfig: a set of voters deciding by simple majority.

import { type AckedIndexer, compareBigint, type Index, MaxIndex, sortedIds, VoteResult } from './quorum.js';

/**
 * A set of voter ids that makes decisions by majority (more than half of its members).
 * It is a Set<bigint>, so membership operations are the usual has/add/delete/size.
 */
export class MajorityConfig extends Set<bigint> {
  constructor(ids?: Iterable<bigint>) {
    super(ids);
  }

  /** The members, sorted ascending. */
  slice(): bigint[] {
    return sortedIds(this);
  }

  clone(): MajorityConfig {
    return new MajorityConfig(this);
  }

  /** "(1 2 3)": the members in ascending order. */
  override toString(): string {
    return `(${this.slice().join(' ')})`;
  }

  /**
   * A multi-line picture of the acked indexes of the members, for tests: one row per voter in id
   * order, with a bar whose length is the voter's rank by index, and "?" for voters without a
   * known index.
   */
  describe(l: AckedIndexer): string {
    if (this.size === 0) return '<empty majority quorum>';
    const n = this.size;
    const info = [...this].map((id) => {
      const idx = l.ackedIndex(id);
      return { id, idx: idx ?? 0n, ok: idx !== undefined, bar: 0 };
    });
    // Rank by index (ties broken by id). A row whose index is strictly above the previous row's
    // gets its rank as bar; a row tying with its predecessor keeps bar 0. (This quirk is what
    // etcd's testdata expects, so the pictures stay byte-identical.)
    info.sort((a, b) => compareBigint(a.idx, b.idx) || compareBigint(a.id, b.id));
    for (let i = 1; i < info.length; i++) {
      if (info[i - 1].idx < info[i].idx) info[i].bar = i;
    }
    info.sort((a, b) => compareBigint(a.id, b.id));
    let out = ' '.repeat(n) + '    idx\n';
    for (const t of info) {
      out += t.ok ? 'x'.repeat(t.bar) + '>' + ' '.repeat(n - t.bar) : '?' + ' '.repeat(n);
      out += ` ${t.idx.toString().padStart(5)}    (id=${t.id})\n`;
    }
    return out;
  }

  /**
   * The largest index acknowledged by a majority of the members. Members without a known index
   * count as having acked 0. The empty config returns MaxIndex so that, as one half of a joint
   * config, it defers entirely to the other half.
   */
  committedIndex(l: AckedIndexer): Index {
    const n = this.size;
    if (n === 0) return MaxIndex;
    const acked: bigint[] = [];
    for (const id of this) acked.push(l.ackedIndex(id) ?? 0n);
    // Sorted descending, the (quorum-1)-th entry is the highest index that at least a quorum of
    // members has reached.
    acked.sort((a, b) => compareBigint(b, a));
    return acked[Math.floor(n / 2)];
  }

  /**
   * Decides an election from the votes recorded so far (true = granted). Votes of non-members are
   * ignored. By convention the empty config wins, so a joint config with an empty half behaves
   * like its other half.
   */
  voteResult(votes: ReadonlyMap<bigint, boolean>): VoteResult {
    if (this.size === 0) return VoteResult.VoteWon;
    let yes = 0;
    let missing = 0;
    for (const id of this) {
      const v = votes.get(id);
      if (v === undefined) missing++;
      else if (v) yes++;
    }
    const q = Math.floor(this.size / 2) + 1;
    if (yes >= q) return VoteResult.VoteWon;
    if (yes + missing >= q) return VoteResult.VotePending;
    return VoteResult.VoteLost;
  }
}

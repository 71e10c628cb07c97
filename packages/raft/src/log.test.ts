import { describe, expect, it } from 'vitest';
import type { raftpb } from '@kv/api';
import { ErrCompacted, RaftPanic } from './errors.js';
import { RaftLog } from './log.js';
import { noLimit } from './state.js';
import { MemoryStorage } from './storage.js';
import { emptyConfState, entrySize, newEntry } from './util.js';

const e = (index: number | bigint, term: number | bigint) => newEntry({ Index: BigInt(index), Term: BigInt(term) });
const es = (...p: [number, number][]) => p.map(([i, t]) => e(i, t));
const pairs = (ents: raftpb.Entry[]) => ents.map((x) => [Number(x.Index), Number(x.Term)]);
const snap = (index: number, term: number): raftpb.Snapshot => ({
  data: Buffer.alloc(0),
  metadata: { index: BigInt(index), term: BigInt(term), confState: emptyConfState() },
});

function logWith(...ents: raftpb.Entry[]): RaftLog {
  const l = new RaftLog(new MemoryStorage());
  l.append(ents);
  return l;
}

function catchErr(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('RaftLog', () => {
  it('findConflict returns the first new or conflicting index (§5.3 consistency)', () => {
    const cases: [[number, number][], number][] = [
      [[], 0],
      [
        [
          [1, 1],
          [2, 2],
          [3, 3],
        ],
        0,
      ],
      [
        [
          [2, 2],
          [3, 3],
        ],
        0,
      ],
      [[[3, 3]], 0],
      [
        [
          [1, 1],
          [2, 2],
          [3, 3],
          [4, 4],
          [5, 4],
        ],
        4,
      ],
      [
        [
          [2, 2],
          [3, 3],
          [4, 4],
          [5, 4],
        ],
        4,
      ],
      [
        [
          [3, 3],
          [4, 4],
          [5, 4],
        ],
        4,
      ],
      [
        [
          [4, 4],
          [5, 4],
        ],
        4,
      ],
      [
        [
          [1, 4],
          [2, 4],
        ],
        1,
      ],
      [
        [
          [2, 1],
          [3, 4],
          [4, 4],
        ],
        2,
      ],
      [
        [
          [3, 1],
          [4, 2],
          [5, 4],
          [6, 4],
        ],
        3,
      ],
    ];
    for (const [ents, w] of cases) {
      expect(logWith(...es([1, 1], [2, 2], [3, 3])).findConflict(es(...ents))).toBe(BigInt(w));
    }
  });

  it('findConflictByTerm finds the last index <= index whose term <= term (fast backtracking)', () => {
    // Log terms by index: 1:1 2:1 3:2 4:2 5:4 6:4 7:5
    const l = logWith(...es([1, 1], [2, 1], [3, 2], [4, 2], [5, 4], [6, 4], [7, 5]));
    expect(l.findConflictByTerm(7n, 5n)).toBe(7n);
    expect(l.findConflictByTerm(7n, 4n)).toBe(6n);
    expect(l.findConflictByTerm(7n, 3n)).toBe(4n);
    expect(l.findConflictByTerm(6n, 2n)).toBe(4n);
    expect(l.findConflictByTerm(7n, 1n)).toBe(2n);
    expect(l.findConflictByTerm(7n, 0n)).toBe(0n);
    // Past the last index: returned unchanged.
    expect(l.findConflictByTerm(9n, 1n)).toBe(9n);
    // With a compacted prefix the search stops at the first index whose term is unknown.
    const st = new MemoryStorage();
    st.applySnapshot(snap(4, 2));
    st.append(es([5, 4], [6, 4], [7, 5]));
    const lc = new RaftLog(st);
    expect(lc.findConflictByTerm(7n, 3n)).toBe(4n); // the snapshot index, term 2
    expect(lc.findConflictByTerm(7n, 1n)).toBe(3n); // below the snapshot: unknown
  });

  it('isUpToDate compares last term, then last index (§5.4.1)', () => {
    const l = logWith(...es([1, 1], [2, 2], [3, 3]));
    const li = l.lastIndex();
    const cases: [bigint, number, boolean][] = [
      [li - 1n, 4, true],
      [li, 4, true],
      [li + 1n, 4, true],
      [li - 1n, 2, false],
      [li, 2, false],
      [li + 1n, 2, false],
      [li - 1n, 3, false],
      [li, 3, true],
      [li + 1n, 3, true],
    ];
    for (const [i, t, w] of cases) expect(l.isUpToDate(i, BigInt(t))).toBe(w);
  });

  it('append truncates conflicting suffixes, including stable entries', () => {
    const cases: [[number, number][], number, [number, number][], number][] = [
      [
        [],
        2,
        [
          [1, 1],
          [2, 2],
        ],
        3,
      ],
      [
        [[3, 2]],
        3,
        [
          [1, 1],
          [2, 2],
          [3, 2],
        ],
        3,
      ],
      [[[1, 2]], 1, [[1, 2]], 1],
      [
        [
          [2, 3],
          [3, 3],
        ],
        3,
        [
          [1, 1],
          [2, 3],
          [3, 3],
        ],
        2,
      ],
    ];
    for (const [ents, windex, wents, wunstable] of cases) {
      const st = new MemoryStorage();
      st.append(es([1, 1], [2, 2]));
      const l = new RaftLog(st);
      expect(l.append(es(...ents))).toBe(BigInt(windex));
      expect(pairs(l.entries(1n, noLimit))).toEqual(wents);
      expect(l.unstable.offset).toBe(BigInt(wunstable));
    }
  });

  it('maybeAppend: consistency check, truncation, commit never past the new entries', () => {
    const lastindex = 3;
    const lastterm = 3;
    const commit = 1;
    type Case = [number, number, number, [number, number][], number | undefined, number, boolean];
    // logTerm, index, committed, ents, want last (undefined = rejected), want commit, want panic
    const cases: Case[] = [
      [lastterm - 1, lastindex, lastindex, [[lastindex + 1, 4]], undefined, commit, false],
      [lastterm, lastindex + 1, lastindex, [[lastindex + 2, 4]], undefined, commit, false],
      [lastterm, lastindex, lastindex, [], lastindex, lastindex, false],
      [lastterm, lastindex, lastindex + 1, [], lastindex, lastindex, false],
      [lastterm, lastindex, lastindex - 1, [], lastindex, lastindex - 1, false],
      [lastterm, lastindex, 0, [], lastindex, commit, false],
      [0, 0, lastindex, [], 0, commit, false],
      [lastterm, lastindex, lastindex, [[lastindex + 1, 4]], lastindex + 1, lastindex, false],
      [lastterm, lastindex, lastindex + 1, [[lastindex + 1, 4]], lastindex + 1, lastindex + 1, false],
      [lastterm, lastindex, lastindex + 2, [[lastindex + 1, 4]], lastindex + 1, lastindex + 1, false],
      [
        lastterm,
        lastindex,
        lastindex + 2,
        [
          [lastindex + 1, 4],
          [lastindex + 2, 4],
        ],
        lastindex + 2,
        lastindex + 2,
        false,
      ],
      [lastterm - 1, lastindex - 1, lastindex, [[lastindex, 4]], lastindex, lastindex, false],
      [lastterm - 2, lastindex - 2, lastindex, [[lastindex - 1, 4]], lastindex - 1, lastindex - 1, false],
      // Conflicts with a committed entry.
      [lastterm - 3, lastindex - 3, lastindex, [[lastindex - 2, 4]], lastindex - 2, lastindex - 2, true],
      [
        lastterm - 2,
        lastindex - 2,
        lastindex,
        [
          [lastindex - 1, 4],
          [lastindex, 4],
        ],
        lastindex,
        lastindex,
        false,
      ],
    ];
    for (const [logTerm, index, committed, ents, wlast, wcommit, wpanic] of cases) {
      const l = logWith(...es([1, 1], [2, 2], [3, 3]));
      l.committed = BigInt(commit);
      if (wpanic) {
        expect(() => l.maybeAppend(BigInt(index), BigInt(logTerm), BigInt(committed), es(...ents))).toThrow(RaftPanic);
        continue;
      }
      const got = l.maybeAppend(BigInt(index), BigInt(logTerm), BigInt(committed), es(...ents));
      expect(got).toBe(wlast === undefined ? undefined : BigInt(wlast));
      expect(l.committed).toBe(BigInt(wcommit));
      if (got !== undefined && ents.length > 0) {
        expect(pairs(l.slice(l.lastIndex() - BigInt(ents.length) + 1n, l.lastIndex() + 1n, noLimit))).toEqual(ents);
      }
    }
  });

  it('works across a storage compaction (750 stable, 250 unstable, compacted at 500)', () => {
    const st = new MemoryStorage();
    for (let i = 1; i <= 750; i++) st.append([e(i, i)]);
    const l = new RaftLog(st);
    for (let i = 750; i < 1000; i++) l.append([e(i + 1, i + 1)]);
    expect(l.maybeCommit(1000n, 1000n)).toBe(true);
    l.appliedTo(l.committed);
    st.compact(500n);
    expect(l.lastIndex()).toBe(1000n);
    for (let j = 500n; j <= 1000n; j++) {
      expect(l.term(j)).toBe(j);
      expect(l.matchTerm(j, j)).toBe(true);
    }
    expect(l.unstableEntries().length).toBe(250);
    expect(l.unstableEntries()[0].Index).toBe(751n);
    l.append([e(1001, 1001)]);
    expect(l.entries(1001n, noLimit).length).toBe(1);
    expect(catchErr(() => l.entries(499n, noLimit))).toBe(ErrCompacted);
  });

  it('nextEnts / hasNextEnts: committed but unapplied, starting after the snapshot', () => {
    const cases: [number, boolean, [number, number][]][] = [
      [
        0,
        true,
        [
          [4, 1],
          [5, 1],
        ],
      ],
      [
        3,
        true,
        [
          [4, 1],
          [5, 1],
        ],
      ],
      [4, true, [[5, 1]]],
      [5, false, []],
    ];
    for (const [applied, whas, wents] of cases) {
      const st = new MemoryStorage();
      st.applySnapshot(snap(3, 1));
      const l = new RaftLog(st);
      l.append(es([4, 1], [5, 1], [6, 1]));
      l.maybeCommit(5n, 1n);
      l.appliedTo(BigInt(applied));
      expect(l.hasNextEnts()).toBe(whas);
      expect(pairs(l.nextEnts())).toEqual(wents);
    }
  });

  it('nextEnts honours the byte budget but always returns one entry', () => {
    const st = new MemoryStorage();
    const l = new RaftLog(st, 0n);
    l.append(es([1, 1], [2, 1], [3, 1]));
    l.commitTo(3n);
    expect(pairs(l.nextEnts())).toEqual([[1, 1]]);
    const l2 = new RaftLog(new MemoryStorage(), BigInt(entrySize(e(1, 1)) * 2));
    l2.append(es([1, 1], [2, 1], [3, 1]));
    l2.commitTo(3n);
    expect(pairs(l2.nextEnts())).toEqual([
      [1, 1],
      [2, 1],
    ]);
  });

  it('unstableEntries shrink as the application persists them', () => {
    const st = new MemoryStorage();
    st.append(es([1, 1], [2, 2]));
    const l = new RaftLog(st);
    l.append(es([3, 1], [4, 2]));
    expect(pairs(l.unstableEntries())).toEqual([
      [3, 1],
      [4, 2],
    ]);
    const ents = l.unstableEntries();
    st.append(ents);
    l.stableTo(4n, 2n);
    expect(l.unstableEntries()).toEqual([]);
    expect(l.unstable.offset).toBe(5n);
  });

  it('commitTo never decreases and panics past the last index', () => {
    for (const [c, w] of [
      [3, 3],
      [1, 2],
    ] as const) {
      const l = logWith(...es([1, 1], [2, 2], [3, 3]));
      l.committed = 2n;
      l.commitTo(BigInt(c));
      expect(l.committed).toBe(BigInt(w));
    }
    const l = logWith(...es([1, 1], [2, 2], [3, 3]));
    expect(() => l.commitTo(4n)).toThrow(RaftPanic);
  });

  it('appliedTo keeps applied <= committed and never goes back', () => {
    const l = logWith(...es([1, 1], [2, 2], [3, 3]));
    l.commitTo(2n);
    l.appliedTo(2n);
    expect(l.applied).toBe(2n);
    expect(() => l.appliedTo(3n)).toThrow(RaftPanic);
    expect(() => l.appliedTo(1n)).toThrow(RaftPanic);
  });

  it('stableTo with a snapshot only applies to entries after it', () => {
    const cases: [number, number, [number, number][], number][] = [
      // stable i, t, new entries, want unstable offset
      [6, 2, [], 6],
      [6, 3, [], 6],
      [5, 2, [], 6],
      [6, 2, [[6, 2]], 7],
      [6, 3, [[6, 2]], 6],
      [5, 2, [[6, 2]], 6],
    ];
    for (const [i, t, ents, woffset] of cases) {
      const st = new MemoryStorage();
      st.applySnapshot(snap(5, 2));
      const l = new RaftLog(st);
      l.append(es(...ents));
      l.stableTo(BigInt(i), BigInt(t));
      expect(l.unstable.offset).toBe(BigInt(woffset));
    }
  });

  it('term: 0 outside the log, the snapshot term at its index, compacted below', () => {
    const st = new MemoryStorage();
    st.applySnapshot(snap(100, 100));
    const l = new RaftLog(st);
    for (let i = 1; i < 100; i++) l.append([e(100 + i, i)]);
    expect(l.term(99n)).toBe(0n);
    expect(l.term(100n)).toBe(100n);
    expect(l.term(150n)).toBe(50n);
    expect(l.term(199n)).toBe(99n);
    expect(l.term(200n)).toBe(0n);
  });

  it('term with an unstable snapshot', () => {
    const st = new MemoryStorage();
    st.applySnapshot(snap(100, 1));
    const l = new RaftLog(st);
    l.restore(snap(105, 5));
    expect(l.term(99n)).toBe(0n);
    expect(l.term(100n)).toBe(0n); // now below the log
    expect(l.term(105n)).toBe(5n);
    expect(l.term(106n)).toBe(0n);
    expect(l.committed).toBe(105n);
    expect(l.firstIndex()).toBe(106n);
    expect(l.lastIndex()).toBe(105n);
  });

  it('restore resets the log to the snapshot', () => {
    const st = new MemoryStorage();
    st.applySnapshot(snap(1000, 1000));
    const l = new RaftLog(st);
    expect(l.allEntries()).toEqual([]);
    expect(l.firstIndex()).toBe(1001n);
    expect(l.committed).toBe(1000n);
    expect(l.applied).toBe(1000n);
    expect(l.unstable.offset).toBe(1001n);
    expect(l.term(1000n)).toBe(1000n);
  });

  it('slice spans stable and unstable parts, with limits and bounds', () => {
    const offset = 100;
    const num = 100;
    const last = offset + num;
    const half = offset + num / 2;
    const halfSize = BigInt(entrySize(e(half, half)));
    const st = new MemoryStorage();
    st.applySnapshot(snap(offset, 0));
    for (let i = 1; i < num / 2; i++) st.append([e(offset + i, offset + i)]);
    const l = new RaftLog(st);
    for (let i = num / 2; i < num; i++) l.append([e(offset + i, offset + i)]);

    const range = (lo: number, hi: number) => Array.from({ length: hi - lo }, (_, k) => [lo + k, lo + k]);
    expect(catchErr(() => l.slice(BigInt(offset - 1), BigInt(offset + 1), noLimit))).toBe(ErrCompacted);
    expect(catchErr(() => l.slice(BigInt(offset), BigInt(offset + 1), noLimit))).toBe(ErrCompacted);
    expect(pairs(l.slice(BigInt(half - 1), BigInt(half + 1), noLimit))).toEqual(range(half - 1, half + 1));
    expect(pairs(l.slice(BigInt(half), BigInt(half + 1), noLimit))).toEqual(range(half, half + 1));
    expect(pairs(l.slice(BigInt(last - 1), BigInt(last), noLimit))).toEqual(range(last - 1, last));
    expect(() => l.slice(BigInt(last), BigInt(last + 1), noLimit)).toThrow(RaftPanic);

    expect(pairs(l.slice(BigInt(half - 1), BigInt(half + 1), 0n))).toEqual(range(half - 1, half));
    expect(pairs(l.slice(BigInt(half - 1), BigInt(half + 1), halfSize + 1n))).toEqual(range(half - 1, half));
    expect(pairs(l.slice(BigInt(half - 2), BigInt(half + 1), halfSize + 1n))).toEqual(range(half - 2, half - 1));
    expect(pairs(l.slice(BigInt(half - 1), BigInt(half + 1), halfSize * 2n))).toEqual(range(half - 1, half + 1));
    expect(pairs(l.slice(BigInt(half - 1), BigInt(half + 2), halfSize * 3n))).toEqual(range(half - 1, half + 2));
    expect(pairs(l.slice(BigInt(half), BigInt(half + 2), halfSize))).toEqual(range(half, half + 1));
    expect(pairs(l.slice(BigInt(half), BigInt(half + 2), halfSize * 2n))).toEqual(range(half, half + 2));
  });

  it('maybeCommit only commits an index of the given term (§5.4.2)', () => {
    const l = logWith(...es([1, 1], [2, 2], [3, 3]));
    expect(l.maybeCommit(2n, 3n)).toBe(false);
    expect(l.committed).toBe(0n);
    expect(l.maybeCommit(3n, 3n)).toBe(true);
    expect(l.committed).toBe(3n);
    expect(l.maybeCommit(2n, 2n)).toBe(false); // never backwards
  });
});

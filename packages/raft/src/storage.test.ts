import { describe, expect, it } from 'vitest';
import { ErrCompacted, ErrSnapOutOfDate, ErrUnavailable, RaftPanic } from './errors.js';
import { MemoryStorage } from './storage.js';
import { entrySize, newEntry } from './util.js';
import { noLimit } from './state.js';

const e = (index: number, term: number) => newEntry({ Index: BigInt(index), Term: BigInt(term) });
const cs = { voters: [1n, 2n, 3n], learners: [], votersOutgoing: [], learnersNext: [], autoLeave: false };

/** A storage whose snapshot is at (3,3) and that holds entries 4 and 5 (terms 4, 5) — plus extras. */
function storage345(...extra: [number, number][]): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({ data: Buffer.alloc(0), metadata: { index: 3n, term: 3n, confState: cs } });
  s.append([e(4, 4), e(5, 5), ...extra.map(([i, t]) => e(i, t))]);
  return s;
}

function catchErr(f: () => unknown): unknown {
  try {
    f();
  } catch (err) {
    return err;
  }
  return undefined;
}

const pairs = (ents: { Index: bigint; Term: bigint }[]) => ents.map((x) => [Number(x.Index), Number(x.Term)]);

describe('MemoryStorage', () => {
  it('term: compacted below the snapshot, unavailable past the end', () => {
    const s = storage345();
    expect(catchErr(() => s.term(2n))).toBe(ErrCompacted);
    expect(s.term(3n)).toBe(3n); // the snapshot's own term stays answerable
    expect(s.term(4n)).toBe(4n);
    expect(s.term(5n)).toBe(5n);
    expect(catchErr(() => s.term(6n))).toBe(ErrUnavailable);
  });

  it('entries: bounds, compaction and the size limit (always at least one entry)', () => {
    const s = storage345([6, 6]);
    expect(catchErr(() => s.entries(2n, 6n, noLimit))).toBe(ErrCompacted);
    expect(catchErr(() => s.entries(3n, 4n, noLimit))).toBe(ErrCompacted);
    expect(pairs(s.entries(4n, 5n, noLimit))).toEqual([[4, 4]]);
    expect(pairs(s.entries(4n, 6n, noLimit))).toEqual([
      [4, 4],
      [5, 5],
    ]);
    expect(pairs(s.entries(4n, 7n, noLimit))).toEqual([
      [4, 4],
      [5, 5],
      [6, 6],
    ]);
    expect(pairs(s.entries(4n, 7n, 0n))).toEqual([[4, 4]]);
    const sz = (i: number) => BigInt(entrySize(e(i, i)));
    expect(pairs(s.entries(4n, 7n, sz(4) + sz(5)))).toEqual([
      [4, 4],
      [5, 5],
    ]);
    expect(pairs(s.entries(4n, 7n, sz(4) + sz(5) + sz(6) / 2n))).toEqual([
      [4, 4],
      [5, 5],
    ]);
    expect(pairs(s.entries(4n, 7n, sz(4) + sz(5) + sz(6) - 1n))).toEqual([
      [4, 4],
      [5, 5],
    ]);
    expect(pairs(s.entries(4n, 7n, sz(4) + sz(5) + sz(6)))).toEqual([
      [4, 4],
      [5, 5],
      [6, 6],
    ]);
    expect(() => s.entries(4n, 8n, noLimit)).toThrow(RaftPanic);
  });

  it('entries on a storage holding only its snapshot is unavailable', () => {
    const s = new MemoryStorage();
    expect(catchErr(() => s.entries(1n, 1n, noLimit))).toBe(ErrUnavailable);
  });

  it('lastIndex and firstIndex follow appends and compaction', () => {
    const s = storage345();
    expect(s.lastIndex()).toBe(5n);
    expect(s.firstIndex()).toBe(4n);
    s.append([e(6, 5)]);
    expect(s.lastIndex()).toBe(6n);
    s.compact(4n);
    expect(s.firstIndex()).toBe(5n);
  });

  it('compact', () => {
    const cases: [number, unknown, number, number, number][] = [
      // compactIndex, error, new dummy index, dummy term, remaining (incl. dummy)
      [2, ErrCompacted, 3, 3, 3],
      [3, ErrCompacted, 3, 3, 3],
      [4, undefined, 4, 4, 2],
      [5, undefined, 5, 5, 1],
    ];
    for (const [i, werr, windex, wterm, wlen] of cases) {
      const s = storage345();
      expect(catchErr(() => s.compact(BigInt(i)))).toBe(werr);
      expect(s.firstIndex() - 1n).toBe(BigInt(windex));
      expect(s.term(BigInt(windex))).toBe(BigInt(wterm));
      expect(Number(s.lastIndex() - s.firstIndex()) + 2).toBe(wlen);
    }
    expect(() => storage345().compact(6n)).toThrow(RaftPanic);
  });

  it('createSnapshot records index, term, ConfState and data; older ones are out of date', () => {
    for (const i of [4n, 5n]) {
      const s = storage345();
      const snap = s.createSnapshot(i, cs, Buffer.from('data'));
      expect(snap.metadata).toEqual({ index: i, term: i, confState: cs });
      expect(snap.data.toString()).toBe('data');
      expect(s.snapshot().metadata?.index).toBe(i);
      // Entries are not dropped by createSnapshot.
      expect(s.firstIndex()).toBe(4n);
    }
    const s = storage345();
    expect(catchErr(() => s.createSnapshot(3n, cs, Buffer.alloc(0)))).toBe(ErrSnapOutOfDate);
  });

  it('append: ignores compacted parts, truncates conflicts, extends the tail', () => {
    const cases: [[number, number][], [number, number][]][] = [
      [
        [
          [1, 1],
          [2, 2],
        ],
        [
          [4, 4],
          [5, 5],
        ],
      ],
      [
        [
          [3, 3],
          [4, 4],
          [5, 5],
        ],
        [
          [4, 4],
          [5, 5],
        ],
      ],
      [
        [
          [3, 3],
          [4, 6],
          [5, 6],
        ],
        [
          [4, 6],
          [5, 6],
        ],
      ],
      [
        [
          [3, 3],
          [4, 4],
          [5, 5],
          [6, 5],
        ],
        [
          [4, 4],
          [5, 5],
          [6, 5],
        ],
      ],
      // Truncate incoming entries, truncate the existing ones, and append.
      [
        [
          [2, 3],
          [3, 3],
          [4, 5],
        ],
        [[4, 5]],
      ],
      // Truncate the existing entries and append.
      [[[4, 5]], [[4, 5]]],
      // Direct append.
      [
        [[6, 5]],
        [
          [4, 4],
          [5, 5],
          [6, 5],
        ],
      ],
    ];
    for (const [input, want] of cases) {
      const s = storage345();
      s.append(input.map(([i, t]) => e(i, t)));
      expect(pairs(s.entries(s.firstIndex(), s.lastIndex() + 1n, noLimit))).toEqual(want);
    }
    expect(() => storage345().append([e(7, 5)])).toThrow(RaftPanic);
  });

  it('applySnapshot replaces the content; an older snapshot is refused', () => {
    const s = new MemoryStorage();
    s.applySnapshot({ data: Buffer.from('data'), metadata: { index: 4n, term: 4n, confState: cs } });
    expect(s.firstIndex()).toBe(5n);
    expect(s.lastIndex()).toBe(4n);
    expect(s.term(4n)).toBe(4n);
    expect(s.initialState().confState).toEqual(cs);
    expect(catchErr(() => s.applySnapshot({ data: Buffer.alloc(0), metadata: { index: 3n, term: 3n, confState: cs } }))).toBe(
      ErrSnapOutOfDate,
    );
  });

  it('initialState returns the hard state set and the snapshot ConfState', () => {
    const s = new MemoryStorage();
    s.setHardState({ term: 2n, vote: 1n, commit: 0n });
    expect(s.initialState().hardState).toEqual({ term: 2n, vote: 1n, commit: 0n });
    expect(s.initialState().confState.voters).toEqual([]);
  });
});

describe('MemoryStorage entry data', () => {
  it('copies data that is a view of a larger buffer into memory of its own, unchanged', () => {
    const s = new MemoryStorage();
    const frame = Buffer.alloc(100_000, 7); // a peer message's frame, say
    const small = frame.subarray(10, 310);
    small.fill(1);
    const big = frame.subarray(20_000, 40_000);
    big.fill(2);
    const owned = Buffer.allocUnsafeSlow(50);
    owned.fill(3);
    s.append([
      newEntry({ Index: 1n, Term: 1n, Data: small }),
      newEntry({ Index: 2n, Term: 1n, Data: big }),
      newEntry({ Index: 3n, Term: 1n, Data: owned }),
    ]);
    const [a, b2, c] = s.entries(1n, 4n, noLimit);
    expect(a.Data.equals(small)).toBe(true);
    expect(a.Data.buffer).not.toBe(frame.buffer);
    expect(a.Data.buffer.byteLength).toBeLessThan(frame.buffer.byteLength);
    expect(b2.Data.equals(big)).toBe(true);
    expect(b2.Data.buffer.byteLength).toBe(20_000); // large data: an allocation of its own
    expect(c.Data).toBe(owned); // owns its memory already: kept as is
    // the copies do not change when the frame is reused
    frame.fill(9);
    expect(a.Data.every((x) => x === 1)).toBe(true);
    expect(b2.Data.every((x) => x === 2)).toBe(true);
  });
});

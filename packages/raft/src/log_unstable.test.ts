import { describe, expect, it } from 'vitest';
import { Unstable } from './log_unstable.js';
import { RaftPanic } from './errors.js';
import { emptyConfState, newEntry } from './util.js';
import type { raftpb } from '@kv/api';

const e = (index: number, term: number) => newEntry({ Index: BigInt(index), Term: BigInt(term) });
const snap = (index: number, term: number): raftpb.Snapshot => ({
  data: Buffer.alloc(0),
  metadata: { index: BigInt(index), term: BigInt(term), confState: emptyConfState() },
});
const pairs = (ents: raftpb.Entry[]) => ents.map((x) => [Number(x.Index), Number(x.Term)]);

function mk(entries: raftpb.Entry[], offset: number, s?: raftpb.Snapshot): Unstable {
  const u = new Unstable(BigInt(offset));
  u.entries = entries;
  u.snapshot = s;
  return u;
}

describe('Unstable', () => {
  it('maybeFirstIndex is known only with a pending snapshot', () => {
    expect(mk([e(5, 1)], 5).maybeFirstIndex()).toBeUndefined();
    expect(mk([], 0).maybeFirstIndex()).toBeUndefined();
    expect(mk([e(5, 1)], 5, snap(4, 1)).maybeFirstIndex()).toBe(5n);
    expect(mk([], 5, snap(4, 1)).maybeFirstIndex()).toBe(5n);
  });

  it('maybeLastIndex: last entry, else the snapshot, else unknown', () => {
    expect(mk([e(5, 1)], 5).maybeLastIndex()).toBe(5n);
    expect(mk([e(5, 1)], 5, snap(4, 1)).maybeLastIndex()).toBe(5n);
    expect(mk([], 5, snap(4, 1)).maybeLastIndex()).toBe(4n);
    expect(mk([], 0).maybeLastIndex()).toBeUndefined();
  });

  it('maybeTerm covers entries and the snapshot index only', () => {
    const cases: [Unstable, number, bigint | undefined][] = [
      [mk([e(5, 1)], 5), 5, 1n],
      [mk([e(5, 1)], 5), 6, undefined],
      [mk([e(5, 1)], 5), 4, undefined],
      [mk([e(5, 1)], 5, snap(4, 1)), 5, 1n],
      [mk([e(5, 1)], 5, snap(4, 1)), 6, undefined],
      [mk([e(5, 1)], 5, snap(4, 1)), 4, 1n],
      [mk([e(5, 1)], 5, snap(4, 1)), 3, undefined],
      [mk([], 5, snap(4, 1)), 5, undefined],
      [mk([], 5, snap(4, 1)), 4, 1n],
      [mk([], 0), 5, undefined],
    ];
    for (const [u, i, w] of cases) expect(u.maybeTerm(BigInt(i))).toBe(w);
  });

  it('restore drops entries and installs the snapshot', () => {
    const u = mk([e(5, 1)], 5, snap(4, 1));
    u.restore(snap(6, 2));
    expect(u.offset).toBe(7n);
    expect(u.entries).toEqual([]);
    expect(u.snapshot?.metadata?.index).toBe(6n);
  });

  it('stableTo only acts on a matching (index, term) inside the unstable range', () => {
    const cases: [Unstable, number, number, number, number][] = [
      // unstable, i, t, want offset, want len
      [mk([], 0), 5, 1, 0, 0],
      [mk([e(5, 1)], 5), 5, 1, 6, 0],
      [mk([e(5, 1), e(6, 1)], 5), 5, 1, 6, 1],
      [mk([e(6, 2)], 6), 6, 1, 6, 1], // term mismatch: a newer entry replaced it
      [mk([e(5, 1)], 5), 4, 1, 5, 1], // before the range
      [mk([e(5, 1)], 5), 4, 2, 5, 1],
      [mk([e(5, 1)], 5, snap(4, 1)), 5, 1, 6, 0],
      [mk([e(5, 1), e(6, 1)], 5, snap(4, 1)), 5, 1, 6, 1],
      [mk([e(6, 2)], 6, snap(5, 1)), 6, 1, 6, 1],
      [mk([e(5, 1)], 5, snap(4, 1)), 4, 1, 5, 1], // the snapshot's index is not an entry here
      [mk([e(5, 2)], 5, snap(4, 2)), 4, 1, 5, 1],
    ];
    for (const [u, i, t, wo, wl] of cases) {
      u.stableTo(BigInt(i), BigInt(t));
      expect([Number(u.offset), u.entries.length]).toEqual([wo, wl]);
    }
  });

  it('stableSnapTo clears only the matching snapshot', () => {
    const u = mk([], 5, snap(4, 1));
    u.stableSnapTo(3n);
    expect(u.snapshot).toBeDefined();
    u.stableSnapTo(4n);
    expect(u.snapshot).toBeUndefined();
  });

  it('truncateAndAppend: append, replace, or truncate then append', () => {
    const cases: [[number, number][], number, [number, number][], number, [number, number][]][] = [
      // existing, offset, toappend, want offset, want entries
      [
        [[5, 1]],
        5,
        [
          [6, 1],
          [7, 1],
        ],
        5,
        [
          [5, 1],
          [6, 1],
          [7, 1],
        ],
      ],
      [
        [[5, 1]],
        5,
        [
          [5, 2],
          [6, 2],
        ],
        5,
        [
          [5, 2],
          [6, 2],
        ],
      ],
      [
        [[5, 1]],
        5,
        [
          [4, 2],
          [5, 2],
          [6, 2],
        ],
        4,
        [
          [4, 2],
          [5, 2],
          [6, 2],
        ],
      ],
      [
        [
          [5, 1],
          [6, 1],
          [7, 1],
        ],
        5,
        [[6, 2]],
        5,
        [
          [5, 1],
          [6, 2],
        ],
      ],
      [
        [
          [5, 1],
          [6, 1],
          [7, 1],
        ],
        5,
        [
          [7, 2],
          [8, 2],
        ],
        5,
        [
          [5, 1],
          [6, 1],
          [7, 2],
          [8, 2],
        ],
      ],
    ];
    for (const [ex, off, app, wo, we] of cases) {
      const u = mk(
        ex.map(([i, t]) => e(i, t)),
        off,
      );
      u.truncateAndAppend(app.map(([i, t]) => e(i, t)));
      expect(Number(u.offset)).toBe(wo);
      expect(pairs(u.entries)).toEqual(we);
    }
  });

  it('truncateAndAppend does not mutate arrays previously handed out', () => {
    const u = mk([e(5, 1), e(6, 1)], 5);
    const handedOut = u.entries;
    u.truncateAndAppend([e(6, 2)]);
    u.truncateAndAppend([e(7, 2)]);
    expect(pairs(handedOut)).toEqual([
      [5, 1],
      [6, 1],
    ]);
  });

  it('slice panics outside the unstable range', () => {
    const u = mk([e(5, 1), e(6, 1)], 5);
    expect(pairs(u.slice(5n, 7n))).toEqual([
      [5, 1],
      [6, 1],
    ]);
    expect(() => u.slice(4n, 6n)).toThrow(RaftPanic);
    expect(() => u.slice(5n, 8n)).toThrow(RaftPanic);
    expect(() => u.slice(6n, 5n)).toThrow(RaftPanic);
  });
});

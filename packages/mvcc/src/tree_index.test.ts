import { describe, expect, it } from 'vitest';
import { keyString, TreeIndex } from './tree_index.js';
import { revKey, type Revision } from './revision.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const r = (main: number, sub = 0): Revision => ({ main: BigInt(main), sub: BigInt(sub) });
/** A deletion of `key` at `rev`, as the store records one: find its index, then tombstone it. */
const tombstone = (ti: TreeIndex, key: Buffer, rev: Revision): boolean => {
  const ki = ti.keyIndexByString(keyString(key));
  return ki !== undefined && ti.tombstoneIndex(ki, rev);
};
const showRevs = (rs: Revision[]) => rs.map((x) => (x.sub === 0n ? `${x.main}` : `${x.main}.${x.sub}`));

/** foo@1 (t@8), foo1@2, foo2@3, foo2@6, foo@10, "\xff"@4, "\x00"@5 */
function sample(): TreeIndex {
  const ti = new TreeIndex();
  ti.put(b('foo'), r(1));
  ti.put(b('foo1'), r(2));
  ti.put(b('foo2'), r(3));
  ti.put(b('\u00ff'), r(4));
  ti.put(b('\u0000'), r(5));
  ti.put(b('foo2'), r(6));
  expect(tombstone(ti, b('foo'), r(8))).toBe(true);
  ti.put(b('foo'), r(10));
  return ti;
}

describe('TreeIndex', () => {
  it('gets a key at a revision', () => {
    const ti = sample();
    expect(ti.get(b('foo'), 0n)).toBeUndefined();
    expect(ti.get(b('foo'), 1n)?.modified).toEqual(r(1));
    expect(ti.get(b('foo'), 8n)).toBeUndefined();
    expect(ti.get(b('foo'), 10n)).toEqual({ modified: r(10), created: r(10), version: 1n });
    expect(ti.get(b('foo2'), 7n)).toEqual({ modified: r(6), created: r(3), version: 2n });
    expect(ti.get(b('nope'), 10n)).toBeUndefined();
  });

  it('ranges in byte order: single key, [key,end), from-key', () => {
    const ti = sample();
    const keys = (k: string, end: Buffer | undefined, at: bigint) => ti.liveAt(b(k), end, at).map((ki) => ki.key.toString('latin1'));
    expect(keys('foo', undefined, 10n)).toEqual(['foo']);
    expect(keys('foo', b('fop'), 10n)).toEqual(['foo', 'foo1', 'foo2']);
    expect(keys('foo', b('fop'), 9n)).toEqual(['foo1', 'foo2']); // foo deleted at 8
    expect(keys('foo1', b('foo2'), 10n)).toEqual(['foo1']);
    expect(keys('\u0000', Buffer.alloc(0), 10n)).toEqual(['\u0000', 'foo', 'foo1', 'foo2', '\u00ff']);
    expect(keys('foo2', Buffer.alloc(0), 10n)).toEqual(['foo2', '\u00ff']);
    expect(keys('g', b('a'), 10n)).toEqual([]);
    expect(showRevs(ti.revisions(b('foo'), b('fop'), 7n))).toEqual(['1', '2', '6']);
    expect(ti.count(b('\u0000'), Buffer.alloc(0), 3n)).toBe(3);
    expect(ti.count(b('\u0000'), Buffer.alloc(0), 10n)).toBe(5);
  });

  it('tombstone needs a live key', () => {
    const ti = sample();
    expect(tombstone(ti, b('nope'), r(11))).toBe(false);
    expect(tombstone(ti, b('foo1'), r(11))).toBe(true);
    expect(tombstone(ti, b('foo1'), r(12))).toBe(false);
  });

  it('rangeSince lists revisions since a revision in revision order', () => {
    const ti = sample();
    expect(showRevs(ti.rangeSince(b('foo'), b('fop'), 1n))).toEqual(['1', '2', '3', '6', '8', '10']);
    expect(showRevs(ti.rangeSince(b('foo'), b('fop'), 6n))).toEqual(['6', '8', '10']);
    expect(showRevs(ti.rangeSince(b('foo'), undefined, 2n))).toEqual(['8', '10']);
  });

  it('compacts all keys, drops keys left empty, and keep() predicts compact()', () => {
    const ti = sample();
    const predicted = ti.keep(8n);
    const kept = ti.compact(8n);
    expect(kept).toEqual(predicted);
    const want = [r(2), r(4), r(5), r(6)].map(revKey);
    expect([...kept].sort()).toEqual(want.sort());
    expect(ti.size).toBe(5); // foo survives thanks to its put at 10
    const ti2 = new TreeIndex();
    ti2.put(b('x'), r(2));
    tombstone(ti2, b('x'), r(3));
    expect(ti2.compact(3n).size).toBe(0);
    expect(ti2.size).toBe(0);
  });

  it('single-key operations do not visit other keys', () => {
    const ti = new TreeIndex();
    for (let i = 0; i < 2000; i++) ti.put(b(`key-${String(i).padStart(5, '0')}`), r(i + 2));
    let visited = 0;
    ti.visit(b('key-01000'), undefined, () => {
      visited++;
    });
    expect(visited).toBe(1);
    visited = 0;
    ti.visit(b('key-01000'), b('key-01003'), () => {
      visited++;
    });
    expect(visited).toBe(3);
  });
});

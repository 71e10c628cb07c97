import { describe, expect, it } from 'vitest';
import { KeyIndex, RevisionNotFoundError } from './key_index.js';
import { revKey } from './revision.js';

/** Writes a revision as "main" or "main.sub". */
function r(s: string): { main: bigint; sub: bigint } {
  const [m, sub] = s.split('.');
  return { main: BigInt(m), sub: BigInt(sub ?? 0) };
}
function show(ki: KeyIndex): string[][] {
  return ki.generations.map((g) => g.revs.map((x) => (x.sub === 0n ? `${x.main}` : `${x.main}.${x.sub}`)));
}
function keepOf(...revs: string[]): Set<string> {
  return new Set(revs.map((s) => revKey(r(s))));
}

/**
 * "foo": put@2 put@4 del@6, put@8 put@10 del@12, put@14.0 put@14.1 del@16
 * generations: {2,4,6t} {8,10,12t} {14,14.1,16t} {}
 */
function threeLives(): KeyIndex {
  const ki = new KeyIndex(Buffer.from('foo'));
  ki.put(2n, 0n);
  ki.put(4n, 0n);
  ki.tombstone(6n, 0n);
  ki.put(8n, 0n);
  ki.put(10n, 0n);
  ki.tombstone(12n, 0n);
  ki.put(14n, 0n);
  ki.put(14n, 1n);
  ki.tombstone(16n, 0n);
  return ki;
}

describe('KeyIndex', () => {
  it('put appends to the live generation and counts versions', () => {
    const ki = new KeyIndex(Buffer.from('foo'));
    ki.put(5n, 0n);
    expect(show(ki)).toEqual([['5']]);
    expect(ki.generations[0].created).toEqual(r('5'));
    expect(ki.generations[0].ver).toBe(1n);
    ki.put(7n, 0n);
    expect(show(ki)).toEqual([['5', '7']]);
    expect(ki.generations[0].ver).toBe(2n);
    expect(ki.modified).toEqual(r('7'));
    expect(() => ki.put(7n, 0n)).toThrow(/smaller revision/);
  });

  it('restore seeds one generation with the newest revision and the version count', () => {
    const ki = new KeyIndex(Buffer.from('foo'));
    ki.restore(r('5'), r('7'), 2n);
    expect(show(ki)).toEqual([['7']]);
    expect(ki.generations[0].created).toEqual(r('5'));
    expect(ki.generations[0].ver).toBe(2n);
    expect(ki.get(7n)).toEqual({ modified: r('7'), created: r('5'), version: 2n });
  });

  it('tombstone closes the generation and opens an empty one', () => {
    const ki = new KeyIndex(Buffer.from('foo'));
    ki.put(5n, 0n);
    ki.tombstone(7n, 0n);
    expect(show(ki)).toEqual([['5', '7'], []]);
    ki.put(8n, 0n);
    ki.put(9n, 0n);
    ki.tombstone(15n, 0n);
    expect(show(ki)).toEqual([['5', '7'], ['8', '9', '15'], []]);
    expect(ki.generations[1].ver).toBe(3n);
    expect(ki.modified).toEqual(r('15'));
    expect(() => ki.tombstone(16n, 0n)).toThrow(RevisionNotFoundError);
  });

  it('get answers per revision across generations (after compacting at 4)', () => {
    const ki = threeLives();
    ki.compact(4n, new Set());
    const cases: [bigint, string | undefined, string | undefined, bigint][] = [
      [17n, undefined, undefined, 0n],
      [16n, undefined, undefined, 0n],
      [15n, '14.1', '14', 2n],
      [14n, '14.1', '14', 2n],
      [13n, undefined, undefined, 0n],
      [12n, undefined, undefined, 0n],
      [11n, '10', '8', 2n],
      [10n, '10', '8', 2n],
      [9n, '8', '8', 1n],
      [8n, '8', '8', 1n],
      [7n, undefined, undefined, 0n],
      [6n, undefined, undefined, 0n],
      [5n, '4', '2', 2n],
      [4n, '4', '2', 2n],
      [3n, undefined, undefined, 0n],
      [2n, undefined, undefined, 0n],
      [1n, undefined, undefined, 0n],
      [0n, undefined, undefined, 0n],
    ];
    for (const [at, mod, created, ver] of cases) {
      const got = ki.get(at);
      if (mod === undefined) expect(got, `at ${at}`).toBeUndefined();
      else expect(got, `at ${at}`).toEqual({ modified: r(mod), created: r(created!), version: ver });
    }
  });

  it('since lists revisions from a revision on, one per main revision', () => {
    const ki = threeLives();
    ki.compact(4n, new Set());
    const all = ['4', '6', '8', '10', '12', '14.1', '16'].map(r);
    const cases: [bigint, number | undefined][] = [
      [17n, undefined],
      [16n, 6],
      [15n, 6],
      [14n, 5],
      [13n, 5],
      [12n, 4],
      [11n, 4],
      [10n, 3],
      [9n, 3],
      [8n, 2],
      [7n, 2],
      [6n, 1],
      [5n, 1],
      [4n, 0],
      [3n, 0],
      [0n, 0],
    ];
    for (const [since, from] of cases) {
      expect(ki.since(since), `since ${since}`).toEqual(from === undefined ? [] : all.slice(from));
    }
  });

  // compaction revision -> generations left and revisions kept
  const compactions: [bigint, string[][], string[]][] = [
    [1n, [['2', '4', '6'], ['8', '10', '12'], ['14', '14.1', '16'], []], []],
    [2n, [['2', '4', '6'], ['8', '10', '12'], ['14', '14.1', '16'], []], ['2']],
    [3n, [['2', '4', '6'], ['8', '10', '12'], ['14', '14.1', '16'], []], ['2']],
    [4n, [['4', '6'], ['8', '10', '12'], ['14', '14.1', '16'], []], ['4']],
    [5n, [['4', '6'], ['8', '10', '12'], ['14', '14.1', '16'], []], ['4']],
    [6n, [['8', '10', '12'], ['14', '14.1', '16'], []], []],
    [7n, [['8', '10', '12'], ['14', '14.1', '16'], []], []],
    [8n, [['8', '10', '12'], ['14', '14.1', '16'], []], ['8']],
    [9n, [['8', '10', '12'], ['14', '14.1', '16'], []], ['8']],
    [10n, [['10', '12'], ['14', '14.1', '16'], []], ['10']],
    [11n, [['10', '12'], ['14', '14.1', '16'], []], ['10']],
    [12n, [['14', '14.1', '16'], []], []],
    [13n, [['14', '14.1', '16'], []], []],
    [14n, [['14.1', '16'], []], ['14.1']],
    [15n, [['14.1', '16'], []], ['14.1']],
    [16n, [[]], []],
  ];

  function checkStep(ki: KeyIndex, [at, gens, kept]: (typeof compactions)[number]): void {
    const before = show(ki);
    const keep = new Set<string>();
    ki.keep(at, keep);
    expect(show(ki), `keep(${at}) must not change the index`).toEqual(before);
    expect(keep, `keep(${at})`).toEqual(keepOf(...kept));
    const available = new Set<string>();
    ki.compact(at, available);
    expect(show(ki), `compact(${at})`).toEqual(gens);
    expect(available, `compact(${at}) keeps`).toEqual(keepOf(...kept));
  }

  it('compacts continuously, revision by revision', () => {
    const ki = threeLives();
    for (const step of compactions) checkStep(ki, step);
    expect(ki.isEmpty()).toBe(true);
  });

  it('compacts in jumps', () => {
    const ki = threeLives();
    compactions.forEach((step, i) => {
      if ((i % 2 === 0 && i < 6) || (i % 2 === 1 && i > 6)) checkStep(ki, step);
    });
  });

  it('compacts once from the full history', () => {
    for (const step of compactions) checkStep(threeLives(), step);
  });

  it('keeps generation metadata through compaction', () => {
    const ki = threeLives();
    ki.compact(10n, new Set());
    expect(ki.generations[0].created).toEqual(r('8'));
    expect(ki.generations[0].ver).toBe(3n);
    expect(ki.get(11n)).toEqual({ modified: r('10'), created: r('8'), version: 2n });
  });

  it('compacting beyond the last modification keeps the newest revision', () => {
    const ki = new KeyIndex(Buffer.from('foo'));
    ki.put(1n, 0n);
    ki.put(2n, 0n);
    const keep = new Set<string>();
    ki.compact(3n, keep);
    expect(show(ki)).toEqual([['2']]);
    expect(ki.generations[0].created).toEqual(r('1'));
    expect(ki.generations[0].ver).toBe(2n);
    expect(keep).toEqual(keepOf('2'));
  });

  it('isEmpty only when nothing but an empty live generation is left', () => {
    const ki = new KeyIndex(Buffer.from('foo'));
    ki.put(2n, 0n);
    expect(ki.isEmpty()).toBe(false);
    ki.tombstone(3n, 0n);
    expect(ki.isEmpty()).toBe(false);
    ki.compact(3n, new Set());
    expect(ki.isEmpty()).toBe(true);
  });

  it('findGeneration finds the life a revision belongs to', () => {
    const ki = threeLives();
    ki.compact(4n, new Set());
    const cases: [bigint, number | undefined][] = [
      [0n, undefined],
      [1n, undefined],
      [2n, undefined],
      [3n, undefined],
      [4n, 0],
      [5n, 0],
      [6n, undefined],
      [7n, undefined],
      [8n, 1],
      [9n, 1],
      [10n, 1],
      [11n, 1],
      [12n, undefined],
      [13n, undefined],
      [14n, 2],
      [15n, 2],
      [16n, undefined],
      [17n, undefined],
    ];
    for (const [at, gi] of cases) {
      const g = ki.findGeneration(at);
      expect(g === undefined ? undefined : ki.generations.indexOf(g), `at ${at}`).toBe(gi);
    }
  });
});

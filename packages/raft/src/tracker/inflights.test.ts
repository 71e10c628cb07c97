import { describe, expect, it } from 'vitest';
import { Rand } from '../testing/rand.js';
import { Inflights } from './inflights.js';

const range = (from: number, to: number): bigint[] => Array.from({ length: to - from }, (_, i) => BigInt(from + i));

describe('Inflights', () => {
  it('adds into a lazily grown ring buffer and reports full', () => {
    const ins = new Inflights(10);
    for (let i = 0; i < 5; i++) ins.add(BigInt(i));
    expect(ins.debugState()).toEqual({ start: 0, count: 5, size: 10, buffer: [0n, 1n, 2n, 3n, 4n, 0n, 0n, 0n] });
    for (let i = 5; i < 10; i++) ins.add(BigInt(i));
    expect(ins.full()).toBe(true);
    expect(ins.debugState().buffer).toEqual(range(0, 10));
    expect(() => ins.add(10n)).toThrow('cannot add into a Full inflights');
  });

  it('wraps around after the start moved', () => {
    const ins = new Inflights(10);
    for (let i = 0; i < 5; i++) ins.add(BigInt(i));
    ins.freeLE(4n); // frees everything; start resets to 0
    expect(ins.debugState()).toMatchObject({ start: 0, count: 0 });
    for (let i = 0; i < 10; i++) ins.add(BigInt(i));
    ins.freeLE(4n);
    expect(ins.debugState()).toMatchObject({ start: 5, count: 5 });
    for (let i = 10; i < 15; i++) ins.add(BigInt(i));
    expect(ins.full()).toBe(true);
    expect(ins.toArray()).toEqual(range(5, 15));
    expect(ins.debugState().buffer).toEqual([10n, 11n, 12n, 13n, 14n, 5n, 6n, 7n, 8n, 9n]);
  });

  it('freeLE frees up to and including the index, ignores indexes left of the window', () => {
    const ins = new Inflights(10);
    for (let i = 0; i < 10; i++) ins.add(BigInt(i));
    ins.freeLE(0n);
    expect(ins.debugState()).toMatchObject({ start: 1, count: 9 });
    ins.freeTo(4n);
    expect(ins.debugState()).toMatchObject({ start: 5, count: 5 });
    ins.freeLE(3n); // stale
    expect(ins.debugState()).toMatchObject({ start: 5, count: 5 });
    ins.freeLE(8n);
    expect(ins.debugState()).toMatchObject({ start: 9, count: 1 });
    for (let i = 10; i < 15; i++) ins.add(BigInt(i));
    ins.freeLE(12n);
    expect(ins.debugState()).toMatchObject({ start: 3, count: 2 });
    expect(ins.toArray()).toEqual([13n, 14n]);
    ins.freeLE(14n);
    expect(ins.debugState()).toMatchObject({ start: 0, count: 0 });
  });

  it('freeFirstOne frees the oldest', () => {
    const ins = new Inflights(10);
    for (let i = 0; i < 10; i++) ins.add(BigInt(i));
    ins.freeFirstOne();
    expect(ins.debugState()).toMatchObject({ start: 1, count: 9 });
    new Inflights(3).freeFirstOne(); // empty: no-op
  });

  it('reset empties; clone is independent', () => {
    const ins = new Inflights(3);
    ins.add(1n);
    ins.add(2n);
    const c = ins.clone();
    ins.reset();
    expect(ins.count()).toBe(0);
    expect(c.toArray()).toEqual([1n, 2n]);
  });

  it('matches a plain array model under random operations', () => {
    const r = new Rand(42);
    for (let round = 0; round < 100; round++) {
      const size = 1 + r.intn(8);
      const ins = new Inflights(size);
      const model: bigint[] = [];
      let next = 1n;
      for (let step = 0; step < 100; step++) {
        const op = r.intn(3);
        if (op === 0 && model.length < size) {
          next += BigInt(r.intn(3));
          ins.add(next);
          model.push(next);
        } else if (op === 1) {
          const to = next - BigInt(r.intn(5));
          ins.freeLE(to);
          while (model.length > 0 && model[0] <= to) model.shift();
        } else if (op === 2 && model.length > 0) {
          ins.freeFirstOne();
          const first = model[0];
          while (model.length > 0 && model[0] <= first) model.shift();
        }
        expect(ins.toArray()).toEqual(model);
        expect(ins.count()).toBe(model.length);
        expect(ins.full()).toBe(model.length === size);
      }
    }
  });
});

import { describe, expect, it } from 'vitest';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  it('doubles from the base to the cap, with equal jitter from the injected random', () => {
    const b = new Backoff({ baseMs: 100, maxMs: 5000, random: () => 1 });
    expect(Array.from({ length: 9 }, () => b.next())).toEqual([100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000]);
    const lo = new Backoff({ baseMs: 100, maxMs: 5000, random: () => 0 });
    expect(Array.from({ length: 8 }, () => lo.next())).toEqual([50, 100, 200, 400, 800, 1600, 2500, 2500]);
  });

  it('starts over after reset and never overflows', () => {
    const b = new Backoff({ random: () => 0.5 });
    for (let i = 0; i < 5000; i++) b.next();
    expect(b.next()).toBe(3750);
    b.reset();
    expect(b.next()).toBe(75);
  });

  it('refuses nonsense bounds', () => {
    expect(() => new Backoff({ baseMs: 0 })).toThrow(RangeError);
    expect(() => new Backoff({ baseMs: 10, maxMs: 5 })).toThrow(RangeError);
  });
});

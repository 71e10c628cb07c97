import { describe, expect, it } from 'vitest';
import { History } from './history.js';
import { checkLost } from './lost.js';
import { checkLock } from './lock.js';

describe('checkLost', () => {
  let now = 0;
  const h = new History(() => now++);
  h.ok(h.invoke(1, 'write', { key: 'x', value: 'a' }), { revision: 2 });
  h.ok(h.invoke(1, 'write', { key: 'x', value: 'b' }), { revision: 3 });
  h.ok(h.invoke(1, 'txn', { value: [{ f: 'append', key: 'l', value: 1 }] }), { value: [{ f: 'append', key: 'l', value: 1 }] });
  h.ok(h.invoke(1, 'txn', { value: [{ f: 'append', key: 'l', value: 2 }] }), { value: [{ f: 'append', key: 'l', value: 2 }] });
  it('passes when the final reads show every acknowledged write, or a later one', () => {
    const res = checkLost(h.events, [
      { key: 'x', value: 'c', modRevision: 9 },
      { key: 'l', value: '1,2', modRevision: 8 },
    ]);
    expect(res.valid).toBe(true);
    expect(res.stats).toMatchObject({ writes: 2, appends: 2 });
  });
  it('finds a lost write and a lost append', () => {
    const res = checkLost(h.events, [
      { key: 'x', value: 'a', modRevision: 2 },
      { key: 'l', value: '2', modRevision: 8 },
    ]);
    expect(res.anomalies.map((a) => a.type).sort()).toEqual(['lost-append', 'lost-write']);
  });
});

describe('checkLock', () => {
  it('reports overlapping holders as expected anomalies', () => {
    let now = 0;
    const h = new History(() => now);
    const a1 = h.invoke(1, 'acquire', { key: 'L' });
    now = 1;
    h.ok(a1);
    const a2 = h.invoke(2, 'acquire', { key: 'L' });
    now = 5;
    h.ok(a2); // 2 holds from 5 while 1 still holds (released at 8)
    now = 8;
    const r1 = h.invoke(1, 'release', { key: 'L' });
    now = 9;
    h.ok(r1);
    now = 10;
    const r2 = h.invoke(2, 'release', { key: 'L' });
    now = 11;
    h.ok(r2);
    const res = checkLock(h.events);
    expect(res.anomalies).toHaveLength(1);
    expect(res.anomalies[0]).toMatchObject({ type: 'lock-overlap', expected: true });
    expect(res.valid).toBe(true);
  });
});

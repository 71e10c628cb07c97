import { describe, expect, it } from 'vitest';
import { History } from './history.js';
import { mergeResults, pairOps } from './pairs.js';

describe('History', () => {
  it('records invoke then one completion per operation, and pairs them', () => {
    let now = 0;
    const h = new History(() => now++);
    const a = h.invoke(1, 'write', { key: 'x', value: 'v' });
    expect(() => h.invoke(1, 'read', { key: 'x' })).toThrow(/outstanding/);
    const b = h.invoke(2, 'read', { key: 'x' });
    h.nemesis('kill', 'start', 'm1');
    const c = h.ok(b, { value: null });
    expect(() => h.ok(b)).toThrow(/not outstanding/);
    h.info(a, 'timeout');
    expect(() => h.invoke(1, 'read', { key: 'x' })).toThrow(/use a new process id/);
    expect(c).toMatchObject({ type: 'ok', invokeIndex: b.index, key: 'x', f: 'read' });
    const pairs = pairOps(h.events);
    expect(pairs.map((p) => [p.invoke.process, p.type])).toEqual([
      [1, 'info'],
      [2, 'ok'],
    ]);
    expect(h.pending()).toEqual([]);
  });
  it('merges results: invalid beats unknown beats valid', () => {
    const v = { valid: true as const, anomalies: [], stats: { n: 1 } };
    expect(mergeResults({ a: v, b: { ...v, valid: 'unknown' } }).valid).toBe('unknown');
    expect(mergeResults({ a: { ...v, valid: false }, b: { ...v, valid: 'unknown' } }).valid).toBe(false);
    expect(mergeResults({ a: v }).stats).toEqual({ 'a.n': 1 });
  });
});

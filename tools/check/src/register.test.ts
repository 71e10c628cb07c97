import { describe, expect, it } from 'vitest';
import { History } from './history.js';
import { checkRegister } from './register.js';

/** A history with a settable clock. */
function recorder(): { h: History; at: (t: number) => void } {
  let now = 0;
  return { h: new History(() => now), at: (t) => (now = t) };
}

describe('checkRegister', () => {
  it('passes a concurrent, linearizable history', () => {
    const { h, at } = recorder();
    at(0);
    const w1 = h.invoke(1, 'write', { key: 'x', value: 'a' });
    at(1);
    const r = h.invoke(2, 'read', { key: 'x' });
    at(2);
    h.ok(w1);
    at(3);
    h.ok(r, { value: 'a' });
    at(4);
    const c = h.invoke(1, 'cas', { key: 'x', value: ['a', 'b'] });
    at(5);
    h.ok(c);
    at(6);
    const r2 = h.invoke(2, 'read', { key: 'x' });
    at(7);
    h.ok(r2, { value: 'b' });
    const res = checkRegister(h.events);
    expect(res.valid).toBe(true);
    expect(res.stats.ops).toBe(4);
  });

  it('finds a stale read', () => {
    const { h, at } = recorder();
    at(0);
    const w1 = h.invoke(1, 'write', { key: 'x', value: 'a' });
    at(1);
    h.ok(w1);
    at(2);
    const w2 = h.invoke(1, 'write', { key: 'x', value: 'b' });
    at(3);
    h.ok(w2);
    at(4);
    const r = h.invoke(2, 'read', { key: 'x' });
    at(5);
    h.ok(r, { value: 'a' });
    const res = checkRegister(h.events);
    expect(res.valid).toBe(false);
    expect(res.anomalies[0]!.type).toBe('nonlinearizable');
    expect(res.anomalies[0]!.ops).toContain(r.index);
    expect(res.anomalies[0]!.message).toContain('"b"');
  });

  it('lets an info write take effect late, or never', () => {
    const { h, at } = recorder();
    at(0);
    const w = h.invoke(1, 'write', { key: 'x', value: 'a' });
    at(1);
    h.info(w, 'timeout');
    at(2);
    const r1 = h.invoke(2, 'read', { key: 'x' });
    at(3);
    h.ok(r1, { value: null });
    at(10);
    const r2 = h.invoke(2, 'read', { key: 'x' });
    at(11);
    h.ok(r2, { value: 'a' });
    expect(checkRegister(h.events).valid).toBe(true);
    // but it cannot take effect twice: a → (b) → a again is not possible
    at(12);
    const w2 = h.invoke(3, 'write', { key: 'x', value: 'b' });
    at(13);
    h.ok(w2);
    at(14);
    const r3 = h.invoke(2, 'read', { key: 'x' });
    at(15);
    h.ok(r3, { value: 'a' });
    expect(checkRegister(h.events).valid).toBe(false);
  });

  it('ignores failed ops and checks keys separately', () => {
    const { h, at } = recorder();
    at(0);
    const c = h.invoke(1, 'cas', { key: 'x', value: [null, 'z'] });
    at(1);
    h.fail(c, 'compare failed');
    at(2);
    const w = h.invoke(1, 'write', { key: 'y', value: 'q' });
    at(3);
    h.ok(w);
    at(4);
    const r = h.invoke(2, 'read', { key: 'x' });
    at(5);
    h.ok(r, { value: null });
    const res = checkRegister(h.events);
    expect(res.valid).toBe(true);
    expect(res.stats.keys).toBe(2);
  });

  it('answers unknown when the search bound is hit', () => {
    const { h, at } = recorder();
    let t = 0;
    // many concurrent info writes make a large search; then an impossible read
    for (let p = 0; p < 12; p++) {
      at(t++);
      h.info(h.invoke(p, 'write', { key: 'x', value: `v${p}` }), 'timeout');
    }
    at(t++);
    const r = h.invoke(100, 'read', { key: 'x' });
    at(t++);
    h.ok(r, { value: 'never' });
    expect(checkRegister(h.events, { maxSteps: 50 }).valid).toBe('unknown');
    expect(checkRegister(h.events).valid).toBe(false);
  });
});

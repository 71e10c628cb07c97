import { describe, expect, it } from 'vitest';
import { History, type MicroOp } from './history.js';
import { checkAppend } from './append.js';

type Step = [process: number, mops: MicroOp[], result: MicroOp[] | 'fail' | 'info'];

/** Invokes every txn, then completes them all: they are all concurrent. */
function txns(steps: Step[]): History {
  let now = 0;
  const h = new History(() => now);
  const invs = steps.map(([p, mops]) => {
    now++;
    return h.invoke(p, 'txn', { value: mops });
  });
  steps.forEach(([, , res], i) => {
    now++;
    if (res === 'fail') h.fail(invs[i]!, 'aborted');
    else if (res === 'info') h.info(invs[i]!, 'timeout');
    else h.ok(invs[i]!, { value: res });
  });
  return h;
}

/** Runs txns one after another: each completes before the next is invoked. */
function seq(steps: Step[]): History {
  let now = 0;
  const h = new History(() => now);
  for (const [p, mops, res] of steps) {
    now++;
    const inv = h.invoke(p, 'txn', { value: mops });
    now++;
    if (res === 'fail') h.fail(inv, 'aborted');
    else if (res === 'info') h.info(inv, 'timeout');
    else h.ok(inv, { value: res });
  }
  return h;
}

const a = (key: string, value: number): MicroOp => ({ f: 'append', key, value });
const r = (key: string, value: number[] | null = null): MicroOp => ({ f: 'r', key, value });

describe('checkAppend', () => {
  it('passes a serial history', () => {
    const h = seq([
      [1, [a('x', 1)], [a('x', 1)]],
      [2, [r('x'), a('y', 1)], [r('x', [1]), a('y', 1)]],
      [1, [a('x', 2), r('y')], [a('x', 2), r('y', [1])]],
      [3, [r('x'), r('y')], [r('x', [1, 2]), r('y', [1])]],
    ]);
    const res = checkAppend(h.events);
    expect(res.anomalies).toEqual([]);
    expect(res.valid).toBe(true);
  });

  it('finds an aborted read (G1a)', () => {
    const h = seq([
      [1, [a('x', 1)], 'fail'],
      [2, [r('x')], [r('x', [1])]],
    ]);
    const res = checkAppend(h.events);
    expect(res.valid).toBe(false);
    expect(res.anomalies.map((x) => x.type)).toContain('G1a');
  });

  it('finds an intermediate read (G1b)', () => {
    const h = seq([
      [1, [a('x', 1), a('x', 2)], [a('x', 1), a('x', 2)]],
      [2, [r('x')], [r('x', [1])]],
    ]);
    expect(checkAppend(h.events).anomalies.map((x) => x.type)).toContain('G1b');
  });

  it('finds G1c: two txns that read each other', () => {
    const h = txns([
      [1, [a('x', 1), r('y')], [a('x', 1), r('y', [1])]],
      [2, [a('y', 1), r('x')], [a('y', 1), r('x', [1])]],
    ]);
    const res = checkAppend(h.events);
    expect(res.valid).toBe(false);
    const g = res.anomalies.find((x) => x.type === 'G1c');
    expect(g?.message).toMatch(/-wr\(x\)->.*-wr\(y\)->|-wr\(y\)->.*-wr\(x\)->/);
  });

  it('finds G-single (read skew) and G2 (write skew)', () => {
    // T1 reads x=[], T2 appends x and y, T1 reads y=[1]: one rw edge in the cycle
    const single = txns([
      [1, [r('x'), r('y')], [r('x', []), r('y', [1])]],
      [2, [a('x', 1), a('y', 1)], [a('x', 1), a('y', 1)]],
      [3, [r('x'), r('y')], [r('x', [1]), r('y', [1])]],
    ]);
    expect(checkAppend(single.events).anomalies.map((x) => x.type)).toContain('G-single');
    // write skew: each reads the other's key empty and appends to its own
    const skew = txns([
      [1, [r('y'), a('x', 1)], [r('y', []), a('x', 1)]],
      [2, [r('x'), a('y', 1)], [r('x', []), a('y', 1)]],
      [3, [r('x'), r('y')], [r('x', [1]), r('y', [1])]],
    ]);
    const types = checkAppend(skew.events).anomalies.map((x) => x.type);
    expect(types).toContain('G2');
    expect(types).not.toContain('G-single');
  });

  it('finds a stale read only with real-time edges (strict serializability)', () => {
    const h = seq([
      [1, [a('x', 1)], [a('x', 1)]],
      [2, [r('x')], [r('x', [])]],
      [3, [r('x')], [r('x', [1])]],
    ]);
    expect(checkAppend(h.events, { strict: false }).valid).toBe(true);
    const res = checkAppend(h.events);
    expect(res.valid).toBe(false);
    expect(res.anomalies[0]!.type).toBe('G-single-realtime');
  });

  it('finds G0 (write cycle) and incompatible orders', () => {
    const g0 = txns([
      [1, [a('x', 1), a('y', 2)], [a('x', 1), a('y', 2)]],
      [2, [a('x', 2), a('y', 1)], [a('x', 2), a('y', 1)]],
      [3, [r('x'), r('y')], [r('x', [1, 2]), r('y', [1, 2])]],
    ]);
    expect(checkAppend(g0.events).anomalies.map((x) => x.type)).toContain('G0');
    const bad = seq([
      [1, [a('x', 1)], [a('x', 1)]],
      [1, [a('x', 2)], [a('x', 2)]],
      [2, [r('x')], [r('x', [2])]],
      [3, [r('x')], [r('x', [1, 2])]],
    ]);
    expect(checkAppend(bad.events).anomalies.map((x) => x.type)).toContain('incompatible-order');
  });

  it('uses an info txn whose append was observed', () => {
    const h = seq([
      [1, [a('x', 1)], 'info'],
      [2, [r('x')], [r('x', [1])]],
    ]);
    expect(checkAppend(h.events).valid).toBe(true);
  });
});

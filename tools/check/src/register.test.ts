import { Rand } from '@kv/testkit';
import { describe, expect, it } from 'vitest';
import { History, type HistoryEvent, type Op } from './history.js';
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

  it('answers unknown when the search bound is hit, and names the key', () => {
    const { h, at } = recorder();
    let t = 0;
    // many concurrent info writes, each observed by a read open as long: a large search (none of
    // them can be dropped); then an impossible read
    for (let p = 0; p < 8; p++) {
      at(t++);
      h.info(h.invoke(p, 'write', { key: 'x', value: `v${p}` }), 'timeout');
    }
    const reads = Array.from({ length: 8 }, (_, p) => h.invoke(50 + p, 'read', { key: 'x' }));
    at(t++);
    for (const [p, r] of reads.entries()) h.ok(r, { value: `v${p}` });
    at(t++);
    const r = h.invoke(100, 'read', { key: 'x' });
    at(t++);
    h.ok(r, { value: 'never' });
    const bounded = checkRegister(h.events, { maxSteps: 50 });
    expect(bounded.valid).toBe('unknown');
    expect(bounded.stats.infoDropped).toBe(0);
    expect(bounded.notes?.[0]).toMatch(
      /key "x" undecided: the search bound of 50 steps was hit with 17 ops searched .*8 info, 0 of them dropped.*at most 16 open/,
    );
    const full = checkRegister(h.events);
    expect(full.valid).toBe(false);
    expect(full.anomalies[0]!.ops).toContain(r.index);
  });
});

// ---- the reductions (register_reduce.ts) against an exhaustive oracle, and at scale ----

interface Spec {
  f: 'read' | 'write' | 'cas';
  value: unknown;
  call: number;
  /** undefined: no completion at all (the history ended) */
  ret?: number;
  type: 'ok' | 'fail' | 'info';
}

/** A history from op specs: one process per op (so no process has two outstanding ops). */
function historyOf(specs: readonly Spec[], key = 'x'): HistoryEvent[] {
  const evs: Array<{ t: number; inv: boolean; i: number }> = [];
  specs.forEach((s, i) => {
    evs.push({ t: s.call, inv: true, i });
    if (s.ret !== undefined) evs.push({ t: s.ret, inv: false, i });
  });
  evs.sort((a, b) => a.t - b.t || Number(b.inv) - Number(a.inv) || a.i - b.i);
  const out: HistoryEvent[] = [];
  const invokeIndex = new Map<number, number>();
  for (const e of evs) {
    const s = specs[e.i]!;
    if (e.inv) {
      invokeIndex.set(e.i, out.length);
      out.push({
        kind: 'op',
        index: out.length,
        type: 'invoke',
        process: e.i,
        f: s.f,
        key,
        value: s.f === 'read' ? undefined : s.value,
        time: e.t,
      });
    } else {
      const c: Op = {
        kind: 'op',
        index: out.length,
        type: s.type,
        process: e.i,
        f: s.f,
        key,
        time: e.t,
        invokeIndex: invokeIndex.get(e.i)!,
      };
      if (s.f === 'read' && s.type === 'ok') c.value = s.value;
      out.push(c);
    }
  }
  return out;
}

/** The definition, by brute force: some order of all ok ops and any subset of the info ops,
 *  respecting real time (a before b when a returned before b was invoked), legal for a register. */
function linearizableByBruteForce(specs: readonly Spec[]): boolean {
  const ops = specs.filter((s) => s.type !== 'fail' && !(s.type === 'info' && s.f === 'read'));
  const definite = ops.filter((o) => o.type === 'ok').length;
  const used = ops.map(() => false);
  const go = (state: string | null, done: number): boolean => {
    if (done === definite) return true;
    for (let i = 0; i < ops.length; i++) {
      const o = ops[i]!;
      if (used[i]) continue;
      // every definite op that returned before o was invoked must already be placed
      if (ops.some((p, j) => !used[j] && p.type === 'ok' && p.ret! < o.call)) continue;
      let next = state;
      if (o.f === 'read') {
        if (o.value !== state) continue;
      } else if (o.f === 'write') next = o.value as string;
      else {
        const [from, to] = o.value as [string | null, string];
        if (from !== state) continue;
        next = to;
      }
      used[i] = true;
      const ok = go(next, done + (o.type === 'ok' ? 1 : 0));
      used[i] = false;
      if (ok) return true;
    }
    return false;
  };
  return go(null, 0);
}

describe('checkRegister reductions', () => {
  it('agrees with the brute-force definition on random small histories with info ops', () => {
    const rand = new Rand(20261201);
    let valid = 0;
    let invalid = 0;
    let dropped = 0;
    for (let n = 0; n < 600; n++) {
      const specs: Spec[] = [];
      const written: Array<string | null> = [null];
      const count = 3 + rand.int(5); // 3..7 ops
      for (let i = 0; i < count; i++) {
        const call = rand.int(20) * 2; // even calls, odd returns: no ties
        const ret = call + 1 + rand.int(8) * 2;
        const kind = rand.int(3);
        const pick = (): string | null => written[rand.int(written.length)]!;
        const u = rand.float();
        const type: Spec['type'] = u < 0.55 ? 'ok' : u < 0.9 ? 'info' : 'fail';
        const noRet = type === 'info' && rand.chance(0.5);
        if (kind === 0) specs.push({ f: 'read', value: pick(), call, ret, type: type === 'fail' ? 'ok' : type });
        else {
          const v = `v${i}`;
          if (kind === 1) specs.push({ f: 'write', value: v, call, type, ...(noRet ? {} : { ret }) });
          else specs.push({ f: 'cas', value: [pick(), v], call, type, ...(noRet ? {} : { ret }) });
          written.push(v);
        }
      }
      const expected = linearizableByBruteForce(specs);
      const res = checkRegister(historyOf(specs));
      expect(res.valid, JSON.stringify(specs)).toBe(expected);
      if (expected) valid++;
      else invalid++;
      dropped += res.stats.infoDropped!;
    }
    // the sample covers both verdicts and exercises the drop
    expect(valid).toBeGreaterThan(100);
    expect(invalid).toBeGreaterThan(100);
    expect(dropped).toBeGreaterThan(100);
  });

  /** A long, valid history of one key: 4 clients, each op's effect at a point inside it, plus
   *  bursts of info writes and cas that never took effect (nobody reads their values). */
  function longHistory(staleReadAt?: number): { specs: Spec[]; lastWritten: string } {
    const rand = new Rand(7);
    const specs: Spec[] = [];
    let state: string | null = null;
    let prev: string | null = null; // the value before the last change
    let seq = 0;
    let t = 0;
    for (let round = 0; round < 500; round++) {
      // four clients, overlapping: each op takes effect at t + 1 + c (inside [t + c, t + 10 + c])
      for (let c = 0; c < 4; c++) {
        const call = t + c;
        const ret = t + 10 + c;
        const r = rand.int(3);
        if (r === 0) specs.push({ f: 'read', value: state, call, ret, type: 'ok' });
        else if (r === 1) {
          prev = state;
          state = `w${++seq}`;
          specs.push({ f: 'write', value: state, call, ret, type: 'ok' });
        } else {
          prev = state;
          const to = `w${++seq}`;
          specs.push({ f: 'cas', value: [state, to], call, ret, type: 'ok' });
          state = to;
        }
      }
      if (round % 10 === 5) {
        // a burst of 40 indeterminate ops at once (a leader lost): none of them took effect
        for (let i = 0; i < 40; i++) {
          const v = `lost${++seq}`;
          const call = t + (i % 10);
          if (i % 2 === 0) specs.push({ f: 'write', value: v, call, type: 'info', ...(i % 4 === 0 ? { ret: call + 3 } : {}) });
          else specs.push({ f: 'cas', value: [state, v], call, ret: call + 2, type: 'info' });
        }
      }
      if (staleReadAt === round) specs.push({ f: 'read', value: prev, call: t + 20, ret: t + 21, type: 'ok' });
      t += 30;
    }
    return { specs, lastWritten: state! };
  }

  it('decides a long history with many concurrent unobserved info writes, with few steps', () => {
    const { specs } = longHistory();
    const res = checkRegister(historyOf(specs));
    expect(res.valid).toBe(true);
    expect(res.stats.infoOps).toBe(2000);
    expect(res.stats.infoDropped).toBe(2000);
    // 2000 ops searched: without the drop, 40 ops open forever at once would need ~2^40 states
    expect(res.stats.steps).toBeLessThan(100_000);
  });

  it('still finds a stale read in that long history', () => {
    const { specs } = longHistory(250);
    const res = checkRegister(historyOf(specs));
    expect(res.valid).toBe(false);
    expect(res.anomalies).toHaveLength(1);
    expect(res.anomalies[0]!.type).toBe('nonlinearizable');
  });

  it('keeps an info write that was observed: a stale read after it is found', () => {
    const { h, at } = recorder();
    at(0);
    const w = h.invoke(1, 'write', { key: 'x', value: 'a' });
    at(1);
    h.ok(w);
    at(2);
    const wb = h.invoke(2, 'write', { key: 'x', value: 'b' });
    // unobserved info writes around it, dropped
    for (let p = 10; p < 30; p++) h.info(h.invoke(p, 'write', { key: 'x', value: `u${p}` }), 'timeout');
    at(3);
    h.info(wb, 'timeout');
    at(4);
    const r1 = h.invoke(3, 'read', { key: 'x' });
    at(5);
    h.ok(r1, { value: 'b' }); // b took effect before this read returned
    at(6);
    const r2 = h.invoke(3, 'read', { key: 'x' });
    at(7);
    h.ok(r2, { value: 'a' }); // stale: a was overwritten by b, nothing wrote a again
    const res = checkRegister(h.events);
    expect(res.valid).toBe(false);
    expect(res.stats.infoDropped).toBe(20);
    expect(res.anomalies[0]!.ops).toContain(r2.index);
    expect(res.anomalies[0]!.message).toContain('"b"');
  });

  it('drops chains of unobserved info ops but keeps those a later cas compares against', () => {
    const { h, at } = recorder();
    at(0);
    const wb = h.invoke(1, 'write', { key: 'x', value: 'b' });
    at(1);
    h.info(wb, 'timeout');
    at(2);
    const c = h.invoke(2, 'cas', { key: 'x', value: ['b', 'c'] }); // info; observes b
    at(3);
    h.info(c, 'timeout');
    // nobody reads c: the cas is dropped, then b has no observer and is dropped too
    at(4);
    const r = h.invoke(3, 'read', { key: 'x' });
    at(5);
    h.ok(r, { value: null });
    let res = checkRegister(h.events);
    expect(res.valid).toBe(true);
    expect(res.stats.infoDropped).toBe(2);
    // now c is read: both info ops must have happened, in order, after the read of null
    at(6);
    const r2 = h.invoke(3, 'read', { key: 'x' });
    at(7);
    h.ok(r2, { value: 'c' });
    res = checkRegister(h.events);
    expect(res.valid).toBe(true);
    expect(res.stats.infoDropped).toBe(0);
    // and then b again is stale (b was replaced by c; nothing wrote b twice)
    at(8);
    const r3 = h.invoke(3, 'read', { key: 'x' });
    at(9);
    h.ok(r3, { value: 'b' });
    res = checkRegister(h.events);
    expect(res.valid).toBe(false);
    expect(res.anomalies[0]!.ops).toContain(r3.index);
  });
});

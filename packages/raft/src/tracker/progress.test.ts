import { describe, expect, it } from 'vitest';
import { Inflights } from './inflights.js';
import { Progress, progressMapString, StateType } from './progress.js';

const pr = (init: Partial<ConstructorParameters<typeof Progress>[0]> = {}): Progress =>
  new Progress({ inflights: new Inflights(256), ...init });

describe('Progress', () => {
  it('toString', () => {
    const ins = new Inflights(1);
    ins.add(123n);
    const p = new Progress({
      match: 1n,
      next: 2n,
      state: StateType.StateSnapshot,
      pendingSnapshot: 123n,
      recentActive: false,
      probeSent: true,
      isLearner: true,
      inflights: ins,
    });
    expect(p.toString()).toBe('StateSnapshot match=1 next=2 learner paused pendingSnap=123 inactive inflight=1[full]');
    expect(pr({ match: 3n, next: 4n, recentActive: true, state: StateType.StateReplicate }).toString()).toBe(
      'StateReplicate match=3 next=4',
    );
  });

  it('isPaused', () => {
    const cases: [StateType, boolean, boolean][] = [
      [StateType.StateProbe, false, false],
      [StateType.StateProbe, true, true],
      [StateType.StateReplicate, false, false],
      [StateType.StateReplicate, true, false],
      [StateType.StateSnapshot, false, true],
      [StateType.StateSnapshot, true, true],
    ];
    for (const [state, probeSent, want] of cases) {
      expect(pr({ state, probeSent }).isPaused()).toBe(want);
    }
    const full = new Inflights(1);
    full.add(1n);
    expect(pr({ state: StateType.StateReplicate, inflights: full }).isPaused()).toBe(true);
  });

  it('resumes after a rejection or an ack of the probe', () => {
    const p = pr({ next: 2n, probeSent: true });
    p.maybeDecrTo(1n, 1n);
    expect(p.probeSent).toBe(false);
    p.probeSent = true;
    p.maybeUpdate(2n);
    expect(p.probeSent).toBe(false);
  });

  it('becomeProbe', () => {
    const cases: [Progress, bigint][] = [
      [pr({ state: StateType.StateReplicate, match: 1n, next: 5n }), 2n],
      // snapshot delivered: probe after it
      [pr({ state: StateType.StateSnapshot, match: 1n, next: 5n, pendingSnapshot: 10n }), 11n],
      // snapshot failed
      [pr({ state: StateType.StateSnapshot, match: 1n, next: 5n, pendingSnapshot: 0n }), 2n],
    ];
    for (const [p, wnext] of cases) {
      p.inflights.add(7n);
      p.becomeProbe();
      expect(p.state).toBe(StateType.StateProbe);
      expect(p.match).toBe(1n);
      expect(p.next).toBe(wnext);
      expect(p.pendingSnapshot).toBe(0n);
      expect(p.inflights.count()).toBe(0);
    }
  });

  it('becomeReplicate / becomeSnapshot', () => {
    const p = pr({ state: StateType.StateProbe, match: 1n, next: 5n, probeSent: true });
    p.becomeReplicate();
    expect([p.state, p.match, p.next, p.probeSent]).toEqual([StateType.StateReplicate, 1n, 2n, false]);
    const q = pr({ state: StateType.StateProbe, match: 1n, next: 5n });
    q.becomeSnapshot(10n);
    expect([q.state, q.match, q.pendingSnapshot]).toEqual([StateType.StateSnapshot, 1n, 10n]);
  });

  it('maybeUpdate never decreases match or next', () => {
    const cases: [bigint, bigint, bigint, boolean][] = [
      [2n, 3n, 5n, false],
      [3n, 3n, 5n, false],
      [4n, 4n, 5n, true],
      [5n, 5n, 6n, true],
    ];
    for (const [update, wm, wn, wok] of cases) {
      const p = pr({ match: 3n, next: 5n });
      expect(p.maybeUpdate(update)).toBe(wok);
      expect([p.match, p.next]).toEqual([wm, wn]);
    }
  });

  it('optimisticUpdate', () => {
    const p = pr({ match: 3n, next: 5n });
    p.optimisticUpdate(9n);
    expect(p.next).toBe(10n);
  });

  it('maybeDecrTo: replicate vs probe rejections', () => {
    // [state, match, next, rejected, last, wantOk, wantNext]
    const cases: [StateType, bigint, bigint, bigint, bigint, boolean, bigint][] = [
      [StateType.StateReplicate, 5n, 10n, 5n, 5n, false, 10n], // rejected <= match: stale
      [StateType.StateReplicate, 5n, 10n, 4n, 4n, false, 10n],
      [StateType.StateReplicate, 5n, 10n, 9n, 9n, true, 6n], // back to match+1
      [StateType.StateProbe, 0n, 0n, 0n, 0n, false, 0n], // next-1 != rejected: stale
      [StateType.StateProbe, 0n, 10n, 5n, 5n, false, 10n],
      [StateType.StateProbe, 0n, 10n, 9n, 9n, true, 9n],
      [StateType.StateProbe, 0n, 2n, 1n, 1n, true, 1n],
      [StateType.StateProbe, 0n, 1n, 0n, 0n, true, 1n], // never below 1
      [StateType.StateProbe, 0n, 10n, 9n, 2n, true, 3n], // min(rejected, last+1)
      [StateType.StateProbe, 0n, 10n, 9n, 0n, true, 1n],
    ];
    for (const [state, m, n, rejected, last, w, wn] of cases) {
      const p = pr({ state, match: m, next: n });
      expect(p.maybeDecrTo(rejected, last)).toBe(w);
      expect(p.match).toBe(m);
      expect(p.next).toBe(wn);
    }
  });

  it('clone shares inflights unless deep', () => {
    const p = pr({ match: 1n, next: 2n });
    expect(p.clone().inflights).toBe(p.inflights);
    expect(p.clone(true).inflights).not.toBe(p.inflights);
    expect(p.clone(true).toString()).toBe(p.toString());
  });

  it('progressMapString sorts by id', () => {
    const m = new Map([
      [10n, pr({ next: 1n, recentActive: true })],
      [2n, pr({ next: 3n, recentActive: true, isLearner: true })],
    ]);
    expect(progressMapString(m)).toBe('2: StateProbe match=0 next=3 learner\n10: StateProbe match=0 next=1\n');
  });
});

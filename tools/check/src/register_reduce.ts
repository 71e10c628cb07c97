// Reductions of a key's register history that keep its verdict, for the search in register.ts.
//
// A long run under faults leaves many `info` writes (a request timed out, a connection dropped):
// each may have taken effect at any time after its invoke, or never, and stays open to the end of
// the history, so k of them multiply the states to search by up to 2^k. Most of them were never
// observed by anyone: nothing read their value, no cas compared against it. Such a write changes
// nothing that could be checked, and the reductions below set it aside.
//
// Terms. A linearization L of a key's history is a sequence of its ops that holds every definite
// (ok) op and any subset of the info ops, respects real time (a before b when a returned before b
// was invoked), and is legal for the register: each read returns the value left by the op before
// it (the initial value at the start), each cas's expected value is the value left before it.
// The history is linearizable iff some L exists. An op's *written value* is a write's value or a
// cas's new value. An op o *observes* v when o is an ok read that returned v, or a cas (ok or
// info) whose expected value is v. (Failed cas are left out of the history before this: they did
// not happen. Info reads are left out: they have no effect and constrain nothing.)
//
// Lemma. Let w be an info write or cas with written value v, and L a linearization in which every
// observer of v other than w itself comes before w (in particular: when v has no observer at all).
// Then L without w is a linearization too.
// Proof. Let s be the op right after w in L, if any. Right after w the register holds v, so s is
// not a read (it would return v: an observer of v, but every observer is before w) and not a cas
// (legal only if it expects v: an observer again). So s is a write, which is legal in any state.
// Removing w changes the value seen by s alone, and s does not look at it; every other op sees the
// same value as in L. w is an info op, so L without it still holds every definite op; a
// subsequence of a real-time-respecting order respects real time. ∎
//
// Reduction 1 (before the search, `dropUnobserved`): an info op whose written value has no
// observer besides itself is dropped. By the lemma, any linearization of the history gives one
// without w, and a linearization without w is one of the history (w is info: it may never have
// happened). So the history is linearizable iff the history without w is: every anomaly stays.
// Dropping an info cas removes an observer of its expected value, which may leave another info
// write unobserved: the reduction is applied until nothing changes (each step keeps the verdict).
// It does not need values to be unique; the harness's are (`${worker}.${seq}`, one counter per run).
//
// Reduction 2 (during the search, `observerLinks`): an info op is not linearized at a point where
// every observer of its written value is already linearized. Suppose the history has a
// linearization. Remove, one at a time, each info op w that comes after all observers of its value
// (its "dead" placements): by the lemma each removal leaves a linearization, and it ends (finitely
// many ops) with a linearization L* in which every info op has an observer after it, or one absent
// from L*. Along L*, when an info op is reached, that observer is not yet linearized, so the search
// does not skip it: L* is among the paths the search explores, and it is found. Conversely the
// search only builds real linearizations. Whether an info op is skipped depends only on the set
// linearized so far, which is part of the memo's key, so a memoized state means the same thing
// with or without the skip. So the search's verdict is unchanged.
import type { Op } from './history.js';

export type Value = string | null;

export interface RegOp {
  /** 0..n-1 within its key's searched list (the bit in the memo's set). */
  id: number;
  f: 'read' | 'write' | 'cas';
  /** read: the value read; write: the value; cas: [expected, new] */
  value: unknown;
  call: number;
  ret: number; // Infinity for info
  info: boolean;
  invoke: Op;
  completion?: Op;
}

/** The value an op leaves in the register when it takes effect (undefined for a read). */
export function writtenValue(op: RegOp): Value | undefined {
  if (op.f === 'write') return (op.value as Value) ?? null;
  if (op.f === 'cas') return (op.value as [Value, Value])[1] ?? null;
  return undefined;
}

/** The value an op must find in the register to take effect (undefined for a write). */
export function observedValue(op: RegOp): Value | undefined {
  if (op.f === 'read') return (op.value as Value) ?? null;
  if (op.f === 'cas') return (op.value as [Value, Value])[0] ?? null;
  return undefined;
}

/**
 * Reduction 1: drops, until nothing changes, every info op whose written value no other op of the
 * list observes. The kept ops are renumbered 0..n-1 in their order (copies; the input is untouched).
 */
export function dropUnobserved(ops: readonly RegOp[]): { kept: RegOp[]; dropped: RegOp[] } {
  const observers = new Map<Value, number>();
  const bump = (v: Value | undefined, d: number): void => {
    if (v !== undefined) observers.set(v, (observers.get(v) ?? 0) + d);
  };
  for (const o of ops) bump(observedValue(o), +1);
  const alive = ops.map(() => true);
  // Invariant: observers[v] counts the alive ops observing v.
  const unobserved = (o: RegOp): boolean => {
    const v = writtenValue(o)!;
    const self = observedValue(o) === v ? 1 : 0;
    return (observers.get(v) ?? 0) - self === 0;
  };
  for (let changed = true; changed; ) {
    changed = false;
    ops.forEach((o, i) => {
      if (!alive[i] || !o.info || o.f === 'read' || !unobserved(o)) return;
      alive[i] = false;
      bump(observedValue(o), -1);
      changed = true;
    });
  }
  const kept: RegOp[] = [];
  const dropped: RegOp[] = [];
  ops.forEach((o, i) => {
    if (alive[i]) kept.push({ ...o, id: kept.length });
    else dropped.push(o);
  });
  return { kept, dropped };
}

/**
 * Reduction 2's bookkeeping over ops numbered 0..n-1: `observes[i]` lists the info ops (by id)
 * whose written value op i observes (itself excluded); `pending[j]` starts as the number of
 * observers of info op j. The search subtracts 1 from each `pending[j]` of `observes[i]` when it
 * linearizes op i, adds it back on backtracking, and skips info op j while `pending[j]` is 0.
 */
export function observerLinks(ops: readonly RegOp[]): { observes: number[][]; pending: Int32Array } {
  const writers = new Map<Value, number[]>();
  for (const o of ops) {
    if (!o.info) continue;
    const v = writtenValue(o);
    if (v === undefined) continue;
    const l = writers.get(v);
    if (l === undefined) writers.set(v, [o.id]);
    else l.push(o.id);
  }
  const pending = new Int32Array(ops.length);
  const observes = ops.map((o) => {
    const v = observedValue(o);
    const ids = v === undefined ? [] : (writers.get(v) ?? []).filter((j) => j !== o.id);
    for (const j of ids) pending[j]!++;
    return ids;
  });
  return { observes, pending };
}

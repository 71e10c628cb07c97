// Linearizability of single-key registers (read / write / cas), per key.
//
// The algorithm is Wing & Gong's search with Lowe's memoization, as in Porcupine: the history of a
// key is a list of call and return entries in time order; the search walks it, linearizing a call
// whenever the model accepts it, and backtracks on a return whose call is not yet linearized. A
// (set of linearized ops, register state) pair seen before is never explored again, which keeps the
// search polynomial in practice. The search is bounded: over `maxSteps` it answers 'unknown'.
//
// `info` operations may take effect at any time after their invoke, or never: their return entries
// are placed after every definite one, and reaching one means every definite op is linearized (the
// remaining info ops are taken as never having happened). `fail` operations did not happen and are
// left out; an info read has no effect and is left out as well.
import type { Anomaly, CheckResult, HistoryEvent, Op, RegisterOptions } from './history.js';
import { pairOps, resultOf } from './pairs.js';

type Value = string | null;

interface RegOp {
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

interface Entry {
  op: RegOp;
  isCall: boolean;
  time: number;
  prev: Entry | null;
  next: Entry | null;
  match: Entry | null; // a call's return entry
}

function step(state: Value, op: RegOp): { ok: boolean; state: Value } {
  switch (op.f) {
    case 'read':
      return { ok: state === (op.value ?? null), state };
    case 'write':
      return { ok: true, state: (op.value as Value) ?? null };
    case 'cas': {
      const [from, to] = op.value as [Value, Value];
      return state === (from ?? null) ? { ok: true, state: to ?? null } : { ok: false, state };
    }
  }
}

function fmt(v: unknown): string {
  return JSON.stringify(v);
}

/** Result of one key's search. */
interface KeyVerdict {
  valid: true | false | 'unknown';
  steps: number;
  /** On false: the op whose return could not be reached with everything before it linearized. */
  stuck?: RegOp;
  /** On false: the ops concurrent with `stuck` at the deepest point of the search. */
  concurrent?: RegOp[];
  /** On false: the states the register could be in at that point. */
  states?: Value[];
}

function checkKey(ops: RegOp[], initial: Value, maxSteps: number): KeyVerdict {
  const entries: Entry[] = [];
  for (const op of ops) {
    const call: Entry = { op, isCall: true, time: op.call, prev: null, next: null, match: null };
    const ret: Entry = { op, isCall: false, time: op.ret, prev: null, next: null, match: null };
    call.match = ret;
    entries.push(call, ret);
  }
  // Calls before returns at equal times: touching ops count as concurrent (the permissive order).
  entries.sort((a, b) => a.time - b.time || (a.isCall === b.isCall ? a.op.id - b.op.id : a.isCall ? -1 : 1));
  const head: Entry = { op: ops[0]!, isCall: true, time: -Infinity, prev: null, next: null, match: null };
  let last = head;
  for (const e of entries) {
    e.prev = last;
    last.next = e;
    last = e;
  }
  const lift = (c: Entry): void => {
    c.prev!.next = c.next;
    c.next!.prev = c.prev; // a call always has its return after it
    const r = c.match!;
    r.prev!.next = r.next;
    if (r.next) r.next.prev = r.prev;
  };
  const unlift = (c: Entry): void => {
    const r = c.match!;
    r.prev!.next = r;
    if (r.next) r.next.prev = r;
    c.prev!.next = c;
    c.next!.prev = c;
  };

  const words = Math.ceil(ops.length / 32) || 1;
  const bits = new Uint32Array(words);
  const cache = new Set<string>();
  const keyOf = (s: Value): string => `${bits.join(',')}|${s === null ? '~' : `=${s}`}`;
  const stack: Array<{ entry: Entry; state: Value }> = [];
  let state = initial;
  let entry = head.next;
  let steps = 0;
  let deepest = -1;
  let verdictAtDeepest: Pick<KeyVerdict, 'stuck' | 'concurrent' | 'states'> = {};
  const deepStates = new Set<Value>();

  while (entry !== null) {
    if (++steps > maxSteps) return { valid: 'unknown', steps };
    if (!entry.isCall && entry.op.info) return { valid: true, steps }; // only info ops remain
    if (entry.isCall) {
      const r = step(state, entry.op);
      if (r.ok) {
        const id = entry.op.id;
        bits[id >>> 5]! |= 1 << (id & 31);
        const k = keyOf(r.state);
        if (!cache.has(k)) {
          cache.add(k);
          stack.push({ entry, state });
          state = r.state;
          lift(entry);
          entry = head.next;
          continue;
        }
        bits[id >>> 5]! &= ~(1 << (id & 31));
      }
      entry = entry.next;
      continue;
    }
    // A definite op returned before it could be linearized: remember the deepest such point.
    if (stack.length > deepest) {
      deepest = stack.length;
      deepStates.clear();
      const concurrent: RegOp[] = [];
      for (let e = head.next; e !== null && e !== entry; e = e.next) if (e.isCall) concurrent.push(e.op);
      verdictAtDeepest = { stuck: entry.op, concurrent };
    }
    if (stack.length === deepest) deepStates.add(state);
    const top = stack.pop();
    if (top === undefined) {
      return { valid: false, steps, ...verdictAtDeepest, states: [...deepStates] };
    }
    state = top.state;
    const id = top.entry.op.id;
    bits[id >>> 5]! &= ~(1 << (id & 31));
    unlift(top.entry);
    entry = top.entry.next;
  }
  return { valid: true, steps };
}

/** Checks every key's register history for linearizability. */
export function checkRegister(history: readonly HistoryEvent[], opts: RegisterOptions = {}): CheckResult {
  const maxSteps = opts.maxSteps ?? 1_000_000;
  const initial = opts.initial ?? null;
  const byKey = new Map<string, RegOp[]>();
  for (const p of pairOps(history)) {
    const f = p.invoke.f;
    if (f !== 'read' && f !== 'write' && f !== 'cas') continue;
    if (p.type === 'fail') continue;
    if (p.type === 'info' && f === 'read') continue;
    const key = p.invoke.key ?? '';
    let list = byKey.get(key);
    if (list === undefined) byKey.set(key, (list = []));
    const value = f === 'read' ? (p.completion?.value ?? null) : p.invoke.value;
    const op: RegOp = {
      id: list.length,
      f,
      value,
      call: p.invoke.time,
      ret: p.type === 'info' ? Infinity : p.completion!.time,
      info: p.type === 'info',
      invoke: p.invoke,
    };
    if (p.completion !== undefined) op.completion = p.completion;
    list.push(op);
  }
  const anomalies: Anomaly[] = [];
  const stats: Record<string, number> = { keys: byKey.size, ops: 0, steps: 0, unknownKeys: 0 };
  for (const [key, ops] of byKey) {
    stats.ops! += ops.length;
    const v = checkKey(ops, initial, maxSteps);
    stats.steps! += v.steps;
    if (v.valid === 'unknown') stats.unknownKeys!++;
    if (v.valid !== false) continue;
    const s = v.stuck!;
    const idx = (o: RegOp): number[] => (o.completion ? [o.invoke.index, o.completion.index] : [o.invoke.index]);
    const involved = [s, ...(v.concurrent ?? []).filter((o) => o !== s)];
    anomalies.push({
      checker: 'register',
      type: 'nonlinearizable',
      key,
      message:
        `key ${fmt(key)}: ${s.f} ${fmt(s.value)} by process ${s.invoke.process} (op ${s.invoke.index}) ` +
        `cannot be linearized; the register could only hold ${(v.states ?? []).map(fmt).join(' or ')} ` +
        `there, with ${involved.length - 1} other op(s) still open`,
      ops: involved.flatMap(idx),
    });
  }
  return resultOf(anomalies, stats, stats.unknownKeys! > 0);
}

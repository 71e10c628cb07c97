// Linearizability of single-key registers (read / write / cas), per key.
//
// The algorithm is Wing & Gong's search with Lowe's memoization, as in Porcupine: the history of a
// key is a list of call and return entries in time order; the search walks it, linearizing a call
// whenever the model accepts it, and backtracks on a return whose call is not yet linearized. A
// (set of linearized ops, register value) pair seen before is never explored again, which keeps the
// search polynomial in practice. The search is bounded: over `maxSteps` it answers 'unknown', and
// the result's notes name the key and its sizes.
//
// `info` operations may take effect at any time after their invoke, or never: their return entries
// are placed after every definite one (their completion is +infinity), and reaching one means every
// definite op is linearized (the remaining info ops are taken as never having happened). `fail`
// operations did not happen and are left out; an info read has no effect and is left out as well.
//
// Per key (P-compositionality): a register's ops touch one key, and linearizability is local
// (Herlihy & Wing): a history is linearizable iff each key's sub-history is. So each key is
// searched on its own.
//
// Before and during the search, info writes nobody could have seen are set aside; register_reduce.ts
// holds those reductions and the proofs that they keep every anomaly.
import type { Anomaly, CheckResult, HistoryEvent, RegisterOptions } from './history.js';
import { pairOps, resultOf } from './pairs.js';
import { dropUnobserved, observerLinks, type RegOp, type Value } from './register_reduce.js';

/** The default search bound per key, in steps (about 10 s; 10 M steps took 4.7 s and 130 MB). */
export const DEFAULT_MAX_STEPS = 20_000_000;
/** The memo's bound: a JavaScript Set holds at most 2^24 entries. Over it, the key is 'unknown'. */
const MAX_MEMO = 16_000_000;

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
  if (ops.length === 0) return { valid: true, steps: 0 };
  const entries: Entry[] = [];
  for (const op of ops) {
    const call: Entry = { op, isCall: true, time: op.call, prev: null, next: null, match: null };
    const ret: Entry = { op, isCall: false, time: op.ret, prev: null, next: null, match: null };
    call.match = ret;
    entries.push(call, ret);
  }
  // Calls before returns at equal times: touching ops count as concurrent (the permissive order).
  // Among calls at one time, definite ops come before info ones (the order candidates are tried in;
  // any order is complete, this one finds a linearization sooner).
  entries.sort(
    (a, b) => a.time - b.time || (a.isCall === b.isCall ? Number(a.op.info) - Number(b.op.info) || a.op.id - b.op.id : a.isCall ? -1 : 1),
  );
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

  // Dead info ops (register_reduce.ts, reduction 2): `pending[i]` counts the observers of info op
  // i's written value not yet linearized; at 0 linearizing i can never help and it is skipped. The
  // count is a function of the linearized set, so skipping agrees with the memo.
  const { observes, pending } = observerLinks(ops);

  // The memo: the linearized set as 16-bit chunks plus the value's number, one string per state.
  const valueIds = new Map<Value, number>();
  const idOf = (v: Value): number => {
    let id = valueIds.get(v);
    if (id === undefined) valueIds.set(v, (id = valueIds.size));
    return id;
  };
  const words = Math.ceil(ops.length / 16);
  const bits = new Uint16Array(words);
  const cache = new Set<string>();
  const keyOf = (s: Value): string => {
    const id = idOf(s);
    return String.fromCharCode(...bits, id & 0xffff, id >>> 16);
  };
  const stack: Array<{ entry: Entry; state: Value }> = [];
  let state = initial;
  let entry = head.next;
  let steps = 0;
  let deepest = -1;
  let verdictAtDeepest: Pick<KeyVerdict, 'stuck' | 'concurrent' | 'states'> = {};
  const deepStates = new Set<Value>();
  const link = (op: RegOp, d: number): void => {
    for (const i of observes[op.id]!) pending[i]! += d;
  };

  while (entry !== null) {
    if (++steps > maxSteps) return { valid: 'unknown', steps: steps - 1 };
    if (!entry.isCall && entry.op.info) return { valid: true, steps }; // only info ops remain
    if (entry.isCall) {
      const op = entry.op;
      if (op.info && pending[op.id] === 0) {
        entry = entry.next;
        continue;
      }
      const r = step(state, op);
      if (r.ok) {
        const id = op.id;
        bits[id >>> 4]! |= 1 << (id & 15);
        const k = keyOf(r.state);
        if (!cache.has(k)) {
          if (cache.size >= MAX_MEMO) return { valid: 'unknown', steps };
          cache.add(k);
          stack.push({ entry, state });
          state = r.state;
          link(op, -1);
          lift(entry);
          entry = head.next;
          continue;
        }
        bits[id >>> 4]! &= ~(1 << (id & 15));
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
    bits[id >>> 4]! &= ~(1 << (id & 15));
    link(top.entry.op, +1);
    unlift(top.entry);
    entry = top.entry.next;
  }
  return { valid: true, steps };
}

/** The most ops open at one moment (an info op stays open to the end). */
function maxOpen(ops: readonly RegOp[]): number {
  const ev: Array<[number, number]> = [];
  for (const o of ops) ev.push([o.call, 1], [o.ret, -1]);
  ev.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  let n = 0;
  let max = 0;
  for (const [, d] of ev) max = Math.max(max, (n += d));
  return max;
}

/** The register ops of a history, per key (fail ops and info reads left out). */
function opsByKey(history: readonly HistoryEvent[]): Map<string, RegOp[]> {
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
  return byKey;
}

/** Checks every key's register history for linearizability. */
export function checkRegister(history: readonly HistoryEvent[], opts: RegisterOptions = {}): CheckResult {
  const maxSteps = opts.maxSteps ?? DEFAULT_MAX_STEPS;
  const initial = opts.initial ?? null;
  const byKey = opsByKey(history);
  const anomalies: Anomaly[] = [];
  const notes: string[] = [];
  const stats: Record<string, number> = { keys: byKey.size, ops: 0, steps: 0, maxKeySteps: 0, infoOps: 0, infoDropped: 0, unknownKeys: 0 };
  for (const [key, all] of byKey) {
    const { kept: ops, dropped } = dropUnobserved(all);
    const info = all.filter((o) => o.info).length;
    stats.ops! += all.length;
    stats.infoOps! += info;
    stats.infoDropped! += dropped.length;
    const v = checkKey(ops, initial, maxSteps);
    stats.steps! += v.steps;
    stats.maxKeySteps = Math.max(stats.maxKeySteps!, v.steps);
    if (v.valid === 'unknown') {
      stats.unknownKeys!++;
      notes.push(
        `register: key ${fmt(key)} undecided: the search bound of ${maxSteps} steps was hit with ` +
          `${ops.length} ops searched (${all.length} in all; ${info} info, ${dropped.length} of them ` +
          `dropped as never observed), at most ${maxOpen(ops)} open at once`,
      );
    }
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
  return resultOf(anomalies, stats, stats.unknownKeys! > 0, notes);
}

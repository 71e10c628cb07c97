// Elle-style checking of list-append transactions (Kingsbury & Alvaro, "Elle", VLDB 2020).
//
// Each append writes a value unique per key, so a read of a list names the transaction that wrote
// every element, and the longest read of a key gives its version order (every other read must be a
// prefix of it). From that order come the dependency edges between transactions:
//   ww  T1 appended the element right before T2's element (T2 overwrote T1's version);
//   wr  T2 read a list whose last element T1 appended;
//   rw  T1 read a list that T2's element extended next (T2 overwrote what T1 read);
//   rt  (strict serializability) T1 completed before T2 was invoked.
// A cycle is an anomaly, named by Adya's phenomena: only ww → G0; ww+wr → G1c; exactly one rw →
// G-single; more → G2; with an rt edge the name gets "-realtime". Read anomalies found directly:
// G1a (a read saw an element of a failed txn), G1b (a read ended on a txn's intermediate element),
// duplicate elements, elements nobody appended, reads that are not prefixes of the version order,
// and a txn that did not see its own earlier appends.
import type { AppendOptions, Anomaly, CheckResult, HistoryEvent, MicroOp, OpPair } from './history.js';
import { pairOps, resultOf } from './pairs.js';

type EdgeType = 'ww' | 'wr' | 'rw' | 'rt';

interface Txn {
  id: number;
  pair: OpPair;
  mops: MicroOp[];
  ok: boolean;
}

interface Edge {
  to: number;
  type: EdgeType;
  key?: string;
}

const ek = (key: string, v: number): string => `${key}\u0000${v}`;

function idxOf(t: Txn): number[] {
  return t.pair.completion ? [t.pair.invoke.index, t.pair.completion.index] : [t.pair.invoke.index];
}

export function checkAppend(history: readonly HistoryEvent[], opts: AppendOptions = {}): CheckResult {
  const strict = opts.strict ?? true;
  const maxCycles = opts.maxCyclesPerType ?? 8;
  const anomalies: Anomaly[] = [];
  const txns: Txn[] = [];
  const failedWriter = new Map<string, OpPair>();
  for (const p of pairOps(history)) {
    if (p.invoke.f !== 'txn') continue;
    if (p.type === 'fail') {
      for (const m of (p.invoke.value as MicroOp[]) ?? []) if (m.f === 'append') failedWriter.set(ek(m.key, m.value), p);
      continue;
    }
    const mops = (p.type === 'ok' ? p.completion!.value : p.invoke.value) as MicroOp[];
    txns.push({ id: txns.length, pair: p, mops: mops ?? [], ok: p.type === 'ok' });
  }

  // Who appended what, and each txn's last append per key (for G1b).
  const writer = new Map<string, Txn>();
  const lastAppend = new Map<string, number>(); // `${txn}\0${key}` → value
  for (const t of txns) {
    for (const m of t.mops) {
      if (m.f !== 'append') continue;
      const k = ek(m.key, m.value);
      if (writer.has(k)) {
        anomalies.push({
          checker: 'append',
          type: 'duplicate-append',
          key: m.key,
          message: `value ${m.value} appended to ${m.key} twice (workload bug)`,
          ops: idxOf(t),
        });
      }
      writer.set(k, t);
      lastAppend.set(`${t.id}\u0000${m.key}`, m.value);
    }
  }

  // Version order per key: the longest ok read; every ok read must be a prefix of it.
  const longest = new Map<string, { list: number[]; txn: Txn }>();
  for (const t of txns) {
    if (!t.ok) continue;
    for (const m of t.mops) {
      if (m.f !== 'r' || m.value === null) continue;
      const cur = longest.get(m.key);
      if (cur === undefined || m.value.length > cur.list.length) longest.set(m.key, { list: m.value, txn: t });
    }
  }
  const position = new Map<string, number>(); // ek → index in the version order
  for (const [key, { list }] of longest)
    list.forEach((v, i) => {
      position.set(ek(key, v), i);
    });

  for (const t of txns) {
    if (!t.ok) continue;
    const ownAppends = new Map<string, number[]>();
    for (const m of t.mops) {
      if (m.f === 'append') {
        const l = ownAppends.get(m.key) ?? [];
        l.push(m.value);
        ownAppends.set(m.key, l);
        continue;
      }
      const list = m.value ?? [];
      const order = longest.get(m.key)!;
      const seen = new Set<number>();
      for (let i = 0; i < list.length; i++) {
        const v = list[i]!;
        if (seen.has(v)) {
          anomalies.push({
            checker: 'append',
            type: 'duplicate-element',
            key: m.key,
            message: `read of ${m.key} has ${v} twice: [${list}]`,
            ops: idxOf(t),
          });
        }
        seen.add(v);
        if (order !== undefined && order.list[i] !== v) {
          anomalies.push({
            checker: 'append',
            type: 'incompatible-order',
            key: m.key,
            message: `read of ${m.key} [${list}] is not a prefix of the longest read [${order.list}]`,
            ops: [...idxOf(t), ...idxOf(order.txn)],
          });
          break;
        }
        const k = ek(m.key, v);
        const f = failedWriter.get(k);
        if (f !== undefined) {
          anomalies.push({
            checker: 'append',
            type: 'G1a',
            key: m.key,
            message: `aborted read: ${m.key} [${list}] contains ${v}, appended by a failed txn (op ${f.invoke.index})`,
            ops: [...idxOf(t), f.invoke.index, ...(f.completion ? [f.completion.index] : [])],
          });
        } else if (!writer.has(k)) {
          anomalies.push({
            checker: 'append',
            type: 'garbage-read',
            key: m.key,
            message: `read of ${m.key} has ${v}, which nobody appended`,
            ops: idxOf(t),
          });
        }
      }
      const lastV = list[list.length - 1];
      if (lastV !== undefined) {
        const w = writer.get(ek(m.key, lastV));
        if (w !== undefined && w !== t && lastAppend.get(`${w.id}\u0000${m.key}`) !== lastV) {
          anomalies.push({
            checker: 'append',
            type: 'G1b',
            key: m.key,
            message: `intermediate read: ${m.key} [${list}] ends on ${lastV}, but its txn (op ${w.pair.invoke.index}) appended ${lastAppend.get(`${w.id}\u0000${m.key}`)} after it`,
            ops: [...idxOf(t), ...idxOf(w)],
          });
        }
      }
      const own = ownAppends.get(m.key);
      if (own !== undefined) {
        const tail = list.slice(list.length - own.length);
        if (tail.length !== own.length || tail.some((v, i) => v !== own[i])) {
          anomalies.push({
            checker: 'append',
            type: 'internal',
            key: m.key,
            message: `txn read ${m.key} [${list}] after appending [${own}] itself`,
            ops: idxOf(t),
          });
        }
      }
    }
  }

  // The dependency graph.
  const out: Edge[][] = txns.map(() => []);
  const addEdge = (a: Txn, b: Txn, type: EdgeType, key?: string): void => {
    if (a === b) return;
    out[a.id]!.push(key === undefined ? { to: b.id, type } : { to: b.id, type, key });
  };
  for (const [key, { list }] of longest) {
    for (let i = 0; i + 1 < list.length; i++) {
      const a = writer.get(ek(key, list[i]!));
      const b = writer.get(ek(key, list[i + 1]!));
      if (a && b) addEdge(a, b, 'ww', key);
    }
  }
  for (const t of txns) {
    if (!t.ok) continue;
    for (const m of t.mops) {
      if (m.f !== 'r') continue;
      const list = m.value ?? [];
      const order = longest.get(m.key);
      const last = list[list.length - 1];
      if (last !== undefined) {
        const w = writer.get(ek(m.key, last));
        if (w) addEdge(w, t, 'wr', m.key);
      }
      if (order !== undefined) {
        // the next version after what was read (prefix property checked above)
        const nextV = last === undefined ? order.list[0] : order.list[(position.get(ek(m.key, last)) ?? -2) + 1];
        if (nextV !== undefined) {
          const w = writer.get(ek(m.key, nextV));
          if (w) addEdge(t, w, 'rw', m.key);
        }
      }
    }
  }
  let rtEdges = 0;
  if (strict) rtEdges = addRealtimeEdges(txns, addEdge);

  const cycles = findCycles(txns, out, maxCycles);
  for (const c of cycles) anomalies.push(c);
  let edges = 0;
  for (const o of out) edges += o.length;
  return resultOf(anomalies, { txns: txns.length, edges, realtimeEdges: rtEdges, keys: longest.size });
}

/** Adds T1 →rt T2 for T1 completed before T2 invoked, transitively reduced (Elle's frontier). */
function addRealtimeEdges(txns: Txn[], addEdge: (a: Txn, b: Txn, t: EdgeType) => void): number {
  const events: Array<{ time: number; call: boolean; t: Txn }> = [];
  for (const t of txns) {
    events.push({ time: t.pair.invoke.time, call: true, t });
    if (t.ok) events.push({ time: t.pair.completion!.time, call: false, t });
  }
  // At equal times a completion does not precede an invoke (they count as concurrent).
  events.sort((a, b) => a.time - b.time || (a.call === b.call ? 0 : a.call ? -1 : 1));
  let frontier = new Set<Txn>();
  const preds = new Map<Txn, Set<Txn>>();
  let n = 0;
  for (const e of events) {
    if (e.call) {
      preds.set(e.t, frontier);
      for (const p of frontier) {
        addEdge(p, e.t, 'rt');
        n++;
      }
    } else {
      const before = preds.get(e.t)!;
      const next = new Set<Txn>();
      for (const f of frontier) if (!before.has(f)) next.add(f);
      next.add(e.t);
      frontier = next;
    }
  }
  return n;
}

const describe = (e: Edge, from: Txn, to: Txn): string =>
  `T${from.pair.invoke.index} -${e.type}${e.key !== undefined ? `(${e.key})` : ''}-> T${to.pair.invoke.index}`;

function classify(path: Edge[]): string {
  const rw = path.filter((e) => e.type === 'rw').length;
  const wr = path.some((e) => e.type === 'wr');
  const rt = path.some((e) => e.type === 'rt');
  const base = rw === 0 ? (wr ? 'G1c' : 'G0') : rw === 1 ? 'G-single' : 'G2';
  return rt ? `${base}-realtime` : base;
}

/** Tarjan's SCCs, then, per SCC, shortest cycles through each edge, most restrictive edge set first. */
function findCycles(txns: Txn[], out: Edge[][], maxPerType: number): Anomaly[] {
  const n = txns.length;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const comp = new Int32Array(n).fill(-1);
  const stack: number[] = [];
  let counter = 0;
  let comps = 0;
  // iterative Tarjan
  for (let s = 0; s < n; s++) {
    if (index[s] !== -1) continue;
    const work: Array<[number, number]> = [[s, 0]];
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const [v, i] = frame;
      if (i === 0) {
        index[v] = low[v] = counter++;
        stack.push(v);
        onStack[v] = 1;
      }
      const edges = out[v]!;
      if (i < edges.length) {
        frame[1] = i + 1;
        const w = edges[i]!.to;
        if (index[w] === -1) work.push([w, 0]);
        else if (onStack[w]) low[v] = Math.min(low[v]!, index[w]!);
        continue;
      }
      work.pop();
      if (work.length > 0) {
        const parent = work[work.length - 1]![0];
        low[parent] = Math.min(low[parent]!, low[v]!);
      }
      if (low[v] === index[v]) {
        let w: number;
        do {
          w = stack.pop()!;
          onStack[w] = 0;
          comp[w] = comps;
        } while (w !== v);
        comps++;
      }
    }
  }
  const members = new Map<number, number[]>();
  for (let v = 0; v < n; v++) {
    const l = members.get(comp[v]!) ?? [];
    l.push(v);
    members.set(comp[v]!, l);
  }
  const found: Anomaly[] = [];
  const perType = new Map<string, number>();
  const seen = new Set<string>();
  const passes: Array<Set<EdgeType>> = [
    new Set<EdgeType>(['ww']),
    new Set<EdgeType>(['ww', 'wr']),
    new Set<EdgeType>(['ww', 'wr', 'rw']),
    new Set<EdgeType>(['ww', 'wr', 'rw', 'rt']),
  ];
  for (const [c, vs] of members) {
    if (vs.length < 2) continue;
    for (const allowed of passes) {
      for (const u of vs) {
        for (const e of out[u]!) {
          if (comp[e.to] !== c || !allowed.has(e.type)) continue;
          // G-single wants the one rw edge to be this one: search the rest of the way without rw.
          const restAllowed = e.type === 'rw' && allowed.has('rw') ? passWithout(allowed, 'rw') : allowed;
          let path = bfs(e.to, u, out, comp, c, restAllowed);
          if (path === null && restAllowed !== allowed) path = bfs(e.to, u, out, comp, c, allowed);
          if (path === null) continue;
          const cycle = [e, ...path];
          const nodes = [u, ...path.map((p) => p.to)];
          const sig = [...nodes].sort((a, b) => a - b).join(',') + '|' + classify(cycle);
          if (seen.has(sig)) continue;
          seen.add(sig);
          const type = classify(cycle);
          const count = perType.get(type) ?? 0;
          if (count >= maxPerType) continue;
          perType.set(type, count + 1);
          const steps = cycle.map((edge, i) => describe(edge, txns[nodes[i]!]!, txns[edge.to]!));
          found.push({
            checker: 'append',
            type,
            message: `cycle: ${steps.join(', ')}`,
            ops: nodes.flatMap((v) => idxOf(txns[v]!)),
          });
        }
      }
    }
  }
  return found;
}

function passWithout(s: Set<EdgeType>, t: EdgeType): Set<EdgeType> {
  const r = new Set(s);
  r.delete(t);
  return r;
}

/** Shortest path from → to inside SCC c using only allowed edge types (edges returned in order). */
function bfs(from: number, to: number, out: Edge[][], comp: Int32Array, c: number, allowed: Set<EdgeType>): Edge[] | null {
  if (from === to) return [];
  const prev = new Map<number, { v: number; e: Edge }>();
  const queue = [from];
  const visited = new Set<number>([from]);
  for (let qi = 0; qi < queue.length; qi++) {
    const v = queue[qi]!;
    for (const e of out[v]!) {
      if (!allowed.has(e.type) || comp[e.to] !== c || visited.has(e.to)) continue;
      visited.add(e.to);
      prev.set(e.to, { v, e });
      if (e.to === to) {
        const path: Edge[] = [];
        for (let x = to; x !== from; ) {
          const p = prev.get(x)!;
          path.push(p.e);
          x = p.v;
        }
        return path.reverse();
      }
      queue.push(e.to);
    }
  }
  return null;
}

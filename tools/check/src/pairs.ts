import type { Anomaly, CheckResult, HistoryEvent, Op, OpPair } from './history.js';

/** Pairs each invoke with its completion (by invokeIndex, else by process order, as Jepsen). */
export function pairOps(history: readonly HistoryEvent[]): OpPair[] {
  const pairs: OpPair[] = [];
  const byInvoke = new Map<number, OpPair>();
  const open = new Map<number, OpPair>();
  for (const ev of history) {
    if (ev.kind !== 'op') continue;
    if (ev.type === 'invoke') {
      const p: OpPair = { invoke: ev, type: 'info' };
      pairs.push(p);
      byInvoke.set(ev.index, p);
      open.set(ev.process, p);
      continue;
    }
    const p = ev.invokeIndex !== undefined ? byInvoke.get(ev.invokeIndex) : open.get(ev.process);
    if (p === undefined || p.completion !== undefined) {
      throw new Error(`completion ${ev.index} of process ${ev.process} has no outstanding invoke`);
    }
    p.completion = ev;
    p.type = ev.type;
    open.delete(ev.process);
  }
  return pairs;
}

/** The operations of a history (nemesis events left out). */
export function opsOf(history: readonly HistoryEvent[]): Op[] {
  return history.filter((e): e is Op => e.kind === 'op');
}

/** One result from several: invalid if any is, else unknown if any is; expected anomalies kept. */
export function mergeResults(results: Record<string, CheckResult>): CheckResult {
  const anomalies: Anomaly[] = [];
  const stats: Record<string, number> = {};
  const notes: string[] = [];
  let valid: CheckResult['valid'] = true;
  for (const [name, r] of Object.entries(results)) {
    anomalies.push(...r.anomalies);
    for (const [k, v] of Object.entries(r.stats)) stats[`${name}.${k}`] = v;
    if (r.notes) notes.push(...r.notes);
    if (r.valid === false) valid = false;
    else if (r.valid === 'unknown' && valid === true) valid = 'unknown';
  }
  return notes.length > 0 ? { valid, anomalies, stats, notes } : { valid, anomalies, stats };
}

/** valid is false when an anomaly is not an expected one. */
export function resultOf(anomalies: Anomaly[], stats: Record<string, number>, unknown = false, notes: string[] = []): CheckResult {
  const bad = anomalies.some((a) => a.expected !== true);
  const valid = bad ? false : unknown ? 'unknown' : true;
  return notes.length > 0 ? { valid, anomalies, stats, notes } : { valid, anomalies, stats };
}

// Nothing acknowledged is lost: after the run heals, a final read of every key shows every ok write.
//  - a register write / cas / put acknowledged at revision r is lost if the key's final mod
//    revision is below r, or equals r with another value (a later write supersedes it: the version
//    order of a key is its revision order);
//  - an element appended by an ok list-append txn must be in the key's final list.
import type { Anomaly, CheckResult, FinalRead, HistoryEvent, MicroOp } from './history.js';
import { pairOps, resultOf } from './pairs.js';

/** The elements of a list value as the append workload stores it ("1,2,3"; "" = empty). */
export function parseList(v: string | null): number[] {
  if (v === null || v === '') return [];
  return v.split(',').map(Number);
}

export function checkLost(history: readonly HistoryEvent[], finals: readonly FinalRead[]): CheckResult {
  const anomalies: Anomaly[] = [];
  const final = new Map(finals.map((f) => [f.key, f]));
  const lists = new Map<string, Set<number>>();
  const listOf = (key: string): Set<number> | undefined => {
    let s = lists.get(key);
    const f = final.get(key);
    if (s === undefined && f !== undefined) lists.set(key, (s = new Set(parseList(f.value))));
    return s;
  };
  let writes = 0;
  let appends = 0;
  for (const p of pairOps(history)) {
    if (p.type !== 'ok') continue;
    const c = p.completion!;
    const ops = [p.invoke.index, c.index];
    const f = p.invoke.f;
    if ((f === 'write' || f === 'cas' || f === 'put') && p.invoke.key !== undefined && c.revision !== undefined) {
      const fin = final.get(p.invoke.key);
      if (fin === undefined) continue; // not read at the end (e.g. a lease key: it may expire)
      writes++;
      const value = f === 'cas' ? (p.invoke.value as [unknown, unknown])[1] : p.invoke.value;
      if (fin.modRevision < c.revision || (fin.modRevision === c.revision && fin.value !== value)) {
        anomalies.push({
          checker: 'lost',
          type: 'lost-write',
          key: p.invoke.key,
          message:
            `${f} ${JSON.stringify(p.invoke.key)}=${JSON.stringify(value)} acknowledged at revision ${c.revision}, ` +
            `but the final read is ${JSON.stringify(fin.value)} at mod revision ${fin.modRevision}`,
          ops,
        });
      }
    } else if (f === 'txn') {
      for (const m of (c.value as MicroOp[]) ?? []) {
        if (m.f !== 'append') continue;
        const s = listOf(m.key);
        if (s === undefined) continue;
        appends++;
        if (!s.has(m.value)) {
          anomalies.push({
            checker: 'lost',
            type: 'lost-append',
            key: m.key,
            message: `append of ${m.value} to ${JSON.stringify(m.key)} acknowledged, but the final list [${final.get(m.key)!.value}] lacks it`,
            ops,
          });
        }
      }
    }
  }
  return resultOf(anomalies, { writes, appends, keys: finals.length });
}

// Mutual exclusion of the lock workload. A process surely held the lock from its acquire's
// completion to its release's invoke; two such intervals of one lock that overlap are two holders
// at once. etcd's lock (a lease plus the lowest create revision) is not safe against a holder that
// pauses past its lease: such overlaps are reported as expected anomalies and never fail a run.
import type { Anomaly, CheckResult, HistoryEvent, OpPair } from './history.js';
import { pairOps, resultOf } from './pairs.js';

interface Hold {
  process: number;
  from: number;
  to: number;
  acquire: OpPair;
  release?: OpPair;
}

export function checkLock(history: readonly HistoryEvent[], opts: { expected?: boolean } = {}): CheckResult {
  const expected = opts.expected ?? true;
  const anomalies: Anomaly[] = [];
  const holds = new Map<string, Hold[]>();
  const open = new Map<string, Hold>(); // `${lock}\0${process}`
  for (const p of pairOps(history)) {
    const key = p.invoke.key ?? '';
    const slot = `${key}\u0000${p.invoke.process}`;
    if (p.invoke.f === 'acquire' && p.type === 'ok') {
      const h: Hold = { process: p.invoke.process, from: p.completion!.time, to: Infinity, acquire: p };
      open.set(slot, h);
      const l = holds.get(key) ?? [];
      l.push(h);
      holds.set(key, l);
    } else if (p.invoke.f === 'release') {
      const h = open.get(slot);
      if (h === undefined) continue;
      h.to = p.invoke.time;
      h.release = p;
      open.delete(slot);
    }
  }
  let n = 0;
  for (const [key, list] of holds) {
    list.sort((a, b) => a.from - b.from);
    n += list.length;
    for (let i = 0; i < list.length; i++) {
      for (let j = i + 1; j < list.length && list[j]!.from < list[i]!.to; j++) {
        const a = list[i]!;
        const b = list[j]!;
        if (a.process === b.process) continue;
        const ops = [a, b].flatMap((h) => [
          h.acquire.invoke.index,
          h.acquire.completion!.index,
          ...(h.release ? [h.release.invoke.index] : []),
        ]);
        anomalies.push({
          checker: 'lock',
          type: 'lock-overlap',
          key,
          expected,
          message:
            `lock ${JSON.stringify(key)} held by processes ${a.process} and ${b.process} at once ` +
            `(${a.from.toFixed(0)}–${a.to === Infinity ? 'end' : a.to.toFixed(0)} ms and ${b.from.toFixed(0)}–${b.to === Infinity ? 'end' : b.to.toFixed(0)} ms)`,
          ops,
        });
      }
    }
  }
  return resultOf(anomalies, { holds: n, overlaps: anomalies.length });
}

// When leadership may have changed during a run, from its history's nemesis events (for the lease
// checker): a new term seen by the Status poll ('leader' events) changed since the previous poll,
// and a fault may move leadership from its start to its end plus three election timeouts.
import type { HistoryEvent } from '@kv/check';

export const ELECTION_TIMEOUT_MS = 1_000;
/** A new term seen by the Status poll happened since the previous poll (250 ms + its timeout). */
export const LEADER_POLL_WINDOW_MS = 1_000;

export function leaderWindows(
  events: readonly HistoryEvent[],
  electionTimeoutMs: number,
  pollWindowMs: number,
): Array<{ from: number; to: number }> {
  const windows: Array<{ from: number; to: number }> = [];
  const opened = new Map<string, number>();
  for (const e of events) {
    if (e.kind !== 'nemesis') continue;
    if (e.name === 'leader') windows.push({ from: e.time - pollWindowMs, to: e.time });
    else if (e.phase === 'start') opened.set(e.name, e.time);
    else {
      const from = e.phase === 'stop' ? (opened.get(e.name) ?? e.time) : e.time;
      opened.delete(e.name);
      windows.push({ from, to: e.time + 3 * electionTimeoutMs });
    }
  }
  for (const from of opened.values()) windows.push({ from, to: Infinity });
  return windows;
}

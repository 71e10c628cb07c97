// Re-checks a saved run (its history.json) with the checkers that need nothing but the history:
// register, append, lock, and leases (leader windows from the nemesis events; the revocations seen
// by the final replay are not saved, so the revoked-twice rule has nothing to check). Watch and
// lost writes need the final reads and the replayed revisions, which a run does not save; the
// start-up read probe's stalls are timings, kept in history.json's anomalies as they were found.
// The command is recheck_main.ts (pnpm jepsen:recheck <run dir or history.json>).
import { type CheckResult, checkAppend, checkLeases, checkLock, checkRegister, type HistoryEvent, mergeResults } from '@kv/check';
import { ELECTION_TIMEOUT_MS, LEADER_POLL_WINDOW_MS, leaderWindows } from './leader_windows.js';

export interface Recheck {
  result: CheckResult;
  /** Wall time of each checker (ms). */
  ms: Record<string, number>;
}

/** Runs the history-only checkers over `events`, timing each. */
export function recheck(events: readonly HistoryEvent[]): Recheck {
  const results: Record<string, CheckResult> = {};
  const ms: Record<string, number> = {};
  const timed = (name: string, f: () => CheckResult): void => {
    const t = performance.now();
    results[name] = f();
    ms[name] = performance.now() - t;
  };
  const has = (f: string): boolean => events.some((e) => e.kind === 'op' && e.f === f);
  if (has('read') || has('write') || has('cas')) timed('register', () => checkRegister(events));
  if (has('txn')) timed('append', () => checkAppend(events));
  if (has('acquire')) timed('lock', () => checkLock(events));
  if (has('grant'))
    timed('lease', () =>
      checkLeases({
        history: events,
        electionTimeoutMs: ELECTION_TIMEOUT_MS,
        slackMs: 1_000,
        leaderChanges: leaderWindows(events, ELECTION_TIMEOUT_MS, LEADER_POLL_WINDOW_MS),
      }),
    );
  return { result: mergeResults(results), ms };
}

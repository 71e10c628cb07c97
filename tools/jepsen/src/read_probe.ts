// The start-up read probe (as the simulation's): on a new, idle cluster with no fault, every
// member serves linearizable reads at once, one after another, each from a client that talks to
// that member only. Each read must be answered well inside the ReadIndex retry interval; a read
// that takes longer had its round dropped somewhere — as when two members' rounds carry the same
// context and the leader ignores the second (the stall etcd's Go client found by spreading reads
// over all members; `--bug read-index-collision` puts it back).
import { Client } from '@kv/client';
import type { Anomaly, CheckResult } from '@kv/check';

/** etcd's readIndexRetryTime and kvd's default: a ReadIndex round unanswered this long is re-sent. */
export const READ_INDEX_RETRY_MS = 500;
/** On loopback an idle cluster answers in a few ms; past this a read waited for a retry. */
export const READ_STALL_MS = 400;

export interface ReadProbeOptions {
  /** One client URL or host:port per member. */
  endpoints: readonly string[];
  /** Reads per member (default 8), one after another. */
  rounds?: number;
  /** A read slower than this is a stall (default READ_STALL_MS). */
  stallMs?: number;
  /** Deadline of each read (default 5 s; a read that fails is a stall too). */
  timeoutMs?: number;
}

/**
 * Runs the probe. Every member first answers one warm-up read (not judged: a leader just elected
 * may not have committed in its term yet); then `rounds` judged reads per member, all members at
 * once. Each member does the same number of reads, so their ReadIndex rounds stay in step.
 */
export async function readProbe(o: ReadProbeOptions): Promise<CheckResult> {
  const rounds = o.rounds ?? 8;
  const stallMs = o.stallMs ?? READ_STALL_MS;
  const timeoutMs = o.timeoutMs ?? 5_000;
  const anomalies: Anomaly[] = [];
  let reads = 0;
  let slowest = 0;
  const clients = o.endpoints.map((e) => new Client({ endpoints: [e], dialTimeoutMs: 1_000, requestTimeoutMs: timeoutMs }));
  try {
    // Connections first, so that dialing is not timed.
    await Promise.all(clients.map((c) => c.get('probe', { serializable: true }).catch(() => undefined)));
    await Promise.all(clients.map((c) => c.get('probe').catch(() => undefined)));
    await Promise.all(
      clients.map(async (c, i) => {
        for (let r = 1; r <= rounds; r++) {
          const began = performance.now();
          try {
            await c.get('probe');
          } catch (err) {
            anomalies.push(stall(o.endpoints[i]!, r, `failed on an idle cluster with no fault: ${(err as Error)?.message ?? String(err)}`));
            return;
          }
          const took = performance.now() - began;
          reads++;
          slowest = Math.max(slowest, took);
          if (took > stallMs)
            anomalies.push(
              stall(
                o.endpoints[i]!,
                r,
                `took ${took.toFixed(0)} ms on an idle cluster with no fault (ReadIndex retry: ${READ_INDEX_RETRY_MS} ms): a round was dropped`,
              ),
            );
        }
      }),
    );
  } finally {
    for (const c of clients) c.close();
  }
  return { valid: anomalies.length === 0, anomalies, stats: { reads, slowestMs: Math.round(slowest) } };
}

function stall(endpoint: string, round: number, what: string): Anomaly {
  return { checker: 'read-probe', type: 'read-stall', message: `linearizable read ${round} on ${endpoint} ${what}`, ops: [] };
}

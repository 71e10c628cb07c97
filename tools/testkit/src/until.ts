// Polling with a deadline, for tests and scripts that wait on something outside their control
// (a process, a cluster). Every wait is bounded: the loop ends by the deadline at the latest.

export interface UntilOptions {
  /** Longest wait (ms, default 30000). */
  timeoutMs?: number;
  /** Pause between attempts (ms, default 100). */
  intervalMs?: number;
  /** Named in the timeout error (default "condition"). */
  what?: string;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Calls `cond` until it returns something other than undefined, null or false, and resolves with
 * that value. An error thrown by `cond` counts as "not yet"; the last one is named when time runs out.
 */
export async function until<T>(
  cond: () => T | undefined | null | false | Promise<T | undefined | null | false>,
  opts: UntilOptions = {},
): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 30_000;
  const intervalMs = opts.intervalMs ?? 100;
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v !== undefined && v !== null && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() >= deadline) {
      const why = last === undefined ? '' : ` (last error: ${last instanceof Error ? last.message : String(last)})`;
      throw new Error(`${opts.what ?? 'condition'}: not true within ${timeoutMs} ms${why}`);
    }
    await sleep(intervalMs);
  }
}

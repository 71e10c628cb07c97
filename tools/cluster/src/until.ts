// Polls a condition until it yields a value or time runs out; for tests and scripts that wait on
// a cluster. Errors thrown by the condition count as "not yet" and the last one is reported.
// This signature is kept for the launcher's users; it runs on the test kit's until().
import { until as untilKit } from '@kv/testkit';

export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  // Only undefined means "not yet" here (a false or null result is an answer).
  const box = await untilKit(
    async () => {
      const v = await fn();
      return v === undefined ? undefined : { v };
    },
    { what, timeoutMs, intervalMs },
  );
  return box.v;
}

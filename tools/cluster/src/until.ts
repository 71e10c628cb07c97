// Polls a condition until it yields a value or time runs out; for tests and scripts that wait on
// a cluster. Errors thrown by the condition count as "not yet" and the last one is reported.
export async function until<T>(what: string, fn: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await fn();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not in time (last error: ${String(last)})`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

// Member health as etcd defines it for clients: `GET /health` on the client URL answers 200 with
// {"health":"true"} once the member has a leader (and no alarm). kvd answers the same way.
import type { ReadyProbe } from './process.js';

export type HealthState = { healthy: true } | { healthy: false; reason: string };

/** One probe of `${clientUrl}/health`, bounded by `timeoutMs`. */
export async function probeHealth(clientUrl: string, timeoutMs = 1000): Promise<HealthState> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    let health: unknown;
    try {
      health = (JSON.parse(text) as { health?: unknown }).health;
    } catch {
      health = undefined;
    }
    if (res.status === 200 && health === 'true') return { healthy: true };
    return { healthy: false, reason: `HTTP ${res.status} ${text.trim().slice(0, 200)}` };
  } catch (e) {
    const err = e as Error & { cause?: { code?: string; message?: string } };
    return { healthy: false, reason: err.cause?.code ?? err.cause?.message ?? err.message };
  }
}

/** A readiness probe (for ManagedProcess.waitReady): ready once `${clientUrl}/health` says healthy. */
export function healthProbe(clientUrl: string): ReadyProbe {
  return async () => {
    const h = await probeHealth(clientUrl);
    return h.healthy ? { ready: true } : { ready: false, reason: h.reason };
  };
}

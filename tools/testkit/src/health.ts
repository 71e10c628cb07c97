// Member health as etcd defines it for clients: `GET /health` on the client URL answers 200 with
// {"health":"true"} once the member has a leader (and no alarm). kvd answers the same way.
import { request as httpsRequest } from 'node:https';
import type { ReadyProbe } from './process.js';

export type HealthState = { healthy: true } | { healthy: false; reason: string };

/** One probe of `${clientUrl}/health`, bounded by `timeoutMs`; an https URL is checked against `ca`. */
export async function probeHealth(clientUrl: string, timeoutMs = 1000, ca?: Buffer): Promise<HealthState> {
  try {
    const { status, text } = clientUrl.startsWith('https:')
      ? await httpsGet(`${clientUrl}/health`, timeoutMs, ca)
      : await plainGet(`${clientUrl}/health`, timeoutMs);
    let health: unknown;
    try {
      health = (JSON.parse(text) as { health?: unknown }).health;
    } catch {
      health = undefined;
    }
    if (status === 200 && health === 'true') return { healthy: true };
    return { healthy: false, reason: `HTTP ${status} ${text.trim().slice(0, 200)}` };
  } catch (e) {
    const err = e as Error & { code?: string; cause?: { code?: string; message?: string } };
    return { healthy: false, reason: err.cause?.code ?? err.cause?.message ?? err.code ?? err.message };
  }
}

async function plainGet(url: string, timeoutMs: number): Promise<{ status: number; text: string }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(timeoutMs) });
  return { status: res.status, text: await res.text() };
}

/** fetch cannot be given a CA; node:https can. */
function httpsGet(url: string, timeoutMs: number, ca: Buffer | undefined): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
    req.end();
  });
}

/** A readiness probe (for ManagedProcess.waitReady): ready once `${clientUrl}/health` says healthy. */
export function healthProbe(clientUrl: string, ca?: Buffer): ReadyProbe {
  return async () => {
    const h = await probeHealth(clientUrl, 1000, ca);
    return h.healthy ? { ready: true } : { ready: false, reason: h.reason };
  };
}

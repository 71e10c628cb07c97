// Lease safety.
//  - No key outlives its lease: a read that starts later than the lease's last possible renewal
//    plus its TTL plus an election timeout (a new leader extends every lease by about one election
//    timeout, as etcd's lessor Promote does) must not see the key still attached to the lease; and
//    no read that starts after a revoke completed may see it.
//  - No lease is revoked twice: the server-side revocations of one lease are at one revision.
// A renewal (grant or keep-alive) may take effect up to its completion, so the latest completion
// (ok or info) of a renewal invoked before the read completed bounds the deadline from above.
// Lease expiry uses monotonic clocks on the members, so wall-clock skew does not apply here.
import type { Anomaly, CheckResult, LeaseCheckInput, OpPair } from './history.js';
import { pairOps, resultOf } from './pairs.js';

interface LeaseInfo {
  id: string;
  ttlMs: number;
  renewals: OpPair[];
  /** when a revoke of it completed ok */
  endedAt: number;
  endedBy?: OpPair;
}

const leaseId = (v: unknown): string | undefined =>
  v !== null && typeof v === 'object' && 'id' in v ? String((v as { id: unknown }).id) : undefined;
const ttlOf = (v: unknown): number | undefined =>
  v !== null && typeof v === 'object' && 'ttl' in v ? Number((v as { ttl: unknown }).ttl) : undefined;
const idx = (p: OpPair): number[] => (p.completion ? [p.invoke.index, p.completion.index] : [p.invoke.index]);

export function checkLeases(input: LeaseCheckInput): CheckResult {
  const slack = input.slackMs ?? 0;
  const anomalies: Anomaly[] = [];
  const leases = new Map<string, LeaseInfo>();
  const pairs = pairOps(input.history);
  const get = (id: string): LeaseInfo => {
    let l = leases.get(id);
    if (l === undefined) leases.set(id, (l = { id, ttlMs: 0, renewals: [], endedAt: Infinity }));
    return l;
  };
  for (const p of pairs) {
    const f = p.invoke.f;
    if (f === 'grant' && p.type === 'ok') {
      const v = p.completion!.value;
      const id = leaseId(v);
      if (id === undefined) continue;
      const l = get(id);
      l.ttlMs = Math.max(l.ttlMs, (ttlOf(v) ?? ttlOf(p.invoke.value) ?? 0) * 1000);
      l.renewals.push(p);
    } else if (f === 'keepalive' && p.type !== 'fail') {
      const id = leaseId(p.invoke.value);
      if (id === undefined) continue;
      const l = get(id);
      // A keep-alive answered "not found" proves nothing about the keys yet: an expired lease's
      // revocation may still be on its way through raft. It is simply no renewal.
      const ttl = p.type === 'ok' ? ttlOf(p.completion!.value) : undefined;
      if (ttl !== undefined && ttl <= 0) continue;
      if (ttl !== undefined) l.ttlMs = Math.max(l.ttlMs, ttl * 1000);
      l.renewals.push(p);
    } else if (f === 'revoke' && p.type === 'ok') {
      const id = leaseId(p.invoke.value);
      if (id === undefined) continue;
      const l = get(id);
      if (p.completion!.time < l.endedAt) {
        l.endedAt = p.completion!.time;
        l.endedBy = p;
      }
    }
  }
  let reads = 0;
  for (const p of pairs) {
    if (p.invoke.f !== 'get' || p.type !== 'ok') continue;
    const c = p.completion!;
    if (c.lease === undefined || c.lease === '0' || c.value === null || c.value === undefined) continue;
    reads++;
    const l = leases.get(c.lease);
    if (l === undefined) continue; // a lease this history did not grant: nothing to bound it by
    if (p.invoke.time > l.endedAt) {
      anomalies.push({
        checker: 'lease',
        type: 'lease-outlived',
        key: p.invoke.key,
        message: `key ${JSON.stringify(p.invoke.key)} still attached to lease ${l.id} at ${p.invoke.time.toFixed(0)} ms, after the lease ended (${l.endedBy!.invoke.f} completed at ${l.endedAt.toFixed(0)} ms)`,
        ops: [...idx(p), ...idx(l.endedBy!)],
      });
      continue;
    }
    let latest = -Infinity;
    let by: OpPair | undefined;
    for (const r of l.renewals) {
      if (r.invoke.time > c.time) continue;
      const t = r.completion?.time ?? Infinity;
      if (t > latest) {
        latest = t;
        by = r;
      }
    }
    // A new leader extends every lease (etcd's Promote): a leadership change counts as a renewal.
    // The latest such moment that can precede the read's completion.
    for (const lc of input.leaderChanges ?? []) {
      const w = typeof lc === 'number' ? { from: lc, to: lc } : lc;
      if (w.from > c.time || by === undefined) continue;
      const t = Math.min(w.to, c.time);
      if (t > latest) latest = t;
    }
    if (by === undefined) continue;
    const deadline = latest + l.ttlMs + input.electionTimeoutMs + slack;
    if (p.invoke.time > deadline) {
      anomalies.push({
        checker: 'lease',
        type: 'lease-outlived',
        key: p.invoke.key,
        message:
          `key ${JSON.stringify(p.invoke.key)} still attached to lease ${l.id} at ${p.invoke.time.toFixed(0)} ms; ` +
          `the last renewal (or possible leader change) was at ${latest.toFixed(0)} ms, TTL ${l.ttlMs} ms + election ${input.electionTimeoutMs} ms + slack ${slack} ms ` +
          `→ deadline ${deadline.toFixed(0)} ms`,
        ops: [...idx(p), ...idx(by)],
      });
    }
  }
  const revs = new Map<string, Set<number>>();
  for (const r of input.revocations ?? []) {
    const s = revs.get(r.lease) ?? new Set<number>();
    s.add(r.revision);
    revs.set(r.lease, s);
  }
  for (const [lease, s] of revs) {
    if (s.size > 1) {
      anomalies.push({
        checker: 'lease',
        type: 'lease-revoked-twice',
        message: `lease ${lease} revoked at revisions ${[...s].sort((a, b) => a - b).join(', ')}`,
        ops: [],
      });
    }
  }
  return resultOf(anomalies, { leases: leases.size, attachedReads: reads, revocations: input.revocations?.length ?? 0 });
}

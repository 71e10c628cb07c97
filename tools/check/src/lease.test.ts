import { describe, expect, it } from 'vitest';
import { History } from './history.js';
import { checkLeases } from './lease.js';

function run(
  readAt: number,
  opts: { revokeAt?: number; leaderChanges?: Array<number | { from: number; to: number }> } = {},
): ReturnType<typeof checkLeases> {
  let now = 0;
  const h = new History(() => now);
  const g = h.invoke(1, 'grant', { value: { ttl: 2 } });
  now = 5;
  h.ok(g, { value: { id: '7', ttl: 2 } });
  now = 10;
  h.ok(h.invoke(1, 'put', { key: 'k', value: 'v', lease: '7' }), { revision: 2 });
  now = 500;
  const ka = h.invoke(1, 'keepalive', { value: { id: '7' } });
  now = 510;
  h.ok(ka, { value: { id: '7', ttl: 2 } });
  if (opts.revokeAt !== undefined) {
    now = opts.revokeAt;
    const rv = h.invoke(1, 'revoke', { value: { id: '7' } });
    now++;
    h.ok(rv);
  }
  now = readAt;
  const r = h.invoke(2, 'get', { key: 'k' });
  now = readAt + 3;
  h.ok(r, { value: 'v', lease: '7' });
  return checkLeases({ history: h.events, electionTimeoutMs: 1000, ...(opts.leaderChanges ? { leaderChanges: opts.leaderChanges } : {}) });
}

describe('checkLeases', () => {
  it('allows a key within TTL + election timeout of the last renewal', () => {
    expect(run(3400).valid).toBe(true); // 510 + 2000 + 1000 = 3510
  });
  it('finds a key that outlived its lease', () => {
    const res = run(3600);
    expect(res.valid).toBe(false);
    expect(res.anomalies[0]!.type).toBe('lease-outlived');
  });
  it('counts a leader change as a renewal (a new leader extends every lease)', () => {
    expect(run(3600, { leaderChanges: [1000] }).valid).toBe(true); // 1000 + 3000 > 3600
    expect(run(4100, { leaderChanges: [1000] }).valid).toBe(false);
    // a change somewhere in [3000, 9000]: it may have come just before the read at 5000
    expect(run(5000, { leaderChanges: [{ from: 3000, to: 9000 }] }).valid).toBe(true);
    expect(run(5000, { leaderChanges: [{ from: 6000, to: 9000 }] }).valid).toBe(false);
  });
  it('finds a key that outlived a revoke', () => {
    expect(run(900, { revokeAt: 800 }).anomalies.map((a) => a.type)).toEqual(['lease-outlived']);
  });
  it('finds a lease revoked twice', () => {
    const res = checkLeases({
      history: [],
      electionTimeoutMs: 1000,
      revocations: [
        { lease: '7', revision: 4, time: 1 },
        { lease: '7', revision: 4, time: 1 },
        { lease: '7', revision: 9, time: 2 },
      ],
    });
    expect(res.anomalies.map((a) => a.type)).toEqual(['lease-revoked-twice']);
  });
});

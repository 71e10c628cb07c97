import { History } from '@kv/check';
import { describe, expect, it } from 'vitest';
import { leaderWindows } from './leader_windows.js';
import { recheck } from './recheck.js';

describe('recheck of a saved history', () => {
  it('runs the history-only checkers, times them and finds a stale read', () => {
    let now = 0;
    const h = new History(() => now);
    const w1 = h.invoke(1, 'write', { key: 'reg/0-0', value: '0.1' });
    now = 1;
    h.ok(w1);
    // a burst of info writes nobody read: dropped by the register checker
    for (let p = 10; p < 40; p++) h.info(h.invoke(p, 'write', { key: 'reg/0-0', value: `9.${p}` }), 'timeout');
    h.nemesis('kill', 'start', 'member 1');
    now = 2;
    const w2 = h.invoke(2, 'write', { key: 'reg/0-0', value: '0.2' });
    now = 3;
    h.ok(w2);
    h.nemesis('kill', 'stop', 'member 1');
    const ok = recheck(h.events);
    expect(ok.result.valid).toBe(true);
    expect(ok.result.stats['register.infoDropped']).toBe(30);
    expect(Object.keys(ok.ms)).toEqual(['register']);
    now = 4;
    const r = h.invoke(3, 'read', { key: 'reg/0-0' });
    now = 5;
    h.ok(r, { value: '0.1' });
    const bad = recheck(h.events);
    expect(bad.result.valid).toBe(false);
    expect(bad.result.anomalies[0]!.ops).toContain(r.index);
  });

  it('derives leadership windows from faults and new terms', () => {
    let now = 100;
    const h = new History(() => now);
    h.nemesis('pause', 'start');
    now = 200;
    h.nemesis('pause', 'stop');
    now = 500;
    h.nemesis('leader', 'instant', 'term 3');
    now = 600;
    h.nemesis('partition', 'start');
    expect(leaderWindows(h.events, 1000, 1000)).toEqual([
      { from: 100, to: 3200 },
      { from: -500, to: 500 },
      { from: 600, to: Infinity },
    ]);
  });
});

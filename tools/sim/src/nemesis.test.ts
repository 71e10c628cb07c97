import { History } from '@kv/check';
import { describe, expect, it } from 'vitest';
import { Nemesis, allFaults, type NemesisTarget } from './nemesis.js';
import { SimNetwork } from './network.js';
import { SimRng } from './rng.js';
import { Scheduler } from './scheduler.js';

/** The cluster as the nemesis sees it, keeping the state the faults leave (the test's observer). */
class Machines implements NemesisTarget {
  readonly names = ['m1', 'm2', 'm3'];
  down = new Set<string>();
  paused = new Set<string>();
  rates = new Map<string, number>();
  fsync = new Set<string>();
  log: string[] = [];
  leader(): string | undefined {
    return this.names.find((n) => !this.down.has(n));
  }
  isUp(n: string): boolean {
    return !this.down.has(n);
  }
  crash(n: string, powerLoss: boolean): void {
    this.down.add(n);
    this.log.push(`crash ${n} ${powerLoss}`);
  }
  async restart(n: string): Promise<void> {
    this.down.delete(n);
    this.fsync.delete(n);
  }
  pause(n: string): void {
    this.paused.add(n);
  }
  resume(n: string): void {
    this.paused.delete(n);
  }
  jumpWall(n: string, ms: number): void {
    this.log.push(`jump ${n} ${ms}`);
  }
  setRate(n: string, r: number): void {
    this.rates.set(n, r);
  }
  failNextFsync(n: string): void {
    this.fsync.add(n);
  }
}

async function run(seed: number, endMs = 20_000) {
  const s = new Scheduler();
  const rng = new SimRng(seed);
  const net = new SimNetwork(s, rng.fork('net'));
  const t = new Machines();
  const h = new History(() => s.now());
  const n = new Nemesis(s, rng.fork('nemesis'), net, t, h, { startMs: 100, endMs, minGapMs: 100, maxGapMs: 500, faults: allFaults });
  n.start();
  await s.runUntil(endMs - 1);
  const during = {
    down: t.down.size,
    paused: t.paused.size,
    linked: t.names.every((a) => t.names.every((b) => a === b || net.linked(a, b))),
  };
  await n.heal();
  return { s, t, h, n, net, during };
}

describe('Nemesis', () => {
  it('injects every kind of fault over a long enough window, recorded in the history', async () => {
    const { h, n } = await run(5, 60_000);
    for (const f of allFaults) expect(n.counts[f] ?? 0, f).toBeGreaterThan(0);
    const names = new Set(h.events.filter((e) => e.kind === 'nemesis').map((e) => (e.kind === 'nemesis' ? e.name : '')));
    expect(names).toContain('kill');
    expect(names).toContain('heal');
  });

  it('heal() ends every fault: links, pauses, skew, crashed members', async () => {
    for (const seed of [1, 2, 3, 4]) {
      const { t, net, s } = await run(seed);
      expect(t.down.size).toBe(0);
      expect(t.paused.size).toBe(0);
      expect([...t.rates.values()].every((r) => r === 1)).toBe(true);
      for (const a of t.names) for (const b of t.names) expect(net.linked(a, b)).toBe(true);
      // nothing left scheduled that would start a new fault
      const before = t.log.length;
      await s.runUntil(s.now() + 60_000);
      expect(t.log.length).toBe(before);
    }
  });

  it('the schedule is a function of the seed', async () => {
    const a = await run(11);
    const b = await run(11);
    const c = await run(12);
    expect(b.t.log).toEqual(a.t.log);
    expect(b.s.traceHash()).toBe(a.s.traceHash());
    expect(c.s.traceHash()).not.toBe(a.s.traceHash());
  });
});

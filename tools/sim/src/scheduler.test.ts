import { describe, expect, it } from 'vitest';
import { SimRng } from './rng.js';
import { Scheduler } from './scheduler.js';

describe('Scheduler', () => {
  it('runs events in (time, seq) order and advances virtual time', async () => {
    const s = new Scheduler();
    const seen: string[] = [];
    s.at(10, 'b', () => seen.push(`b@${s.now()}`));
    s.at(5, 'a', () => seen.push(`a@${s.now()}`));
    s.at(10, 'c', () => seen.push(`c@${s.now()}`));
    await s.runUntil(100);
    expect(seen).toEqual(['a@5', 'b@10', 'c@10']);
    expect(s.now()).toBe(100);
  });

  it('lets promise reactions of an event run before the next event', async () => {
    const s = new Scheduler();
    const seen: string[] = [];
    s.at(1, 'x', () => {
      void Promise.resolve()
        .then(() => Promise.resolve())
        .then(() => seen.push('x settled'));
    });
    s.at(2, 'y', () => seen.push('y'));
    await s.runUntil(10);
    expect(seen).toEqual(['x settled', 'y']);
  });

  it("drops a killed clock's timers and defers a paused clock's until resume", async () => {
    const s = new Scheduler();
    const a = s.clock('a');
    const b = s.clock('b');
    const seen: string[] = [];
    a.setTimeout(() => seen.push('a1'), 10);
    b.setTimeout(() => seen.push('b1'), 10);
    b.setTimeout(() => seen.push('b2'), 20);
    s.at(5, 'kill a, pause b', () => {
      a.kill();
      b.pause();
    });
    s.at(50, 'resume b', () => b.resume());
    await s.runUntil(40);
    expect(seen).toEqual([]);
    await s.runUntil(100);
    expect(seen).toEqual(['b1', 'b2']);
  });

  it('intervals repeat until cleared; skew and wall jumps move one clock only', async () => {
    const s = new Scheduler();
    const a = s.clock('a');
    const fast = s.clock('fast');
    let n = 0;
    const t = a.setInterval(() => n++, 10);
    s.at(35, 'clear', () => t.clear());
    fast.setRate(2);
    let fired = -1;
    fast.setTimeout(() => (fired = s.now()), 100);
    const wall0 = a.wallNow();
    a.jumpWall(-60_000);
    await s.runUntil(200);
    expect(n).toBe(3);
    expect(fired).toBe(50);
    expect(fast.now()).toBe(400);
    expect(a.now()).toBe(200);
    expect(a.wallNow()).toBe(wall0 + 200 - 60_000);
  });

  it('same seed, same trace hash; another seed, another hash', async () => {
    const run = async (seed: number) => {
      const s = new Scheduler();
      const rng = new SimRng(seed);
      const clocks = [s.clock('m1'), s.clock('m2'), s.clock('m3')];
      for (const c of clocks) {
        c.setInterval(() => {
          s.trace(`${c.owner} tick ${rng.int(1000)}`);
          if (rng.chance(0.3)) c.setTimeout(() => s.trace(`${c.owner} late`), rng.int(50));
          if (rng.chance(0.05)) void Promise.resolve().then(() => s.trace(`${c.owner} microtask`));
        }, 10 + rng.int(10));
      }
      await s.runUntil(2000);
      return s.traceHash();
    };
    const h1 = await run(7);
    expect(await run(7)).toBe(h1);
    expect(await run(8)).not.toBe(h1);
  });

  it('SimRng forks are independent of later draws on the parent', () => {
    const a = new SimRng(42);
    const b = new SimRng(42);
    const fa = a.fork('net');
    a.next();
    const fb = b.fork('net');
    expect([fa.next(), fa.next()]).toEqual([fb.next(), fb.next()]);
    expect(new SimRng(1).fork('x').next()).not.toBe(new SimRng(1).fork('y').next());
  });
});

import { createServer } from 'node:net';
import { describe, expect, it } from 'vitest';
import { seededRandom } from '@kv/raft';
import { holdPorts, isAddrInUse, withFreshPorts } from './ports.js';
import { ManagedProcess, runProcess } from './process.js';
import { prng, Rand } from './rng.js';
import { until } from './until.js';

function bind(port: number): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', (e) => resolve(e));
    s.listen({ host: '127.0.0.1', port, exclusive: true }, () => s.close(() => resolve(undefined)));
  });
}

describe('ports', () => {
  it('a held port cannot be bound until it is released', async () => {
    const held = await holdPorts(3);
    expect(new Set(held.ports).size).toBe(3);
    expect((await bind(held.ports[0]!))?.code).toBe('EADDRINUSE');
    await held.release();
    await held.release(); // idempotent
    expect(await bind(held.ports[0]!)).toBeUndefined();
  });

  it('withFreshPorts retries a start that lost its port, and only then', async () => {
    const seen: number[][] = [];
    const got = await withFreshPorts(2, async (ports, release) => {
      seen.push([...ports]);
      await release();
      if (seen.length === 1) throw new Error('listen EADDRINUSE: address already in use 127.0.0.1:1');
      return 'up';
    });
    expect(got).toBe('up');
    expect(seen.length).toBe(2);
    let calls = 0;
    await expect(
      withFreshPorts(1, async () => {
        calls++;
        throw new Error('bad flag');
      }),
    ).rejects.toThrow('bad flag');
    expect(calls).toBe(1);
    expect(isAddrInUse('bind: address already in use')).toBe(true);
  });
});

describe('until', () => {
  it('resolves with the first truthy value and names the last error on timeout', async () => {
    let n = 0;
    expect(await until(() => (++n >= 3 ? n : undefined), { intervalMs: 1 })).toBe(3);
    await expect(
      until(
        () => {
          throw new Error('still down');
        },
        { timeoutMs: 30, intervalMs: 5, what: 'server up' },
      ),
    ).rejects.toThrow(/server up: not true within 30 ms \(last error: still down\)/);
  });
});

describe('rng', () => {
  it('is raft seededRandom: same seed, same sequence', () => {
    const a = prng(7);
    const r = seededRandom(7);
    for (let i = 0; i < 5; i++) expect(a()).toBe(r(0x1_0000_0000) / 0x1_0000_0000);
    const x = new Rand(9);
    const y = new Rand(9);
    expect(x.perm(10)).toEqual(y.perm(10));
    expect(x.perm(10).sort((p, q) => p - q)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });
});

describe('ManagedProcess', () => {
  it('starts, waits for readiness, keeps the output, stops by PID', async () => {
    const p = new ManagedProcess({
      name: 'echo',
      bin: process.execPath,
      args: ['-e', "console.log('hello'); setInterval(() => {}, 1000)"],
    });
    p.start();
    await p.waitReady(async () => (p.logTail().includes('hello') ? { ready: true } : { ready: false, reason: 'no hello' }), {
      timeoutMs: 20_000,
    });
    expect(p.running).toBe(true);
    expect(p.pid).toBeGreaterThan(0);
    const s = await p.stop();
    expect(s?.signal).toBe('SIGTERM');
    expect(p.running).toBe(false);
    await p.closeLog();
  });

  it('waitReady fails at once when the process exits, with its output', async () => {
    const p = new ManagedProcess({
      name: 'dies',
      bin: process.execPath,
      args: ['-e', "console.error('listen EADDRINUSE'); process.exit(3)"],
    });
    p.start();
    await expect(p.waitReady(async () => ({ ready: false, reason: 'never' }), { timeoutMs: 20_000 })).rejects.toThrow(
      /dies exited \(exit code 3\)[\s\S]*EADDRINUSE/,
    );
    await p.closeLog();
  });

  it('runProcess kills a command at its deadline', async () => {
    const r = await runProcess(process.execPath, ['-e', 'setTimeout(() => {}, 60000)'], { timeoutMs: 200 });
    expect(r.timedOut).toBe(true);
    expect(r.signal).toBe('SIGKILL');
  });
});

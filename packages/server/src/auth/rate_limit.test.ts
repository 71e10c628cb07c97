// The token bucket on a manual clock: burst, refill rate, cap, refunds.
import { describe, expect, it } from 'vitest';
import { ManualClock } from '../testutil/manual_clock.js';
import { AuthenticateBurst, AuthenticatePerSecond, TokenBucket } from './rate_limit.js';

describe('TokenBucket', () => {
  it('gives a burst of `capacity`, then refills at `perSecond`, never above capacity', async () => {
    const clock = new ManualClock();
    const b = new TokenBucket(clock, 3, 2);
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
    await clock.advance(499);
    expect(b.take()).toBe(false); // 0.998 of a token
    await clock.advance(1);
    expect(b.take()).toBe(true); // 500 ms at 2/s = 1
    expect(b.take()).toBe(false);
    await clock.advance(60_000);
    expect(b.available()).toBe(3); // capped
    expect([b.take(), b.take(), b.take(), b.take()]).toEqual([true, true, true, false]);
  });

  it('a refund gives back a taken token, up to capacity', () => {
    const clock = new ManualClock();
    const b = new TokenBucket(clock, 2, 1);
    expect(b.take()).toBe(true);
    b.refund();
    b.refund(); // nothing more to give back
    expect(b.available()).toBe(2);
    expect([b.take(), b.take(), b.take()]).toEqual([true, true, false]);
    b.refund();
    expect(b.take()).toBe(true);
  });

  it('refuses a bucket that could never give a token', () => {
    const clock = new ManualClock();
    expect(() => new TokenBucket(clock, 0, 1)).toThrow(/capacity >= 1/);
    expect(() => new TokenBucket(clock, 1, 0)).toThrow(/positive rate/);
    expect(AuthenticateBurst).toBeGreaterThan(AuthenticatePerSecond);
  });
});

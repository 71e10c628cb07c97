import { describe, expect, it } from 'vitest';
import { DiskReserveBytes, FreeBytesCacheFloor, FreeBytesTtlMs, SpaceGuard } from './space.js';

const GiB = 1024 * 1024 * 1024;

function guard(free: number) {
  const g = { free, calls: 0, now: 0 };
  const space = new SpaceGuard({
    quotaBytes: 2 * GiB,
    backendSize: () => 0,
    freeBytes: () => {
      g.calls++;
      return g.free;
    },
    now: () => g.now,
  });
  return { g, space };
}

describe('SpaceGuard free-space measurements', () => {
  it('reuses a measurement with plenty free, less what it accepted, until the TTL', () => {
    const { g, space } = guard(10 * GiB);
    expect(space.refusal(true, 1000)).toBeUndefined();
    expect(space.refusal(true, 1000)).toBeUndefined();
    expect(g.calls).toBe(1);
    // Two accepted requests of 1000 bytes count three times each (WAL, LevelDB log, tables).
    expect(space.freeBytes()).toBe(10 * GiB - 6000);
    g.now += FreeBytesTtlMs;
    expect(space.freeBytes()).toBe(10 * GiB);
    expect(g.calls).toBe(2);
  });

  it('measures again once the accepted bytes could have used an eighth of the reserve', () => {
    const { g, space } = guard(10 * GiB);
    const big = Math.ceil(DiskReserveBytes / 8 / 3);
    expect(space.refusal(true, big)).toBeUndefined();
    expect(g.calls).toBe(1);
    space.freeBytes();
    expect(g.calls).toBe(2);
  });

  it('measures at every check when free space is under the cache floor (someone else may fill the disk)', () => {
    const { g, space } = guard(FreeBytesCacheFloor - 1);
    space.refusal(true, 10);
    space.refusal(false, 0);
    expect(g.calls).toBe(2);
    g.free = 100; // filled by another process: refused at once
    expect(space.refusal(false, 0)).toBe('disk');
  });

  it('measures at every check without a clock', () => {
    let calls = 0;
    const space = new SpaceGuard({ quotaBytes: GiB, backendSize: () => 0, freeBytes: () => (calls++, 10 * GiB) });
    space.refusal(true, 1);
    space.refusal(true, 1);
    expect(calls).toBe(2);
  });
});

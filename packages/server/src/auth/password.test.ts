// Failed Authenticate calls cost what successful ones do: one bcrypt comparison at the configured
// cost also when there is no usable hash (unknown user, no-password user, overlong password).
import bcrypt from 'bcrypt';
import { describe, expect, it, vi } from 'vitest';
import { comparePassword, decoyHash, hashPassword, type Comparer } from './password.js';

function watching(): Comparer & { calls: [string, string][] } {
  const calls: [string, string][] = [];
  return {
    calls,
    compare: async (p: string, h: string) => {
      calls.push([p, h]);
      return bcrypt.compare(p, h);
    },
  };
}

describe('comparePassword', () => {
  it('compares against the decoy, at the configured cost, when there is no hash', async () => {
    for (const cost of [4, 10, 12]) {
      // A stand-in is enough here: what matters is which hash is compared, not how long it takes.
      const spy = vi.fn(async () => false);
      expect(await comparePassword('guess', undefined, cost, { compare: spy })).toBe(false);
      expect(await comparePassword('guess', Buffer.alloc(0), cost, { compare: spy })).toBe(false);
      expect(spy).toHaveBeenCalledTimes(2);
      expect(spy).toHaveBeenCalledWith('guess', decoyHash(cost));
      expect(bcrypt.getRounds(decoyHash(cost))).toBe(cost);
    }
  });

  it('the decoy is a well-formed bcrypt hash that the real bcrypt runs and no password matches', async () => {
    const w = watching();
    expect(await comparePassword('', undefined, 4, w)).toBe(false);
    expect(await comparePassword('decoy', undefined, 4, w)).toBe(false);
    expect(w.calls.map((c) => c[1])).toEqual([decoyHash(4), decoyHash(4)]);
    expect(decoyHash(4)).toHaveLength(60);
  });

  it('a real user: one comparison against its hash; an overlong password still costs one', async () => {
    const hash = Buffer.from(await hashPassword('pw', 4));
    const w = watching();
    expect(await comparePassword('pw', hash, 4, w)).toBe(true);
    expect(await comparePassword('nope', hash, 4, w)).toBe(false);
    expect(await comparePassword('x'.repeat(100), hash, 4, w)).toBe(false);
    expect(w.calls.map((c) => c[1])).toEqual([hash.toString(), hash.toString(), decoyHash(4)]);
  });
});

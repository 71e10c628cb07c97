// ReadIndex contexts: distinct between members, between starts of one member, and within a start.
import { describe, expect, it } from 'vitest';
import { realRandom } from '../world/clock.js';
import { readContextBytes, ReadContexts } from './read_context.js';

describe('ReadContexts', () => {
  it('never repeats a context within a start', () => {
    const c = new ReadContexts(0xabcn, Buffer.alloc(8, 1));
    const seen = new Set<string>();
    for (let i = 0; i < 1000; i++) seen.add(c.next().toString('hex'));
    expect(seen.size).toBe(1000);
  });

  it('differs between members that start with the same nonce and count alike', () => {
    const nonce = Buffer.alloc(8, 7);
    // Ids equal in their low 16 bits (etcd's request-id prefix) still give different contexts.
    const a = new ReadContexts(0x1111_0000_0000_0001n, nonce);
    const b = new ReadContexts(0x2222_0000_0000_0001n, nonce);
    for (let i = 0; i < 10; i++) expect(a.next().equals(b.next())).toBe(false);
  });

  it('differs between two starts of one member (the nonce), though both count from 1', () => {
    const first = new ReadContexts(5n, Buffer.from('0102030405060708', 'hex'));
    const second = new ReadContexts(5n, Buffer.from('0102030405060709', 'hex'));
    expect(first.next().equals(second.next())).toBe(false);
    // kvd's nonce comes from the system's random source (realRandom).
    expect(new ReadContexts(5n, realRandom.bytes(8)).next().equals(new ReadContexts(5n, realRandom.bytes(8)).next())).toBe(false);
  });

  it('lays out member id, nonce and sequence big-endian', () => {
    const ctx = new ReadContexts(0x0102n, Buffer.from('a1a2a3a4a5a6a7a8', 'hex')).next();
    expect(ctx.length).toBe(readContextBytes);
    expect(ctx.toString('hex')).toBe('0000000000000102' + 'a1a2a3a4a5a6a7a8' + '0000000000000001');
  });

  it('refuses a nonce that is not 8 bytes', () => {
    expect(() => new ReadContexts(1n, Buffer.alloc(4))).toThrow(/8 bytes/);
  });
});

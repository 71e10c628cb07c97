import { describe, expect, it } from 'vitest';
import { putVarint, summarize } from './check.js';
import { goParseUint16 } from './member.js';
import { replacePrefixOnce } from './mirror.js';

describe('check perf helpers', () => {
  it('putVarint is Go binary.PutVarint (zig-zag, base 128)', () => {
    const enc = (x: bigint) => {
      const b = Buffer.alloc(12);
      putVarint(b, x);
      return b.toString('hex').replace(/(00)+$/, '');
    };
    expect(enc(1n)).toBe('02');
    expect(enc(-1n)).toBe('01');
    expect(enc(300n)).toBe('d804');
    expect(enc(9223372036854775807n)).toBe('feffffffffffffffff01');
  });

  it('summarize is pkg/report: rate over the run, slowest, population stddev', () => {
    const s = summarize([0.1, 0.3], new Map(), 2);
    expect(s.rps).toBe(1);
    expect(s.slowest).toBe(0.3);
    expect(s.stddev).toBeCloseTo(0.1, 12);
  });
});

describe('argument and key helpers', () => {
  it('goParseUint16 is strconv.ParseUint(s, 16, 64) with its messages', () => {
    expect(goParseUint16('ffffffffffffffff')).toBe(0xffffffffffffffffn);
    expect(() => goParseUint16('-1')).toThrow('strconv.ParseUint: parsing "-1": invalid syntax');
    expect(() => goParseUint16('10000000000000000')).toThrow('strconv.ParseUint: parsing "10000000000000000": value out of range');
  });

  it('replacePrefixOnce is strings.Replace(key, from, to, 1)', () => {
    const r = (k: string, f: string, t: string) => replacePrefixOnce(Buffer.from(k), Buffer.from(f), Buffer.from(t)).toString();
    expect(r('src/a', 'src/', 'dst/')).toBe('dst/a');
    expect(r('a', '', 'p/')).toBe('p/a');
    expect(r('x/src/src/', 'src/', '')).toBe('x/src/');
  });
});

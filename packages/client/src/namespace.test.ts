// prefixInterval and request translation without a server (etcd's namespace/util.go cases).
import { describe, expect, it } from 'vitest';
import { prefixInterval } from './namespace.js';
import { Client, EmptyKeyError, Op, rangeRequest } from './index.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const hex = (x: Buffer) => x.toString('hex');

describe('prefixInterval', () => {
  it('prefixes a key, a range end, and turns "\\0" into the end of the prefix', () => {
    expect(prefixInterval(b('p/'), b('a'), b(''))).toEqual({ key: b('p/a'), rangeEnd: b('') });
    expect(prefixInterval(b('p/'), b('a'), b('c'))).toEqual({ key: b('p/a'), rangeEnd: b('p/c') });
    expect(prefixInterval(b('p/'), b('a'), b('\0'))).toEqual({ key: b('p/a'), rangeEnd: b('p0') });
    // 0xff bytes carry over; all 0xff (or no prefix) is the end of the keyspace.
    expect(hex(prefixInterval(b('a\xff'), b('k'), b('\0')).rangeEnd)).toBe(hex(b('b')));
    expect(hex(prefixInterval(b('\xff\xff'), b('k'), b('\0')).rangeEnd)).toBe('00');
    expect(hex(prefixInterval(b(''), b('k'), b('\0')).rangeEnd)).toBe('00');
  });

  it('translates requests and refuses empty single keys', async () => {
    const c = new Client({ endpoints: ['127.0.0.1:1'] });
    try {
      const ns = c.namespace('n/');
      expect(ns.prefixRange(rangeRequest('', { prefix: true }))).toMatchObject({ key: b('n/\0'), rangeEnd: b('n0') });
      expect(ns.prefixRange(rangeRequest('a', { prefix: true }))).toMatchObject({ key: b('n/a'), rangeEnd: b('n/b') });
      const t = ns.prefixTxn(
        c
          .txn()
          .if('k', 'mod', '>', 1)
          .if('r', 'version', '=', 0, { fromKey: true })
          .then(Op.txn(c.txn().then(Op.delete('d'))))
          .toRequest(),
      );
      expect(t.compare.map((x) => [x.key.toString('latin1'), x.rangeEnd.toString('latin1')])).toEqual([
        ['n/k', ''],
        ['n/r', 'n0'],
      ]);
      expect(t.success[0]!.requestTxn!.success[0]!.requestDeleteRange!.key).toEqual(b('n/d'));
      expect(() => ns.watch('')).toThrow(EmptyKeyError);
      expect(await ns.get('').catch((e) => e)).toBeInstanceOf(EmptyKeyError);
      expect(ns.namespace('m/').prefix).toEqual(b('n/m/'));
    } finally {
      c.close();
    }
  });
});

import { describe, expect, it } from 'vitest';
import { etcdserverpb } from '@kv/api';
import { argify, goParseInt, goUnquote, scanCompareTail } from './goparse.js';
import { parseCompare, parseRequestOp } from './commands/txn.js';
import { rewriteBoolFlags } from './argv.js';
import { CtlExit } from './exit.js';

describe('etcdctl input parsing', () => {
  it('parses integers like strconv.ParseInt', () => {
    expect(goParseInt('ff', 16)).toBe(255n);
    expect(goParseInt('-10', 10)).toBe(-10n);
    expect(() => goParseInt('zz', 16)).toThrow('strconv.ParseInt: parsing "zz": invalid syntax');
    expect(() => goParseInt('99999999999999999999', 10)).toThrow('value out of range');
  });

  it('unquotes Go string literals', () => {
    expect(goUnquote('"a\\"b\\x41\\n"').toString()).toBe('a"bA\n');
    expect(goUnquote('`raw\\n`').toString()).toBe('raw\\n');
    expect(() => goUnquote('"bad\\q"')).toThrow();
  });

  it('splits lines like argify, including its single-quote slicing', () => {
    expect(argify('put "a b" c')).toEqual(['put', 'a b', 'c']);
    expect(argify("put 'abcdef' b")).toEqual(['put', 'a', 'b']);
    expect(argify('get --prefix k')).toEqual(['get', '--prefix', 'k']);
  });

  it('scans compare tails like Sscanf("%q) %s %q")', () => {
    expect(scanCompareTail('"k") = "v"')).toMatchObject({ n: 3, op: '=' });
    expect(scanCompareTail('"k")>"v"').n).toBe(2);
    expect(scanCompareTail('k) = "v"').n).toBe(0);
  });

  it('builds compares and operations', async () => {
    const c = parseCompare('mod("k") > "3"');
    expect(c.target).toBe(etcdserverpb.Compare_CompareTarget.MOD);
    expect(c.result).toBe(etcdserverpb.Compare_CompareResult.GREATER);
    expect(c.modRevision).toBe(3n);
    expect(parseCompare('val("k") != "x"').value!.toString()).toBe('x');
    expect(() => parseCompare('bad')).toThrow(CtlExit);
    expect(() => parseCompare('foo("k") = "1"')).toThrow('unknown target foo');
    const op = await parseRequestOp('get k --prefix');
    expect(op.requestRange!.rangeEnd.toString()).toBe('l');
    const put = await parseRequestOp('p k v --prev-kv');
    expect(put.requestPut!.prevKv).toBe(true);
    await expect(parseRequestOp('nope a b')).rejects.toThrow('invalid txn request: nope a b');
  });

  it('rewrites pflag-style flags for commander', () => {
    expect(rewriteBoolFlags(['get', '--prefix=true', 'k', '--keys-only=false', '-w=json'])).toEqual(['get', '--prefix', 'k', '-w', 'json']);
    expect(rewriteBoolFlags(['--insecure-transport=false', 'get', '--', '--prefix=true'])).toEqual([
      '--no-insecure-transport',
      'get',
      '--',
      '--prefix=true',
    ]);
  });
});

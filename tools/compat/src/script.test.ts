import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { listScripts } from './runner.js';
import { expandKeys, makeKeys } from './keys.js';
import { parseDuration, parseScript, serializeScript, splitWords } from './script.js';

describe('splitWords', () => {
  it('splits on blanks and honours quotes and escapes', () => {
    expect(splitWords('put foo bar')).toEqual(['put', 'foo', 'bar']);
    expect(splitWords('  put   "" x ')).toEqual(['put', '', 'x']);
    expect(splitWords(`put 'a b' "c \\"d\\"" e\\ f`)).toEqual(['put', 'a b', 'c "d"', 'e f']);
    expect(splitWords('get "\\\\x00"')).toEqual(['get', '\\x00']);
    expect(splitWords(`x'y'"z"`)).toEqual(['xyz']);
  });

  it('rejects unterminated quotes', () => {
    expect(() => splitWords('put "a')).toThrow(/unterminated/);
    expect(() => splitWords("put 'a")).toThrow(/unterminated/);
  });
});

describe('parseDuration', () => {
  it('takes ms and s', () => {
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('2s')).toBe(2000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(() => parseDuration('2')).toThrow();
  });
});

const sample = `# header comment
% server-arg --max-request-bytes=1024

$ etcdctl put a 1
----
OK

# a txn
$ etcdctl txn -w json
% remaining=59
% sort
< value("a") = "1"
<
< put b 2
<
<
----
----
SUCCESS

OK
----
----

$ etcdctl watch a --rev 1 &w1

$ sleep 500ms
$ stop w1
% settle=2s
----

$ restart

$ etcdctl get missing
----
`;

describe('parseScript', () => {
  it('parses every kind of step', () => {
    const s = parseScript('sample.txt', sample);
    expect(s.options.serverArgs).toEqual(['--max-request-bytes=1024']);
    expect(s.options.keys).toBe(false);
    expect(s.steps.map((x) => x.command.kind)).toEqual(['etcdctl', 'etcdctl', 'etcdctl', 'sleep', 'stop', 'restart', 'etcdctl']);
    const [put, txn, watch, sleep, stop, , get] = s.steps;
    expect(put!.command).toEqual({ kind: 'etcdctl', args: ['put', 'a', '1'], background: null });
    expect(put!.expected).toBe('OK');
    expect(put!.preamble).toEqual(['# header comment', '% server-arg --max-request-bytes=1024', '']);
    expect(txn!.stdin).toBe('value("a") = "1"\n\nput b 2\n\n\n');
    expect(txn!.options).toEqual({ sort: true, remaining: 59, timeoutMs: null, settleMs: null });
    expect(txn!.expected).toBe('SUCCESS\n\nOK');
    expect(watch!.command).toEqual({ kind: 'etcdctl', args: ['watch', 'a', '--rev', '1'], background: 'w1' });
    expect(watch!.expected).toBeNull();
    expect(sleep!.command).toEqual({ kind: 'sleep', ms: 500 });
    expect(stop!.command).toEqual({ kind: 'stop', id: 'w1' });
    expect(stop!.options.settleMs).toBe(2000);
    expect(stop!.expected).toBe('');
    expect(get!.expected).toBe('');
  });

  it('round-trips canonical text', () => {
    expect(serializeScript(parseScript('sample.txt', sample))).toBe(sample);
  });

  it('replaces outputs, choosing the block form the text needs', () => {
    const s = parseScript('sample.txt', sample);
    const outs = s.steps.map(() => null as string | null);
    outs[0] = 'line1\n\nline3';
    outs[6] = 'x';
    const text = serializeScript(s, outs);
    expect(text).toContain('$ etcdctl put a 1\n----\n----\nline1\n\nline3\n----\n----\n');
    expect(text.endsWith('$ etcdctl get missing\n----\nx\n')).toBe(true);
    expect(parseScript('again', text).steps[0]!.expected).toBe('line1\n\nline3');
  });

  it('reports bad input with file and line', () => {
    expect(() => parseScript('f.txt', '$ frobnicate\n')).toThrow(/f.txt:1: unknown step/);
    expect(() => parseScript('f.txt', 'junk\n')).toThrow(/f.txt:1:/);
    expect(() => parseScript('f.txt', '$ etcdctl get a\n% bogus\n')).toThrow(/f.txt:2: unknown option/);
    expect(() => parseScript('f.txt', '$ restart\n----\nx\n')).toThrow(/prints nothing/);
    expect(() => parseScript('f.txt', '$ etcdctl get a\n----\n----\nx\n')).toThrow(/unterminated/);
    expect(() => parseScript('f.txt', '$ etcdctl get a\n----\nx\n\n% server-arg --x\n')).toThrow(/before the first step/);
  });
});

describe('golden scripts', () => {
  it.each(listScripts().map((f) => [basename(f), f]))('%s is canonical', (name, file) => {
    const text = readFileSync(file, 'utf8');
    expect(serializeScript(parseScript(name, text))).toBe(text);
  });
});

describe('% keys', () => {
  it('asks for a key dir that <KEYS> in server args names; refused after the first step', () => {
    const s = parseScript(
      'k.txt',
      '% keys\n% server-arg --auth-token=jwt,priv-key=<KEYS>/rsa.key,sign-method=RS256\n\n$ etcdctl get a\n----\n\n',
    );
    expect(s.options).toEqual({ keys: true, serverArgs: ['--auth-token=jwt,priv-key=<KEYS>/rsa.key,sign-method=RS256'] });
    expect(serializeScript(s, [''])).toBe(
      '% keys\n% server-arg --auth-token=jwt,priv-key=<KEYS>/rsa.key,sign-method=RS256\n\n$ etcdctl get a\n----\n',
    );
    expect(() => parseScript('k.txt', '$ etcdctl get a\n----\n\n% keys\n')).toThrow(/file options/);
  });

  it('makes the RSA, EC and HMAC key files with openssl, expands <KEYS>, removes the dir', () => {
    const keys = makeKeys();
    try {
      for (const f of ['rsa.key', 'rsa.pub', 'ec.key', 'ec.pub']) expect(readFileSync(join(keys.dir, f), 'utf8')).toMatch(/^-----BEGIN /);
      expect(readFileSync(join(keys.dir, 'hs.key'))).toHaveLength(32);
      expect(expandKeys('pub-key=<KEYS>/rsa.pub', keys)).toBe(`pub-key=${keys.dir}/rsa.pub`);
      expect(expandKeys('--x=1', undefined)).toBe('--x=1');
      expect(() => expandKeys('<KEYS>/a', undefined)).toThrow(/no '% keys' line/);
    } finally {
      keys.remove();
    }
    expect(existsSync(keys.dir)).toBe(false);
  });
});

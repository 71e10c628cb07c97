import { describe, expect, it } from 'vitest';
import { argBigint, argBool, hasArg, parseLine, runDataDriven, type TestData } from './datadriven.js';

describe('parseLine', () => {
  it('parses bare keys, single values, lists and nested parens', () => {
    expect(parseLine('cmd a b=1 c=(x, y,z) d= e=(f(1,2),g)')).toEqual({
      cmd: 'cmd',
      cmdArgs: [
        { key: 'a', vals: [] },
        { key: 'b', vals: ['1'] },
        { key: 'c', vals: ['x', 'y', 'z'] },
        { key: 'd', vals: [''] },
        { key: 'e', vals: ['f(1,2)', 'g'] },
      ],
    });
    expect(parseLine('   ')).toEqual({ cmd: '', cmdArgs: [] });
    expect(() => parseLine('cmd a=(1,2')).toThrow('cannot parse directive');
  });
});

const text = `# comment
echo n=1 \\
  flag
hello
world
----
hello world

# blank lines in the output need the double separator
lines
----
----
a

b
----
----

add a=2 b=3
----
5
`;

function handler(d: TestData): string {
  switch (d.cmd) {
    case 'echo':
      return `${d.input.replace('\n', ' ')}${hasArg(d, 'flag') ? '' : '!'}\n`;
    case 'lines':
      return 'a\n\nb\n';
    case 'add':
      return String(argBigint(d, 'a') + argBigint(d, 'b'));
    default:
      throw new Error('unknown');
  }
}

describe('runDataDriven', () => {
  it('passes when outputs match, and a rewrite reproduces the file', () => {
    const res = runDataDriven(text, 't', handler);
    expect(res.failures).toEqual([]);
    expect(res.rewritten).toBe(text);
  });

  it('reports the first mismatch with its position and rewrites it', () => {
    const res = runDataDriven(text.replace('5\n', '6\n'), 't', handler);
    expect(res.failures).toHaveLength(1);
    expect(res.failures[0]).toContain('t:19: add a=2 b=3');
    expect(res.failures[0]).toContain('expected:\n6\nfound:\n5\n');
    expect(res.rewritten).toBe(text);
  });

  it('switches between the single and double separator forms on rewrite', () => {
    const src = 'a\n----\nold\n\nb\n----\n----\nx\n\ny\n----\n----\n';
    const res = runDataDriven(src, 't', (d) => (d.cmd === 'a' ? 'p\n\nq\n' : 'single\n'), {
      stopOnFailure: false,
    });
    expect(res.failures).toHaveLength(2);
    expect(res.rewritten).toBe('a\n----\n----\np\n\nq\n----\n----\n\nb\n----\nsingle\n');
  });

  it('adds an output section to directives without one', () => {
    // As in cockroachdb/datadriven, the input runs up to the separator, blank lines included.
    const res = runDataDriven('a\n\nb\n', 't', (d) => `[${d.input}]`, { stopOnFailure: false });
    expect(res.rewritten).toBe('a\n\nb\n----\n[b]\n');
  });

  it('prefixes handler errors with the position', () => {
    expect(() => runDataDriven('\nboom\n----\n', 'f.txt', handler)).toThrow('f.txt:2: boom: unknown');
  });

  it('argument helpers', () => {
    const d: TestData = { pos: 'p', cmd: 'c', cmdArgs: parseLine('c x=true n=5').cmdArgs, input: '', expected: '' };
    expect(argBool(d, 'x')).toBe(true);
    expect(argBool(d, 'y', false)).toBe(false);
    expect(argBigint(d, 'n')).toBe(5n);
    expect(() => argBigint(d, 'm')).toThrow('missing argument m');
  });
});

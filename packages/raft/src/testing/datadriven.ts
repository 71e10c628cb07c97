// A small data-driven test runner in the format of github.com/cockroachdb/datadriven, which
// etcd's raft testdata uses. Test support only: not exported from the package index and not built
// into dist (see tsconfig.build.json).
//
// File format. Lines starting with '#' are comments; blank lines separate directives. A
// directive is
//
//   cmd key=val key=(v1,v2) flag        <- may be continued with a trailing '\'
//   optional input lines
//   ----
//   expected output (up to the next blank line)
//
// Expected output containing blank lines is wrapped in a second pair of separators:
//
//   ----
//   ----
//   output with
//
//   blank lines
//   ----
//   ----
//
// With REWRITE=1 in the environment, files are rewritten with the actual output instead of being
// compared.

import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** One argument of a directive: `key`, `key=val` or `key=(v1,v2,...)`. */
export interface CmdArg {
  key: string;
  /** [] for a bare key, [val] for key=val, the list for key=(...). */
  vals: string[];
}

/** A parsed directive, handed to the test's handler. */
export interface TestData {
  /** "file:line" of the command line. */
  pos: string;
  cmd: string;
  cmdArgs: CmdArg[];
  /** The input lines between the command and the separator, trimmed. */
  input: string;
  /** The expected output (each line newline-terminated), '' if none. */
  expected: string;
}

/** Parses a directive line into the command and its arguments. Throws on malformed input. */
export function parseLine(line: string): { cmd: string; cmdArgs: CmdArg[] } {
  const orig = line.trim();
  let rest = orig;
  const fail = (): never => {
    throw new Error(`cannot parse directive at column ${orig.length - rest.length + 1}: ${orig}`);
  };
  const until = (chars: string): string => {
    let i = 0;
    while (i < rest.length && !chars.includes(rest[i])) i++;
    const res = rest.slice(0, i);
    rest = rest.slice(i);
    return res;
  };
  if (rest === '') return { cmd: '', cmdArgs: [] };
  const cmd = until(' ');
  rest = rest.trim();
  const cmdArgs: CmdArg[] = [];
  while (rest !== '') {
    const key = until(' =');
    if (key === '') fail();
    const arg: CmdArg = { key, vals: [] };
    if (rest.startsWith('=')) {
      rest = rest.slice(1);
      if (rest === '' || rest[0] === ' ') {
        arg.vals = [''];
      } else if (rest[0] !== '(') {
        arg.vals = [until(' ')];
      } else {
        // A parenthesised, comma-separated list; nested parentheses are kept inside values.
        let pos = 1;
        let nest = 1;
        let valStart = 1;
        while (nest > 0) {
          if (pos >= rest.length) fail();
          const c = rest[pos++];
          if (c === ',' && nest === 1) {
            arg.vals.push(rest.slice(valStart, pos - 1));
            while (pos < rest.length && rest[pos] === ' ') pos++;
            valStart = pos;
          } else if (c === '(') nest++;
          else if (c === ')') nest--;
        }
        arg.vals.push(rest.slice(valStart, pos - 1));
        rest = rest.slice(pos);
      }
    }
    cmdArgs.push(arg);
    rest = rest.trim();
  }
  return { cmd, cmdArgs };
}

/** A directive with the line range its expected output occupies, for rewriting. */
interface ParsedDirective {
  data: TestData;
  /** Lines [start, end) hold the separator and expected output (replaced on rewrite). */
  outStart: number;
  outEnd: number;
  hasSeparator: boolean;
}

function parse(text: string, sourceName: string): { lines: string[]; directives: ParsedDirective[] } {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  const directives: ParsedDirective[] = [];
  let i = 0;
  while (i < lines.length) {
    const lineNo = i + 1;
    let line = lines[i++].trim();
    if (line.startsWith('#') || line === '') continue;
    while (line.endsWith('\\') && i < lines.length) {
      line = line.slice(0, -1) + ' ' + lines[i++].trim();
    }
    const pos = `${sourceName}:${lineNo}`;
    let parsed: { cmd: string; cmdArgs: CmdArg[] };
    try {
      parsed = parseLine(line);
    } catch (e) {
      throw new Error(`${pos}: ${(e as Error).message}`);
    }
    const input: string[] = [];
    let hasSeparator = false;
    while (i < lines.length) {
      if (lines[i] === '----') {
        hasSeparator = true;
        break;
      }
      input.push(lines[i++]);
    }
    const outStart = i;
    let expected = '';
    if (hasSeparator) {
      i++; // the separator
      if (i < lines.length && lines[i] === '----') {
        // Blank lines allowed; ends at "----\n----" (plus the blank line after it).
        i++;
        const out: string[] = [];
        let closed = false;
        while (i < lines.length) {
          if (lines[i] === '----' && i + 1 < lines.length && lines[i + 1] === '----') {
            i += 2;
            if (i < lines.length) {
              if (lines[i] !== '') {
                throw new Error(`${pos}: non-blank line after end of double ---- separator section`);
              }
              i++;
            }
            closed = true;
            break;
          }
          out.push(lines[i++]);
        }
        if (!closed) throw new Error(`${pos}: unterminated double ---- separator section`);
        expected = out.map((l) => l + '\n').join('');
      } else {
        while (i < lines.length && lines[i].trim() !== '') expected += lines[i++] + '\n';
        if (i < lines.length) i++; // the terminating blank line (re-emitted on rewrite)
      }
    }
    directives.push({
      data: { pos, cmd: parsed.cmd, cmdArgs: parsed.cmdArgs, input: input.join('\n').trim(), expected },
      outStart,
      outEnd: i,
      hasSeparator,
    });
  }
  return { lines, directives };
}

/** The result of running a data-driven text. */
export interface DataDrivenResult {
  /** The text with every directive's expected output replaced by the actual output. */
  rewritten: string;
  /** One message per mismatching directive (empty if all matched). */
  failures: string[];
}

/** Normalizes handler output: non-empty output always ends in a newline. */
function normalize(actual: string): string {
  return actual !== '' && !actual.endsWith('\n') ? actual + '\n' : actual;
}

function renderOutput(actual: string): string[] {
  // Mirrors cockroachdb/datadriven's rewrite: "----" then the output, using the double separator
  // form when the output contains a blank line, followed by one blank line.
  if (/^[\t ]*\n/m.test(actual)) {
    return ['----', '----', ...actual.slice(0, -1).split('\n'), '----', '----', ''];
  }
  return ['----', ...actual.split('\n')]; // actual ends in '\n' (or is ''), giving the blank line
}

/**
 * Runs every directive of `text` through `handler` in order. With `stopOnFailure` (the default),
 * processing stops after the first mismatch, since later directives usually depend on earlier
 * state. A handler may throw; the error propagates with the directive's position.
 */
export function runDataDriven(
  text: string,
  sourceName: string,
  handler: (d: TestData) => string,
  opts: { stopOnFailure?: boolean } = {},
): DataDrivenResult {
  const stopOnFailure = opts.stopOnFailure ?? true;
  const { lines, directives } = parse(text, sourceName);
  const failures: string[] = [];
  const out: string[] = [];
  let copied = 0;
  for (const d of directives) {
    let actual: string;
    try {
      actual = normalize(handler(d.data));
    } catch (e) {
      const err = e as Error;
      err.message = `${d.data.pos}: ${d.data.cmd}: ${err.message}`;
      throw err;
    }
    out.push(...lines.slice(copied, d.outStart));
    copied = d.outEnd;
    const rendered = renderOutput(actual);
    out.push(...rendered);
    if (actual !== d.data.expected) {
      failures.push(
        `${d.data.pos}: ${[d.data.cmd, ...d.data.cmdArgs.map(argString)].join(' ')}\n` +
          (d.data.input !== '' ? `${d.data.input}\n` : '') +
          `expected:\n${d.data.expected}found:\n${actual}`,
      );
      if (stopOnFailure) break;
    }
  }
  out.push(...lines.slice(copied)); // after a stop: the rest of the file as it was
  // Drop trailing blank lines, keep one final newline.
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return { rewritten: out.join('\n') + '\n', failures };
}

function argString(a: CmdArg): string {
  if (a.vals.length === 0) return a.key;
  if (a.vals.length === 1) return `${a.key}=${a.vals[0]}`;
  return `${a.key}=(${a.vals.join(',')})`;
}

/** True if REWRITE=1 (or true) is set: data-driven files are rewritten instead of compared. */
export function rewriteEnabled(): boolean {
  const v = process.env['REWRITE'];
  return v === '1' || v === 'true';
}

/**
 * Runs the data-driven file at `path`. In rewrite mode the file is rewritten with the actual
 * output; otherwise the first mismatch throws an Error carrying expected vs. found.
 */
export function runDataDrivenFile(path: string, handler: (d: TestData) => string): void {
  const text = readFileSync(path, 'utf8');
  const rewrite = rewriteEnabled();
  const res = runDataDriven(text, path, handler, { stopOnFailure: !rewrite });
  if (rewrite) {
    if (res.rewritten !== text) writeFileSync(path, res.rewritten);
    return;
  }
  if (res.failures.length > 0) throw new Error(res.failures.join('\n'));
}

/** The data-driven files (*.txt by default) under `dir`, recursively, sorted by path. */
export function testdataFiles(dir: string, ext = '.txt'): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...testdataFiles(p, ext));
    else if (name.endsWith(ext)) out.push(p);
  }
  return out;
}

// ---- argument helpers ----

/** The argument named `key`, if present. */
export function findArg(d: TestData, key: string): CmdArg | undefined {
  return d.cmdArgs.find((a) => a.key === key);
}

/** Whether `key` was given. */
export function hasArg(d: TestData, key: string): boolean {
  return findArg(d, key) !== undefined;
}

/** The single value of `key` (throws if absent, unless a default is given). */
export function argString1(d: TestData, key: string, dflt?: string): string {
  const a = findArg(d, key);
  if (a === undefined) {
    if (dflt !== undefined) return dflt;
    throw new Error(`${d.pos}: missing argument ${key}`);
  }
  if (a.vals.length !== 1) throw new Error(`${d.pos}: argument ${key} wants one value`);
  return a.vals[0];
}

/** The value of `key` as a bigint. */
export function argBigint(d: TestData, key: string, dflt?: bigint): bigint {
  const v = argString1(d, key, dflt === undefined ? undefined : dflt.toString());
  return BigInt(v);
}

/** The value of `key` as a number. */
export function argNumber(d: TestData, key: string, dflt?: number): number {
  const v = argString1(d, key, dflt === undefined ? undefined : String(dflt));
  const n = Number(v);
  if (!Number.isFinite(n)) throw new Error(`${d.pos}: argument ${key}: not a number: ${v}`);
  return n;
}

/** The value of `key` as a boolean ("true"/"false"). */
export function argBool(d: TestData, key: string, dflt?: boolean): boolean {
  const v = argString1(d, key, dflt === undefined ? undefined : String(dflt));
  if (v !== 'true' && v !== 'false') throw new Error(`${d.pos}: argument ${key}: not a bool: ${v}`);
  return v === 'true';
}

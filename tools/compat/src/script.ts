// The golden-file format (see README.md): a sequence of steps, each a `$ ...` line, optional
// `%` option lines and `<` stdin lines, and for steps that print, `----` followed by the expected
// output, as in etcd's/cockroach's datadriven tests. Output containing blank lines is wrapped in
// a second `----` pair. Comments (`#`) and blank lines between steps are kept verbatim so that a
// rewrite only changes expected outputs.
//
// Invariant: serializeScript(parseScript(t)) === t for any file already in canonical form
// (ending in exactly one newline, one blank line after each output block).

export const SEP = '----';

export type StepCommand =
  /** `$ etcdctl <args>`; with a trailing `&id` it is started in the background. */
  | { kind: 'etcdctl'; args: string[]; background: string | null }
  /** `$ stop <id>`: settle, stop the background process, print what it printed. */
  | { kind: 'stop'; id: string }
  /** `$ sleep <duration>` (e.g. 500ms, 2s). */
  | { kind: 'sleep'; ms: number }
  /** `$ restart`: restart the member on the same data dir. */
  | { kind: 'restart' };

export interface StepOptions {
  /** `% sort`: sort stdout lines (for outputs whose order the server does not define). */
  sort: boolean;
  /** `% remaining=N`: lease TTL remaining values within N±1 print as `N±1`. */
  remaining: number | null;
  /** `% timeout=<duration>`: per-command deadline (default 20s). */
  timeoutMs: number | null;
  /** `% settle=<duration>`: for background starts and stops, how long to wait (default 1s). */
  settleMs: number | null;
}

export interface Step {
  /** 1-based line number of the `$` line, for messages. */
  line: number;
  /** Comment and blank lines before the step, verbatim. */
  preamble: string[];
  /** The `$`, `%` and `<` lines, verbatim. */
  header: string[];
  command: StepCommand;
  options: StepOptions;
  /** Text written to the command's stdin (from `<` lines), or null. */
  stdin: string | null;
  /** Expected output (without trailing newline), or null when the step has no `----` block. */
  expected: string | null;
}

export interface FileOptions {
  /** `% server-arg <flag>` lines before the first step: extra flags for the server. */
  serverArgs: string[];
  /** `% keys`: make JWT key files (openssl, keys.ts) for this run; `<KEYS>` in server args is their dir. */
  keys: boolean;
}

export interface Script {
  name: string;
  options: FileOptions;
  steps: Step[];
  /** Lines after the last step, verbatim. */
  trailer: string[];
}

/** Whether a step prints something and therefore carries a `----` block. */
export function producesOutput(c: StepCommand): boolean {
  return (c.kind === 'etcdctl' && c.background === null) || c.kind === 'stop';
}

export class ScriptError extends Error {
  constructor(name: string, line: number, msg: string) {
    super(`${name}:${line}: ${msg}`);
    this.name = 'ScriptError';
  }
}

/** Parse a duration like `500ms`, `2s`, `1.5s`. */
export function parseDuration(s: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s)$/.exec(s);
  if (!m) throw new Error(`bad duration '${s}' (want e.g. 500ms or 2s)`);
  const n = Number(m[1]);
  return m[2] === 's' ? n * 1000 : n;
}

/**
 * Split a command line into words the way a POSIX shell would for quoting purposes only: single
 * quotes are literal, double quotes allow \" \\ \$ \` escapes, a backslash outside quotes escapes
 * the next character. No expansion of any kind.
 */
export function splitWords(line: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let i = 0;
  while (i < line.length) {
    const ch = line[i]!;
    if (ch === ' ' || ch === '\t') {
      if (inWord) {
        words.push(cur);
        cur = '';
        inWord = false;
      }
      i++;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new Error(`unterminated ' in: ${line}`);
      cur += line.slice(i + 1, end);
      inWord = true;
      i = end + 1;
    } else if (ch === '"') {
      i++;
      inWord = true;
      for (;;) {
        if (i >= line.length) throw new Error(`unterminated " in: ${line}`);
        const c = line[i]!;
        if (c === '"') {
          i++;
          break;
        }
        if (c === '\\' && i + 1 < line.length && '"\\$`'.includes(line[i + 1]!)) {
          cur += line[i + 1];
          i += 2;
        } else {
          cur += c;
          i++;
        }
      }
    } else if (ch === '\\') {
      if (i + 1 >= line.length) throw new Error(`trailing backslash in: ${line}`);
      cur += line[i + 1];
      inWord = true;
      i += 2;
    } else {
      cur += ch;
      inWord = true;
      i++;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

function parseCommand(words: string[]): StepCommand {
  const [verb, ...rest] = words;
  switch (verb) {
    case 'etcdctl': {
      const last = rest[rest.length - 1];
      const bg = last !== undefined ? /^&([A-Za-z0-9_-]+)$/.exec(last) : null;
      return bg ? { kind: 'etcdctl', args: rest.slice(0, -1), background: bg[1]! } : { kind: 'etcdctl', args: rest, background: null };
    }
    case 'stop':
      if (rest.length !== 1) throw new Error('usage: $ stop <id>');
      return { kind: 'stop', id: rest[0]! };
    case 'sleep':
      if (rest.length !== 1) throw new Error('usage: $ sleep <duration>');
      return { kind: 'sleep', ms: parseDuration(rest[0]!) };
    case 'restart':
      if (rest.length !== 0) throw new Error('usage: $ restart');
      return { kind: 'restart' };
    default:
      throw new Error(`unknown step '${verb ?? ''}' (want etcdctl, stop, sleep or restart)`);
  }
}

function applyOption(opts: StepOptions, text: string): void {
  const m = /^([a-z-]+)(?:=(.*))?$/.exec(text.trim());
  if (!m) throw new Error(`bad option '% ${text}'`);
  const [, key, value] = m;
  const need = (): string => {
    if (value === undefined || value === '') throw new Error(`option ${key} needs a value`);
    return value;
  };
  switch (key) {
    case 'sort':
      opts.sort = true;
      break;
    case 'remaining': {
      const n = Number(need());
      if (!Number.isInteger(n)) throw new Error(`remaining wants an integer, got ${value}`);
      opts.remaining = n;
      break;
    }
    case 'timeout':
      opts.timeoutMs = parseDuration(need());
      break;
    case 'settle':
      opts.settleMs = parseDuration(need());
      break;
    default:
      throw new Error(`unknown option '${key}' (want sort, remaining=N, timeout=D, settle=D)`);
  }
}

export function parseScript(name: string, text: string): Script {
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  const steps: Step[] = [];
  const options: FileOptions = { serverArgs: [], keys: false };
  let preamble: string[] = [];
  let i = 0;
  const fail = (line: number, msg: string): never => {
    throw new ScriptError(name, line, msg);
  };

  while (i < lines.length) {
    const l = lines[i]!;
    if (!l.startsWith('$ ')) {
      if (l.startsWith('%')) {
        if (steps.length > 0) fail(i + 1, "file options ('%' lines) must come before the first step");
        const m = /^%\s*server-arg\s+(\S.*)$/.exec(l);
        if (/^%\s*keys\s*$/.test(l)) options.keys = true;
        else if (!m) fail(i + 1, `unknown file option '${l}' (want '% server-arg <flag>' or '% keys')`);
        else options.serverArgs.push(m[1]!.trim());
      } else if (l.trim() !== '' && !l.startsWith('#')) {
        fail(i + 1, `expected a '$ ' step, a '#' comment or a blank line, got: ${l}`);
      }
      preamble.push(l);
      i++;
      continue;
    }

    // A step.
    const lineNo = i + 1;
    const header = [l];
    let command: StepCommand;
    try {
      command = parseCommand(splitWords(l.slice(2)));
    } catch (e) {
      return fail(lineNo, (e as Error).message);
    }
    const stepOpts: StepOptions = { sort: false, remaining: null, timeoutMs: null, settleMs: null };
    let stdinLines: string[] | null = null;
    i++;
    while (i < lines.length && (lines[i]!.startsWith('%') || lines[i]!.startsWith('<'))) {
      const h = lines[i]!;
      header.push(h);
      if (h.startsWith('%')) {
        try {
          applyOption(stepOpts, h.slice(1));
        } catch (e) {
          fail(i + 1, (e as Error).message);
        }
      } else {
        if (h !== '<' && !h.startsWith('< ')) fail(i + 1, "stdin lines are '< text' or a bare '<'");
        (stdinLines ??= []).push(h === '<' ? '' : h.slice(2));
      }
      i++;
    }

    let expected: string | null = null;
    if (i < lines.length && lines[i] === SEP) {
      if (!producesOutput(command)) fail(i + 1, 'this step prints nothing; remove its ---- block');
      i++;
      if (i < lines.length && lines[i] === SEP) {
        // Double-separator block: ends at a `----` `----` pair.
        i++;
        const out: string[] = [];
        for (;;) {
          if (i >= lines.length) fail(lineNo, 'unterminated ----/---- output block');
          if (lines[i] === SEP && lines[i + 1] === SEP) {
            i += 2;
            break;
          }
          out.push(lines[i]!);
          i++;
        }
        expected = out.join('\n');
      } else {
        const out: string[] = [];
        while (i < lines.length && lines[i] !== '') {
          out.push(lines[i]!);
          i++;
        }
        expected = out.join('\n');
      }
      // The blank line that ends an output block belongs to the block.
      if (i < lines.length) {
        if (lines[i] !== '') fail(i + 1, 'an output block must be followed by a blank line');
        i++;
      }
    }

    steps.push({
      line: lineNo,
      preamble,
      header,
      command,
      options: stepOpts,
      stdin: stdinLines === null ? null : stdinLines.map((s) => s + '\n').join(''),
      expected,
    });
    preamble = [];
  }
  return { name, options, steps, trailer: preamble };
}

/** Render a script; `outputs[i]` (when given) replaces step i's expected output. */
export function serializeScript(script: Script, outputs?: readonly (string | null)[]): string {
  const out: string[] = [];
  script.steps.forEach((step, idx) => {
    out.push(...step.preamble, ...step.header);
    const text = outputs?.[idx] ?? step.expected;
    if (text === null || text === undefined) return;
    out.push(SEP);
    if (text.split('\n').includes('') || text.startsWith(SEP)) {
      if (text !== '') {
        out.push(SEP, ...text.split('\n'), SEP, SEP);
      }
    } else {
      out.push(...text.split('\n'));
    }
    out.push('');
  });
  out.push(...script.trailer);
  while (out.length > 0 && out[out.length - 1] === '') out.pop();
  return out.join('\n') + '\n';
}

// Go parsing rules etcdctl's input goes through: strconv.ParseInt, strconv.Unquote, the
// argify tokenizer and fmt.Sscanf("%q) %s %q") of txn compares.
import { CtlExit, ExitCode } from './exit.js';
import { goQuote } from './gofmt.js';

const INT64_MAX = 9223372036854775807n;
const INT64_MIN = -9223372036854775808n;

/** strconv.ParseInt(s, base, 64) for base 10 or 16; throws Error with Go's message. */
export function goParseInt(s: string, base: 10 | 16): bigint {
  const syntax = () => new Error(`strconv.ParseInt: parsing ${goQuote(s)}: invalid syntax`);
  const m = (base === 10 ? /^([+-]?)([0-9]+)$/ : /^([+-]?)([0-9a-fA-F]+)$/).exec(s);
  if (!m) throw syntax();
  const mag = BigInt((base === 16 ? '0x' : '') + m[2]!);
  const v = m[1] === '-' ? -mag : mag;
  if (v > INT64_MAX || v < INT64_MIN) throw new Error(`strconv.ParseInt: parsing ${goQuote(s)}: value out of range`);
  return v;
}

/** strconv.Unquote of a Go double-quoted or back-quoted literal, to bytes. */
export function goUnquote(lit: string): Buffer {
  if (lit.length >= 2 && lit[0] === '`' && lit[lit.length - 1] === '`') {
    return Buffer.from(lit.slice(1, -1).replace(/\r/g, ''), 'utf8');
  }
  if (lit.length < 2 || lit[0] !== '"' || lit[lit.length - 1] !== '"') throw new Error('invalid syntax');
  const body = lit.slice(1, -1);
  const out: number[] = [];
  const pushStr = (s: string) => out.push(...Buffer.from(s, 'utf8'));
  for (let i = 0; i < body.length; ) {
    const c = body[i]!;
    if (c === '"' || c === '\n') throw new Error('invalid syntax');
    if (c !== '\\') {
      const cp = body.codePointAt(i)!;
      const ch = String.fromCodePoint(cp);
      pushStr(ch);
      i += ch.length;
      continue;
    }
    const e = body[i + 1];
    i += 2;
    switch (e) {
      case 'a':
        out.push(7);
        break;
      case 'b':
        out.push(8);
        break;
      case 'f':
        out.push(12);
        break;
      case 'n':
        out.push(10);
        break;
      case 'r':
        out.push(13);
        break;
      case 't':
        out.push(9);
        break;
      case 'v':
        out.push(11);
        break;
      case '\\':
        out.push(0x5c);
        break;
      case '"':
        out.push(0x22);
        break;
      case 'x': {
        const h = body.slice(i, i + 2);
        if (!/^[0-9a-fA-F]{2}$/.test(h)) throw new Error('invalid syntax');
        out.push(parseInt(h, 16));
        i += 2;
        break;
      }
      case 'u':
      case 'U': {
        const n = e === 'u' ? 4 : 8;
        const h = body.slice(i, i + n);
        if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(h)) throw new Error('invalid syntax');
        const cp = parseInt(h, 16);
        if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) throw new Error('invalid syntax');
        pushStr(String.fromCodePoint(cp));
        i += n;
        break;
      }
      default: {
        if (e !== undefined && e >= '0' && e <= '7') {
          const o = body.slice(i - 1, i + 2);
          if (!/^[0-7]{3}$/.test(o) || parseInt(o, 8) > 255) throw new Error('invalid syntax');
          out.push(parseInt(o, 8));
          i += 2;
          break;
        }
        throw new Error('invalid syntax');
      }
    }
  }
  return Buffer.from(out);
}

/**
 * etcdctl's argify: split a line into words, double-quoted words unquoted Go-style,
 * single-quoted words cut as etcdctl 3.4 cuts them (it slices with the number of words where
 * it meant the word's length, so 'abc' in a three-word line becomes "a"; out-of-range slices
 * are Go panics).
 */
export function argify(line: string): string[] {
  const re = /"(?:[^"\\]|\\.)*"|'[^']*'|[^'"\t\n\f\r ][^\t\n\f\r ]*[^'"\t\n\f\r ]?/g;
  const args = line.match(re) ?? [];
  return args.map((a) => {
    if (a.length === 0) return a;
    if (a[0] === "'") {
      const hi = args.length - 1;
      if (hi < 1) throw new CtlExit(2, `panic: runtime error: slice bounds out of range [1:${hi}]`);
      if (hi > a.length) throw new CtlExit(2, `panic: runtime error: slice bounds out of range [:${hi}] with length ${a.length}`);
      return a.slice(1, hi);
    }
    if (a[0] === '"') {
      try {
        return goUnquote(scanQuoted(a, 0)?.lit ?? a).toString('utf8');
      } catch (e) {
        throw new CtlExit(ExitCode.InvalidInput, (e as Error).message);
      }
    }
    return a;
  });
}

/** The quoted literal starting at s[i] (Go's fmt %q scanning), or undefined. */
function scanQuoted(s: string, i: number): { lit: string; end: number } | undefined {
  const q = s[i];
  if (q === '`') {
    const j = s.indexOf('`', i + 1);
    if (j < 0) return undefined;
    return { lit: s.slice(i, j + 1), end: j + 1 };
  }
  if (q !== '"') return undefined;
  for (let j = i + 1; j < s.length; j++) {
    if (s[j] === '\\') {
      j++;
      continue;
    }
    if (s[j] === '"') return { lit: s.slice(i, j + 1), end: j + 1 };
  }
  return undefined;
}

const isSpace = (c: string | undefined) => c === ' ' || c === '\t' || c === '\r';

/**
 * fmt.Sscanf(s, "%q) %s %q", &key, &op, &val): how many items were scanned, and their values
 * (keys and values as bytes).
 */
export function scanCompareTail(s: string): { n: number; key: Buffer; op: string; val: Buffer } {
  const res: { n: number; key: Buffer; op: string; val: Buffer } = { n: 0, key: Buffer.alloc(0), op: '', val: Buffer.alloc(0) };
  let i = 0;
  const skip = () => {
    while (isSpace(s[i])) i++;
  };
  skip();
  const k = scanQuoted(s, i);
  if (!k) return res;
  try {
    res.key = goUnquote(k.lit);
  } catch {
    return res;
  }
  res.n = 1;
  i = k.end;
  if (s[i] !== ')') return res;
  i++;
  skip();
  const start = i;
  while (i < s.length && !isSpace(s[i]) && s[i] !== '\n') i++;
  if (i === start) return res;
  res.op = s.slice(start, i);
  res.n = 2;
  skip();
  const v = scanQuoted(s, i);
  if (!v) return res;
  try {
    res.val = goUnquote(v.lit);
  } catch {
    return res;
  }
  res.n = 3;
  return res;
}

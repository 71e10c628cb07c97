// Go's formatting rules, reproduced where etcdctl's output depends on them: strconv.Quote (%q),
// encoding/json strings, time.Duration parsing and printing, go-humanize's Bytes, fmt's %x.

/** One decoded UTF-8 step: the code point (or -1 for an invalid byte) and its length. */
function decodeRune(b: Uint8Array, i: number): { cp: number; size: number } {
  const c0 = b[i]!;
  if (c0 < 0x80) return { cp: c0, size: 1 };
  const cont = (j: number) => i + j < b.length && (b[i + j]! & 0xc0) === 0x80;
  if (c0 >= 0xc2 && c0 <= 0xdf && cont(1)) {
    return { cp: ((c0 & 0x1f) << 6) | (b[i + 1]! & 0x3f), size: 2 };
  }
  if (c0 >= 0xe0 && c0 <= 0xef && cont(1) && cont(2)) {
    const cp = ((c0 & 0x0f) << 12) | ((b[i + 1]! & 0x3f) << 6) | (b[i + 2]! & 0x3f);
    // Reject overlong forms and surrogates, as Go does.
    if (cp >= 0x800 && !(cp >= 0xd800 && cp <= 0xdfff)) return { cp, size: 3 };
  }
  if (c0 >= 0xf0 && c0 <= 0xf4 && cont(1) && cont(2) && cont(3)) {
    const cp = ((c0 & 0x07) << 18) | ((b[i + 1]! & 0x3f) << 12) | ((b[i + 2]! & 0x3f) << 6) | (b[i + 3]! & 0x3f);
    if (cp >= 0x10000 && cp <= 0x10ffff) return { cp, size: 4 };
  }
  return { cp: -1, size: 1 };
}

const printable = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]$/u;

/** unicode.IsPrint: categories L, M, N, P, S and the ASCII space. */
function isPrint(cp: number): boolean {
  if (cp === 0x20) return true;
  if (cp < 0x20 || cp === 0x7f) return false;
  return printable.test(String.fromCodePoint(cp));
}

const hex2 = (n: number) => n.toString(16).padStart(2, '0');

/** Go's strconv.Quote of the bytes (interpreted as UTF-8, invalid bytes as \xNN). */
export function goQuote(input: string | Uint8Array): string {
  const b = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let out = '"';
  for (let i = 0; i < b.length; ) {
    const { cp, size } = decodeRune(b, i);
    if (cp === -1) {
      out += `\\x${hex2(b[i]!)}`;
    } else if (cp === 0x22 || cp === 0x5c) {
      out += '\\' + String.fromCharCode(cp);
    } else if (isPrint(cp)) {
      out += String.fromCodePoint(cp);
    } else {
      switch (cp) {
        case 0x07:
          out += '\\a';
          break;
        case 0x08:
          out += '\\b';
          break;
        case 0x0c:
          out += '\\f';
          break;
        case 0x0a:
          out += '\\n';
          break;
        case 0x0d:
          out += '\\r';
          break;
        case 0x09:
          out += '\\t';
          break;
        case 0x0b:
          out += '\\v';
          break;
        default:
          if (cp < 0x20 || cp === 0x7f) out += `\\x${hex2(cp)}`;
          else if (cp < 0x10000) out += `\\u${cp.toString(16).padStart(4, '0')}`;
          else out += `\\U${cp.toString(16).padStart(8, '0')}`;
      }
    }
    i += size;
  }
  return out + '"';
}

/** A JSON string literal as Go's encoding/json writes it (HTML-safe, invalid UTF-8 → U+FFFD). */
export function goJsonString(input: string | Uint8Array): string {
  const b = typeof input === 'string' ? Buffer.from(input, 'utf8') : input;
  let out = '"';
  for (let i = 0; i < b.length; ) {
    const { cp, size } = decodeRune(b, i);
    i += size;
    if (cp === -1) {
      out += '\\ufffd';
      continue;
    }
    if (cp < 0x80) {
      const ch = String.fromCharCode(cp);
      if (ch === '"' || ch === '\\') out += '\\' + ch;
      else if (ch === '\n') out += '\\n';
      else if (ch === '\r') out += '\\r';
      else if (ch === '\t') out += '\\t';
      else if (cp < 0x20 || ch === '<' || ch === '>' || ch === '&') out += `\\u00${hex2(cp)}`;
      else out += ch;
      continue;
    }
    if (cp === 0x2028 || cp === 0x2029) {
      out += `\\u${cp.toString(16)}`;
      continue;
    }
    out += String.fromCodePoint(cp);
  }
  return out + '"';
}

/** fmt's %x of an integer, optionally padded to `width` with zeros ('0') or spaces (' '). */
export function goHex(n: bigint | number, width = 0, pad: '0' | ' ' = '0'): string {
  const v = BigInt(n);
  const neg = v < 0n;
  const digits = (neg ? -v : v).toString(16);
  if (pad === '0') {
    // The sign takes one of the padded columns.
    const w = neg ? width - 1 : width;
    return (neg ? '-' : '') + digits.padStart(w, '0');
  }
  return ((neg ? '-' : '') + digits).padStart(width, ' ');
}

// ---- time.Duration ----

const NS = {
  ns: 1n,
  us: 1_000n,
  µs: 1_000n,
  μs: 1_000n,
  ms: 1_000_000n,
  s: 1_000_000_000n,
  m: 60_000_000_000n,
  h: 3_600_000_000_000n,
} as const;

/** time.ParseDuration; returns nanoseconds or throws Error with Go's message. */
export function parseGoDuration(s: string): bigint {
  const orig = s;
  const quoted = goQuote(orig);
  let neg = false;
  if (s !== '' && (s[0] === '-' || s[0] === '+')) {
    neg = s[0] === '-';
    s = s.slice(1);
  }
  if (s === '0') return 0n;
  if (s === '') throw new Error(`time: invalid duration ${quoted}`);
  let totalNs = 0n;
  while (s !== '') {
    const m = /^(\d*)(?:\.(\d*))?/.exec(s)!;
    const intPart = m[1]!;
    const fracPart = m[2];
    if (intPart === '' && (fracPart === undefined || fracPart === '')) throw new Error(`time: invalid duration ${quoted}`);
    s = s.slice(m[0].length);
    const u = /^[^0-9.]*/.exec(s)![0];
    if (u === '') throw new Error(`time: missing unit in duration ${quoted}`);
    s = s.slice(u.length);
    const unit = (NS as Record<string, bigint>)[u];
    if (unit === undefined) throw new Error(`time: unknown unit ${goQuote(u)} in duration ${quoted}`);
    let v = BigInt(intPart === '' ? '0' : intPart) * unit;
    if (fracPart) {
      // Truncate the fraction to nanoseconds like Go's scaled arithmetic does.
      const scale = 10n ** BigInt(fracPart.length);
      v += (BigInt(fracPart) * unit) / scale;
    }
    totalNs += v;
    if (totalNs > 9223372036854775807n) throw new Error(`time: invalid duration ${quoted}`);
  }
  return neg ? -totalNs : totalNs;
}

function fmtFrac(v: bigint, prec: number): { frac: string; rest: bigint } {
  let digits = '';
  let print = false;
  for (let i = 0; i < prec; i++) {
    const d = v % 10n;
    print = print || d !== 0n;
    if (print) digits = d.toString() + digits;
    v /= 10n;
  }
  return { frac: print ? '.' + digits : '', rest: v };
}

/** time.Duration.String() of a nanosecond count. */
export function formatGoDuration(ns: bigint): string {
  const neg = ns < 0n;
  let u = neg ? -ns : ns;
  let out: string;
  if (u < 1_000_000_000n) {
    if (u === 0n) return '0s';
    let prec: number;
    let unit: string;
    if (u < 1_000n) {
      prec = 0;
      unit = 'ns';
    } else if (u < 1_000_000n) {
      prec = 3;
      unit = 'µs';
    } else {
      prec = 6;
      unit = 'ms';
    }
    const { frac, rest } = fmtFrac(u, prec);
    out = rest.toString() + frac + unit;
  } else {
    const { frac, rest } = fmtFrac(u, 9);
    u = rest;
    out = (u % 60n).toString() + frac + 's';
    u /= 60n;
    if (u > 0n) {
      out = (u % 60n).toString() + 'm' + out;
      u /= 60n;
      if (u > 0n) out = u.toString() + 'h' + out;
    }
  }
  return (neg ? '-' : '') + out;
}

/** go-humanize's Bytes (SI units). */
export function humanizeBytes(n: bigint | number): string {
  const s = Number(n);
  if (s < 10) return `${s} B`;
  const sizes = ['B', 'kB', 'MB', 'GB', 'TB', 'PB', 'EB'];
  const e = Math.floor(Math.log(s) / Math.log(1000));
  const suffix = sizes[e]!;
  const val = Math.floor((s / Math.pow(1000, e)) * 10 + 0.5) / 10;
  return val < 10 ? `${val.toFixed(1)} ${suffix}` : `${roundHalfEven(val)} ${suffix}`;
}

/** %.0f: round to an integer, ties to even (as Go's formatting of exact halves). */
function roundHalfEven(x: number): string {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return String(f + 1);
  if (d < 0.5) return String(f);
  return String(f % 2 === 0 ? f : f + 1);
}

// Go's flag package, as etcd 3.4 uses it: value types with strconv's syntax and flag's error texts,
// and the command line parsed the way flag.FlagSet.Parse does (-x and --x alike, `-x=v` or `-x v`,
// a boolean only as `-x` or `-x=v`, parsing stops at the first non-flag argument or after `--`).
import { ConfigError, parseUrl } from '@kv/server';

/** What a flag's value is, in Go's terms (the type etcd registers it with). */
export type Kind =
  | 'string'
  | 'bool'
  | 'uint'
  | 'uint32'
  | 'uint64'
  | 'int'
  | 'int64'
  | 'duration'
  /** flags.UniqueURLs: comma-separated URLs (`except` values, e.g. '*', pass as they are). */
  | { urls: { except?: string } }
  /** flags.StringsValue / UniqueStringsValue: comma-separated strings. */
  | 'strings'
  | 'uniqueStrings'
  /** flags.SelectiveStringValue: one of these. */
  | { oneOf: string[] }
  /** flags.IgnoredFlag: a removed etcd 2 flag, accepted with a warning, value ignored. */
  | 'ignored';

export type Value = string | boolean | number | string[];

/** Thrown with the bare reason; callers wrap it in flag's or the env parser's sentence. */
class ValueError extends Error {}

function parseGoInt(s: string, bits: number, signed: boolean): number {
  // strconv.ParseInt/ParseUint with base 0: optional sign (signed only), 0x/0o/0b/0 prefixes.
  const m = /^([+-]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)$/.exec(s);
  if (!m || (!signed && m[1] !== '')) throw new ValueError('parse error');
  const body = m[2];
  let n: bigint;
  if (/^0[xX]/.test(body)) n = BigInt(body);
  else if (/^0[oO]/.test(body)) n = BigInt(`0o${body.slice(2)}`);
  else if (/^0[bB]/.test(body)) n = BigInt(body);
  else if (body.length > 1 && body.startsWith('0')) n = BigInt(`0o${body.slice(1)}`);
  else n = BigInt(body);
  if (m[1] === '-') n = -n;
  const max = signed ? (1n << BigInt(bits - 1)) - 1n : (1n << BigInt(bits)) - 1n;
  const min = signed ? -(1n << BigInt(bits - 1)) : 0n;
  if (n > max || n < min) throw new ValueError('value out of range');
  return Number(n);
}

const goBools: Record<string, boolean> = {
  '1': true,
  t: true,
  T: true,
  TRUE: true,
  true: true,
  True: true,
  '0': false,
  f: false,
  F: false,
  FALSE: false,
  false: false,
  False: false,
};

const durationUnits: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, μs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** time.ParseDuration, in milliseconds (fractions kept): '5s', '1h30m', '-1.5h', '0'. */
export function parseGoDuration(s: string): number {
  let rest = s;
  let sign = 1;
  if (rest.startsWith('-') || rest.startsWith('+')) {
    sign = rest[0] === '-' ? -1 : 1;
    rest = rest.slice(1);
  }
  if (rest === '0') return 0;
  if (rest === '') throw new ValueError(`time: invalid duration ${JSON.stringify(s)}`);
  let total = 0;
  const re = /^(\d+\.?\d*|\.\d+)(ns|us|µs|μs|ms|s|m|h)/;
  while (rest.length > 0) {
    const m = re.exec(rest);
    if (!m) throw new ValueError(`time: invalid duration ${JSON.stringify(s)}`);
    total += Number(m[1]) * durationUnits[m[2]];
    rest = rest.slice(m[0].length);
  }
  return sign * total;
}

/** Go's durations print as time.Duration.String() does ('5s', '2h0m0s', '100ms'). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return '0s';
  const neg = ms < 0;
  let x = Math.abs(ms);
  let out: string;
  if (x < 1000) {
    out = x >= 1 ? `${+x.toFixed(6)}ms` : x >= 1e-3 ? `${+(x * 1000).toFixed(3)}µs` : `${Math.round(x * 1e6)}ns`;
  } else {
    const h = Math.floor(x / 3_600_000);
    x -= h * 3_600_000;
    const m = Math.floor(x / 60_000);
    x -= m * 60_000;
    const sec = `${+(x / 1000).toFixed(9)}s`;
    out = h > 0 ? `${h}h${m}m${sec}` : m > 0 ? `${m}m${sec}` : sec;
  }
  return neg ? `-${out}` : out;
}

function splitList(s: string): string[] {
  return s.split(',');
}

/**
 * Parses one value as the flag's Go type does; throws ValueError with the reason text flag
 * reports ('parse error', 'value out of range', the Value's own error for etcd's types).
 */
export function parseValue(kind: Kind, raw: string): Value {
  if (typeof kind === 'object') {
    if ('oneOf' in kind) {
      if (!kind.oneOf.includes(raw)) throw new ValueError('invalid value');
      return raw;
    }
    if (raw === kind.urls.except) return [raw];
    if (raw === '') return [];
    const urls = splitList(raw).map((u) => u.trim());
    for (const u of urls) {
      try {
        parseUrl(u, 'flag');
      } catch (e) {
        throw new ValueError((e as Error).message);
      }
      if (!/^[a-z]+:\/\/[^/]*:\d*(\/)?$/.test(u) && !/^unixs?:/.test(u)) {
        throw new ValueError(`URL address does not have the form "host:port": ${u}`);
      }
    }
    return [...new Set(urls)]; // etcd sorts them; kvd keeps the given order (listeners bind in it)
  }
  switch (kind) {
    case 'string':
      return raw;
    case 'bool':
      if (!(raw in goBools)) throw new ValueError('parse error');
      return goBools[raw];
    case 'uint':
    case 'uint64':
      return parseGoInt(raw, 64, false);
    case 'uint32':
      return parseGoInt(raw, 32, false);
    case 'int':
    case 'int64':
      return parseGoInt(raw, 64, true);
    case 'duration':
      try {
        return parseGoDuration(raw);
      } catch {
        throw new ValueError('parse error');
      }
    case 'strings':
      return raw === '' ? [] : splitList(raw);
    case 'uniqueStrings':
      return raw === '' ? [] : [...new Set(splitList(raw))].sort();
    case 'ignored':
      return raw;
  }
}

/** The error flag.FlagSet prints for a bad command-line value. */
export function flagValueError(name: string, kind: Kind, raw: string, e: unknown): ConfigError {
  if (!(e instanceof ValueError)) throw e;
  return kind === 'bool'
    ? new ConfigError(`invalid boolean value ${JSON.stringify(raw)} for -${name}: ${e.message}`)
    : new ConfigError(`invalid value ${JSON.stringify(raw)} for flag -${name}: ${e.message}`);
}

/** The error etcd's SetFlagsFromEnv returns for a bad ETCD_* value. */
export function envValueError(key: string, raw: string, e: unknown): ConfigError {
  if (!(e instanceof ValueError)) throw e;
  return new ConfigError(`invalid value ${JSON.stringify(raw)} for ${key}: ${e.message}`);
}

export function isBoolKind(kind: Kind): boolean {
  return kind === 'bool' || kind === 'ignored';
}

export interface ParsedArgs {
  /** Flag name → raw value, last one winning (as repeated Go flags do), in command-line order. */
  set: Map<string, string>;
  help: boolean;
}

/**
 * flag.FlagSet.Parse over `args` for the flags `kinds` knows. Unknown flags, missing values and
 * leftover arguments fail as etcd fails ('flag provided but not defined: -x', etc.).
 */
export function parseArgs(args: string[], kinds: Map<string, Kind>): ParsedArgs {
  const set = new Map<string, string>();
  let help = false;
  let i = 0;
  for (; i < args.length; i++) {
    const a = args[i];
    if (a.length < 2 || a[0] !== '-') break;
    let name = a.slice(1);
    if (name.startsWith('-')) {
      name = name.slice(1);
      if (name === '') {
        i++; // '--' ends the flags
        break;
      }
    }
    if (name === '' || name.startsWith('-') || name.startsWith('=')) throw new ConfigError(`bad flag syntax: ${a}`);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq >= 0) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    const kind = kinds.get(name);
    if (kind === undefined) {
      if (name === 'help' || name === 'h') {
        help = true;
        continue;
      }
      throw new ConfigError(`flag provided but not defined: -${name}`);
    }
    if (isBoolKind(kind)) {
      set.set(name, value ?? 'true');
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= args.length) throw new ConfigError(`flag needs an argument: -${name}`);
      value = args[++i];
    }
    set.delete(name); // keep command-line order of the last occurrence
    set.set(name, value);
  }
  if (i < args.length) throw new ConfigError(`'${args[i]}' is not a valid flag`);
  return { set, help };
}

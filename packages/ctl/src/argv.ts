// Command-line rewriting before commander sees it: pflag accepts `--flag=true|false` for
// boolean flags, commander does not.
const BOOL_FLAGS = new Set([
  'debug',
  'hex',
  'insecure-transport',
  'insecure-discovery',
  'insecure-skip-tls-verify',
  'prefix',
  'from-key',
  'keys-only',
  'count-only',
  'print-value-only',
  'prev-kv',
  'ignore-value',
  'ignore-lease',
  'interactive',
  'physical',
  'keys',
  'once',
  'cluster',
  'progress-notify',
  // member add, make-mirror, check
  'learner',
  'no-dest-prefix',
  'dest-insecure-transport',
  'auto-compact',
  'auto-defrag',
  // snapshot restore
  'skip-hash-check',
  // user add / user get
  'no-password',
  'detail',
]);
/** Boolean flags that default to true: `--flag=false` becomes `--no-flag` (user add/passwd --interactive). */
const TRUE_BY_DEFAULT = new Set(['insecure-transport', 'insecure-discovery', 'dest-insecure-transport', 'interactive']);
const TRUE = new Set(['1', 't', 'T', 'true', 'TRUE', 'True']);
const FALSE = new Set(['0', 'f', 'F', 'false', 'FALSE', 'False']);

/**
 * `--flag=true` becomes `--flag`; `--flag=false` is dropped for flags that default to false and
 * becomes `--no-flag` for the ones that default to true. Everything after `--` is left alone.
 */
export function rewriteBoolFlags(args: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') {
      out.push(...args.slice(i));
      break;
    }
    const short = /^-([a-zA-Z])=(.*)$/.exec(a);
    if (short) {
      // pflag reads `-w=json` as `-w json`.
      out.push(`-${short[1]}`, short[2]!);
      continue;
    }
    const m = /^--([a-z-]+)=(.*)$/.exec(a);
    if (m && BOOL_FLAGS.has(m[1]!)) {
      const [, name, v] = m;
      if (TRUE.has(v!)) out.push(`--${name}`);
      else if (FALSE.has(v!)) {
        if (TRUE_BY_DEFAULT.has(name!)) out.push(`--no-${name}`);
      } else out.push(a); // left for commander to reject
      continue;
    }
    out.push(a);
  }
  return out;
}

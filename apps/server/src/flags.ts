// kvd's command line, as etcd 3.4's (etcdmain/config.go): every flag of flag_table.ts, parsed with
// Go's flag syntax (goflag.ts), each also settable by its ETCD_* environment variable; or, with
// --config-file (or ETCD_CONFIG_FILE), etcd's YAML file alone — other flags and variables are then
// ignored, as etcd ignores them. The result is a ServerConfig, kvd's logging setup and the notices
// to log once the logger exists (recognized variables, flags without effect, deprecations).
import { ConfigError, resolveConfig, type ServerConfig } from '@kv/server';
import { readConfigFile } from './config_file.js';
import { allFlags, flagGroups, ignoredLegacy, type FlagDef } from './flag_table.js';
import { envValueError, flagValueError, formatGoDuration, parseArgs, parseValue, type Kind, type Value } from './goflag.js';

export { allFlags, flagGroups } from './flag_table.js';

export function envName(flag: string): string {
  return `ETCD_${flag.toUpperCase().replace(/-/g, '_')}`;
}

/** Go-style -flag and --flag are the same to Go's flag package (kept for callers that normalize). */
export function normalizeArgs(args: string[]): string[] {
  const out: string[] = [];
  for (const a of args) {
    if (a === '--') {
      out.push(a);
      continue;
    }
    out.push(/^-[a-z][a-z0-9-]+(=.*)?$/.test(a) ? `-${a}` : a);
  }
  return out;
}

/** Something to log once the logger exists. */
export interface Notice {
  level: 'info' | 'warn';
  msg: string;
  fields?: Record<string, unknown>;
}

/** kvd's logging, from --logger, --log-outputs (--log-output), --log-level and --debug. */
export interface Logging {
  logger: 'zap' | 'capnslog';
  level: ServerConfig['logLevel'];
  /** 'stderr', 'stdout' or file paths. */
  outputs: string[];
}

export type ParseResult =
  | { kind: 'run'; config: ServerConfig; logging: Logging; notices: Notice[]; configFile?: string }
  | { kind: 'version' }
  | { kind: 'help'; text: string };

export interface ParseOptions {
  /** Reads --config-file (tests inject it). */
  readFile?: (path: string) => string;
}

const byName = new Map(allFlags.map((d) => [d.name, d]));
const kinds = new Map<string, Kind>([
  ...allFlags.map((d) => [d.name, d.kind] as const),
  ...ignoredLegacy.map((n) => [n, 'ignored'] as const),
]);

/** A flag's default as a value (the zero value for an empty default). */
export function defaultValue(d: FlagDef): Value {
  if (d.def === '') {
    if (typeof d.kind === 'object' || d.kind === 'strings' || d.kind === 'uniqueStrings') return [];
    if (d.kind === 'duration') return 0;
    if (d.kind === 'string') return '';
  }
  return parseValue(d.kind, d.def);
}

function same(a: Value, b: Value): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

function show(v: Value, kind: Kind): string {
  if (Array.isArray(v)) return v.join(',');
  if (kind === 'duration') return formatGoDuration(v as number);
  return String(v);
}

/** etcd's setupLogging (embed/config_logging.go) in kvd's terms: pino writes what zap would. */
function setupLogging(values: Map<string, Value>, notices: Notice[]): Logging {
  const logger = values.get('logger') as string;
  const level = values.get('log-level') as string;
  const debug = values.get('debug') as boolean;
  const deprecated = values.get('log-output') as string[];
  let outputs = values.get('log-outputs') as string[];
  if (!['debug', 'info', 'warn', 'error', 'panic', 'fatal'].includes(level)) throw new ConfigError(`unknown log level "${level}"`);
  if (deprecated.length !== outputs.length) {
    if (deprecated.length > outputs.length) {
      notices.push({ level: 'warn', msg: "'--log-output' flag has been deprecated! Please use '--log-outputs'!" });
      outputs = deprecated;
    }
  } else {
    if (deprecated.length > 1) throw new ConfigError("both '--log-output' and '--log-outputs' are set; only set '--log-outputs'");
    if (deprecated.length < 1) throw new ConfigError("either '--log-output' or '--log-outputs' flag must be set");
    if (same(deprecated, outputs) && deprecated[0] !== 'default') {
      throw new ConfigError(
        `'--log-output=${goQuote(deprecated)}' and '--log-outputs=${goQuote(outputs)}' are incompatible; only set --log-outputs`,
      );
    }
    if (!same(deprecated, ['default'])) {
      notices.push({
        level: 'warn',
        msg: `[WARNING] Deprecated '--log-output' flag is set to ${goQuote(deprecated)}; please use '--log-outputs' flag`,
      });
    }
  }
  if (debug) notices.push({ level: 'warn', msg: `[WARNING] Deprecated '--debug' flag is set to true (use '--log-level=debug' instead` });
  if (debug && level !== 'debug') {
    notices.push({
      level: 'warn',
      msg: `[WARNING] Deprecated '--debug' flag is set to true with inconsistent '--log-level=${level}' flag`,
    });
  }
  if (logger === 'capnslog') {
    if (outputs.length !== 1) throw new ConfigError(`--logger=capnslog supports only 1 value in '--log-outputs', got ${goQuote(outputs)}`);
    const o = outputs[0];
    if (!['default', 'stderr', 'stdout'].includes(o))
      throw new ConfigError(`unknown log-output "${o}" (only supports "default", "stderr", "stdout")`);
    // capnslog's --debug is the debug level (with zap, --debug changes no level).
    return { logger, level: (debug ? 'debug' : level) as Logging['level'], outputs: [o === 'stdout' ? 'stdout' : 'stderr'] };
  }
  if (logger === 'zap') {
    if (outputs.length === 0) outputs = ['default'];
    if (outputs.length > 1 && outputs.includes('default')) throw new ConfigError(`multi logoutput for "default" is not supported yet`);
    const targets: string[] = [];
    for (const o of outputs) {
      if (o === 'systemd/journal') {
        notices.push({
          level: 'warn',
          msg: 'log output systemd/journal: kvd cannot write to the journal directly; logging to stderr (which systemd captures)',
        });
        targets.push('stderr');
      } else targets.push(o === 'default' ? 'stderr' : o);
    }
    return { logger, level: level as Logging['level'], outputs: [...new Set(targets)] };
  }
  throw new ConfigError(`unknown logger option "${logger}"`);
}

/** Go's %q of a []string: ["a" "b"]. */
function goQuote(xs: string[]): string {
  return `[${xs.map((x) => JSON.stringify(x)).join(' ')}]`;
}

/** `kvd --help`: etcd's groups, flags, defaults (as etcd prints them) and what kvd does. */
export function helpText(): string {
  const lines = [
    'Usage:',
    '',
    '  kvd [flags]',
    "    Start a kv member (flags, ETCD_* variables and --config-file as etcd 3.4's).",
    '',
    '  kvd --version',
    '    Show the version of kvd.',
    '',
    '  kvd -h | --help',
    '    Show the help information about kvd.',
    '',
    'See docs/flags.md for what each flag does in kvd.',
  ];
  for (const g of flagGroups) {
    lines.push('', `${g.title}:`);
    for (const d of g.flags) {
      const def = d.helpDef ?? d.def;
      lines.push(`  --${d.name} '${def}'`, `    ${d.help}`);
      const u = d.use;
      if ('noEffect' in u) lines.push(`    [kvd: accepted, no effect: ${u.noEffect}]`);
      if ('notYet' in u) lines.push(`    [kvd: only the default until issue ${u.notYet}]`);
      if ('refuse' in u) lines.push(`    [kvd: only the default: ${u.refuse}]`);
    }
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Parses argv (without node and script) and the environment as etcd 3.4 does, into a resolved
 * ServerConfig, kvd's logging and the notices to log. Bad input throws ConfigError with etcd's
 * text where etcd has one.
 */
export function parseFlags(args: string[], env: NodeJS.ProcessEnv, opts: ParseOptions = {}): ParseResult {
  const parsed = parseArgs(args, kinds);
  if (parsed.help) return { kind: 'help', text: helpText() };
  const notices: Notice[] = [];
  // flag.Parse checks every value given on the command line, even when a config file will win.
  const cmdline = new Map<string, Value>();
  for (const [name, raw] of parsed.set) {
    const kind = kinds.get(name)!;
    if (kind === 'ignored') {
      notices.push({ level: 'warn', msg: `flag "-${name}" is no longer supported - ignoring.` });
      continue;
    }
    try {
      cmdline.set(name, parseValue(kind, raw));
    } catch (e) {
      throw flagValueError(name, kind, raw, e);
    }
  }
  if (cmdline.get('version') === true) return { kind: 'version' };

  const values = new Map<string, Value>(allFlags.map((d) => [d.name, defaultValue(d)]));
  const given = new Set<string>();
  // ETCD_CONFIG_FILE is read on its own: it decides whether the other variables count at all.
  const configFile = (cmdline.get('config-file') as string | undefined) || env[envName('config-file')] || '';
  if (configFile !== '') {
    const file = readConfigFile(configFile, allFlags, opts.readFile);
    for (const [k, v] of file.values) {
      values.set(k, v);
      given.add(k);
    }
    const ignoredFlags = [...parsed.set.keys()].filter((k) => k !== 'config-file');
    const ignoredEnv = Object.keys(env).filter((k) => k.startsWith('ETCD_') && k !== envName('config-file'));
    const msg = 'loaded server configuration, other configuration command line flags and environment variables will be ignored if provided';
    if (ignoredFlags.length + ignoredEnv.length > 0) {
      notices.push({ level: 'warn', msg, fields: { path: configFile, ignoredFlags, ignoredEnv } });
    } else notices.push({ level: 'info', msg, fields: { path: configFile } });
  } else {
    for (const [k, v] of cmdline) {
      values.set(k, v);
      given.add(k);
    }
    fromEnv(env, parsed.set, values, given, notices);
    // etcd drops the default advertise URL when only the listen URL is set, then refuses.
    if (given.has('listen-client-urls') && !given.has('advertise-client-urls') && values.get('proxy') === 'off') {
      throw new ConfigError('--advertise-client-urls is required when --listen-client-urls is set explicitly');
    }
  }

  const partial: Partial<ServerConfig> = {};
  for (const d of allFlags) {
    if (!given.has(d.name)) continue;
    const v = values.get(d.name)!;
    const u = d.use;
    if ('apply' in u) u.apply(partial, v);
    else if ('noEffect' in u)
      notices.push({ level: 'warn', msg: `flag --${d.name} has no effect in kvd: ${u.noEffect}`, fields: { value: show(v, d.kind) } });
    else if ('notYet' in u || 'refuse' in u) {
      if (same(v, defaultValue(d))) continue;
      const why =
        'notYet' in u
          ? `is not yet supported (issue ${u.notYet}); only etcd's default (${d.helpDef ?? (d.def || 'empty')}) is accepted`
          : `is not supported: ${u.refuse}`;
      throw new ConfigError(`--${d.name}=${show(v, d.kind)} ${why}`);
    }
  }
  if (
    given.has('experimental-enable-lease-checkpoint-persist') &&
    values.get('experimental-enable-lease-checkpoint-persist') === true &&
    values.get('experimental-enable-lease-checkpoint') !== true
  ) {
    throw new ConfigError('setting experimental-enable-lease-checkpoint-persist requires experimental-enable-lease-checkpoint');
  }
  const logging = setupLogging(values, notices);
  partial.logLevel = logging.level;
  const config = resolveConfig(partial);
  return { kind: 'run', config, logging, notices, ...(configFile !== '' ? { configFile } : {}) };
}

/**
 * etcd's SetFlagsFromEnv + verifyEnv (pkg/flags/flag.go): a non-empty ETCD_<FLAG> sets a flag not
 * given on the command line; one that is also given there is a fatal conflict; other ETCD_*
 * variables are warned about.
 */
function fromEnv(
  env: NodeJS.ProcessEnv,
  cmd: Map<string, string>,
  values: Map<string, Value>,
  given: Set<string>,
  notices: Notice[],
): void {
  const used = new Set<string>();
  const names = [...allFlags.map((d) => d.name), ...ignoredLegacy];
  const alreadySet = new Set([...cmd.keys()].map(envName));
  for (const name of names) {
    const key = envName(name);
    if (alreadySet.has(key)) continue;
    const raw = env[key];
    if (raw === undefined || raw === '') continue;
    used.add(key);
    const kind = kinds.get(name)!;
    if (kind === 'ignored') {
      notices.push({ level: 'warn', msg: `flag "-${name}" is no longer supported - ignoring.` });
      continue;
    }
    try {
      values.set(name, parseValue(kind, raw));
    } catch (e) {
      throw envValueError(key, raw, e);
    }
    given.add(name);
    notices.push({ level: 'info', msg: `recognized and used environment variable ${key}=${raw}` });
  }
  for (const [key, raw] of Object.entries(env)) {
    if (used.has(key)) continue;
    if (alreadySet.has(key)) {
      throw new ConfigError(
        `conflicting environment variable "${key}" is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`,
      );
    }
    if (key.startsWith('ETCD_') && key !== envName('config-file'))
      notices.push({ level: 'warn', msg: `unrecognized environment variable ${key}=${raw}` });
  }
}

/** Every flag name kvd accepts (etcd's, its ignored etcd 2 flags, kv's extensions). */
export function flagNames(): string[] {
  return [...byName.keys(), ...ignoredLegacy];
}

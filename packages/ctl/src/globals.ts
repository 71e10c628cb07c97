// etcdctl's global flags: definitions, ETCDCTL_* environment variables, and turning them into a
// client and a printer.
import { readFileSync } from 'node:fs';
import { Option, type Command } from 'commander';
import { Client, type AuthOptions, type ClientOptions } from '@kv/client';
import { CtlExit, ExitCode, FlagError } from './exit.js';
import { parseGoDuration } from './gofmt.js';
import { Out, type CtlIO } from './io.js';
import { askPassword } from './password.js';
import { newPrinter, type Printer } from './printers/index.js';

/** Global flag names (long form) and how to read their values. */
interface FlagDef {
  name: string;
  kind: 'string' | 'bool' | 'duration' | 'slice';
  def: string | boolean | bigint | string[];
  short?: string;
  help: string;
}

export const globalFlagDefs: FlagDef[] = [
  { name: 'endpoints', kind: 'slice', def: ['127.0.0.1:2379'], help: 'gRPC endpoints' },
  { name: 'debug', kind: 'bool', def: false, help: 'enable client-side debug logging' },
  { name: 'write-out', short: 'w', kind: 'string', def: 'simple', help: 'set the output format (fields, json, protobuf, simple, table)' },
  { name: 'hex', kind: 'bool', def: false, help: 'print byte strings as hex encoded strings' },
  { name: 'dial-timeout', kind: 'duration', def: 2_000_000_000n, help: 'dial timeout for client connections' },
  { name: 'command-timeout', kind: 'duration', def: 5_000_000_000n, help: 'timeout for short running command (excluding dial timeout)' },
  { name: 'keepalive-time', kind: 'duration', def: 2_000_000_000n, help: 'keepalive time for client connections' },
  { name: 'keepalive-timeout', kind: 'duration', def: 6_000_000_000n, help: 'keepalive timeout for client connections' },
  { name: 'insecure-transport', kind: 'bool', def: true, help: 'disable transport security for client connections' },
  { name: 'insecure-discovery', kind: 'bool', def: true, help: 'accept insecure SRV records describing cluster endpoints' },
  {
    name: 'insecure-skip-tls-verify',
    kind: 'bool',
    def: false,
    help: 'skip server certificate verification (CAUTION: this option should be enabled only for testing purposes)',
  },
  { name: 'cert', kind: 'string', def: '', help: 'identify secure client using this TLS certificate file' },
  { name: 'key', kind: 'string', def: '', help: 'identify secure client using this TLS key file' },
  { name: 'cacert', kind: 'string', def: '', help: 'verify certificates of TLS-enabled secure servers using this CA bundle' },
  { name: 'user', kind: 'string', def: '', help: 'username[:password] for authentication (prompt if password is not supplied)' },
  {
    name: 'password',
    kind: 'string',
    def: '',
    help: "password for authentication (if this option is used, --user option shouldn't include password)",
  },
  { name: 'discovery-srv', short: 'd', kind: 'string', def: '', help: 'domain name to query for SRV records describing cluster endpoints' },
  { name: 'discovery-srv-name', kind: 'string', def: '', help: 'service name to query when using DNS discovery' },
];

/** Names of boolean flags of every command (for `--flag=true|false` rewriting). */
export const booleanFlags = new Set<string>(globalFlagDefs.filter((f) => f.kind === 'bool').map((f) => f.name));

/** pflag's parse error text for a bad flag value. */
function badValue(value: string, flag: string, err: string): CtlExit {
  return new FlagError(`invalid argument ${JSON.stringify(value)} for "--${flag}" flag: ${err}`);
}

export function parseDurationFlag(flag: string) {
  return (v: string): bigint => {
    try {
      return parseGoDuration(v);
    } catch (e) {
      throw badValue(v, flag, (e as Error).message);
    }
  };
}

export function parseInt64Flag(flag: string) {
  return (v: string): bigint => {
    if (!/^[+-]?\d+$/.test(v)) throw badValue(v, flag, `strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
    const n = BigInt(v);
    if (n > 9223372036854775807n || n < -9223372036854775808n) {
      throw badValue(v, flag, `strconv.ParseInt: parsing ${JSON.stringify(v)}: value out of range`);
    }
    return n;
  };
}

function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  return undefined;
}

function parseSlice(v: string): string[] {
  return v === '' ? [] : v.split(',').map((s) => s.trim());
}

/** Register the global flags on the root command. */
export function addGlobalFlags(cmd: Command): void {
  for (const f of globalFlagDefs) {
    const flags = (f.short ? `-${f.short}, ` : '') + `--${f.name}` + (f.kind === 'bool' ? '' : ' <value>');
    const o = new Option(flags, f.help);
    if (f.kind === 'duration') o.argParser(parseDurationFlag(f.name));
    if (f.kind === 'slice') o.argParser((v: string) => parseSlice(v));
    cmd.addOption(o);
  }
}

/** Resolved global settings. */
export interface Globals {
  endpoints: string[];
  writeOut: string;
  hex: boolean;
  dialTimeoutNs: bigint;
  commandTimeoutNs: bigint;
  insecureTransport: boolean;
  insecureSkipVerify: boolean;
  cert: string;
  key: string;
  cacert: string;
  user: string;
  password: string;
  keepaliveTimeNs: bigint;
  keepaliveTimeoutNs: bigint;
  /** DNS SRV discovery (see discovery.ts): domain, service name suffix, whether http:// is kept. */
  discoverySrv: string;
  discoverySrvName: string;
  insecureDiscovery: boolean;
  /** Flags given on the command line (long names). */
  explicit: Set<string>;
}

function camel(name: string): string {
  return name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase());
}

/** Extra environment keys a command accepts without a warning. */
export type EnvWhitelist = ReadonlySet<string>;

const stamp = (): string => {
  const d = new Date();
  const p = (n: number, w = 2) => String(n).padStart(w, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds() * 1000, 6)}`;
};

/**
 * Global flag values: command line first, then ETCDCTL_<FLAG> environment variables (etcd's
 * pkg/flags rules: a variable for a flag also given on the command line is fatal; unknown
 * ETCDCTL_ variables are warned about; invalid values are ignored).
 */
export function resolveGlobals(cmd: Command, io: CtlIO, extraEnv: EnvWhitelist = new Set()): Globals {
  const opts = cmd.optsWithGlobals() as Record<string, unknown>;
  const explicit = new Set<string>();
  const values = new Map<string, unknown>();
  const root = rootOf(cmd);
  for (const f of globalFlagDefs) {
    const key = camel(f.name);
    const src = root.getOptionValueSource(key);
    const v = opts[key];
    if (src === 'cli') explicit.add(f.name);
    // A subcommand's own flag of the same name (user add --no-password) is not this global's value.
    const own = f.kind === 'string' ? typeof v === 'string' : true;
    values.set(f.name, v === undefined || !own ? f.def : v);
  }
  const used = new Set<string>();
  const err = new Out(io.stderr);
  for (const f of globalFlagDefs) {
    const envKey = 'ETCDCTL_' + f.name.toUpperCase().replace(/-/g, '_');
    const ev = io.env[envKey];
    if (explicit.has(f.name)) continue;
    if (ev === undefined || ev === '') continue;
    used.add(envKey);
    try {
      switch (f.kind) {
        case 'string':
          values.set(f.name, ev);
          break;
        case 'slice':
          values.set(f.name, parseSlice(ev));
          break;
        case 'bool': {
          const b = parseBool(ev);
          if (b !== undefined) values.set(f.name, b);
          break;
        }
        case 'duration':
          values.set(f.name, parseGoDuration(ev));
          break;
      }
    } catch {
      // pkg/flags reports the error, and etcdctl ignores it: the flag keeps its value.
    }
  }
  for (const [k, v] of Object.entries(io.env)) {
    if (v === undefined || used.has(k) || k === 'ETCDCTL_API' || extraEnv.has(k)) continue;
    const flagName = k.startsWith('ETCDCTL_') ? k.slice(8).toLowerCase().replace(/_/g, '-') : undefined;
    if (flagName !== undefined && explicit.has(flagName)) {
      err.println(
        `${stamp()} C | pkg/flags: conflicting environment variable ${JSON.stringify(k)} is shadowed by corresponding command-line flag (either unset environment variable or disable flag)`,
      );
      throw new CtlExit(ExitCode.Error, '', true);
    }
    if (k.startsWith('ETCDCTL_')) err.println(`${stamp()} W | pkg/flags: unrecognized environment variable ${k}=${v}`);
  }
  return {
    endpoints: (values.get('endpoints') as string[]).map((e) => e.trim()),
    writeOut: values.get('write-out') as string,
    hex: values.get('hex') as boolean,
    dialTimeoutNs: values.get('dial-timeout') as bigint,
    commandTimeoutNs: values.get('command-timeout') as bigint,
    insecureTransport: values.get('insecure-transport') as boolean,
    insecureSkipVerify: values.get('insecure-skip-tls-verify') as boolean,
    cert: values.get('cert') as string,
    key: values.get('key') as string,
    cacert: values.get('cacert') as string,
    user: values.get('user') as string,
    password: values.get('password') as string,
    keepaliveTimeNs: values.get('keepalive-time') as bigint,
    keepaliveTimeoutNs: values.get('keepalive-timeout') as bigint,
    discoverySrv: values.get('discovery-srv') as string,
    discoverySrvName: values.get('discovery-srv-name') as string,
    insecureDiscovery: values.get('insecure-discovery') as boolean,
    explicit,
  };
}

function rootOf(cmd: Command): Command {
  let c = cmd;
  while (c.parent) c = c.parent;
  return c;
}

const nsToMs = (ns: bigint): number => Number(ns / 1_000_000n);

/** grpc-go's smallest client keep-alive time (internal.KeepaliveMinPingTime). */
const GRPC_GO_MIN_PING_MS = 10_000;

/** What a command works with: settings, printer, client. */
export class Ctx {
  readonly out: Out;
  readonly err: Out;
  private printerCache: Printer | undefined;
  private clients: Client[] = [];
  private prompted: Promise<string> | undefined;

  constructor(
    readonly io: CtlIO,
    readonly globals: Globals,
  ) {
    this.out = new Out(io.stdout);
    this.err = new Out(io.stderr);
  }

  /** The printer for -w (exit 4 for an unknown format). */
  get display(): Printer {
    this.printerCache ??= newPrinter(this.globals.writeOut, { out: this.out, err: this.err, isHex: this.globals.hex });
    return this.printerCache;
  }

  /** --command-timeout in milliseconds. */
  get commandTimeoutMs(): number {
    return nsToMs(this.globals.commandTimeoutNs);
  }

  /** Client options for the given endpoints (all configured ones by default). */
  clientOptions(endpoints = this.globals.endpoints): ClientOptions {
    const g = this.globals;
    for (const f of ['cert', 'key', 'cacert'] as const) {
      if (g.explicit.has(f) && g[f] === '') throw new CtlExit(ExitCode.BadArgs, `empty string is passed to --${f} option`);
    }
    const opts: ClientOptions = {
      endpoints,
      dialTimeoutMs: nsToMs(g.dialTimeoutNs),
      // grpc-go raises a keep-alive time under 10 s to 10 s (internal.KeepaliveMinPingTime), so
      // etcdctl's default 2s pings every 10 s; grpc-js would ping every 2 s and earn a GOAWAY
      // (too_many_pings) from etcd's 5 s enforcement on a long watch. Same floor here.
      keepaliveTimeMs: Math.max(nsToMs(g.keepaliveTimeNs), GRPC_GO_MIN_PING_MS),
      keepaliveTimeoutMs: nsToMs(g.keepaliveTimeoutNs),
    };
    const wantsTls = g.cert !== '' || g.key !== '' || g.cacert !== '' || !g.insecureTransport;
    if (wantsTls || endpoints.some((e) => e.startsWith('https://'))) {
      const read = readTlsFile;
      opts.tls = {
        ...(g.cacert ? { ca: read(g.cacert) } : {}),
        ...(g.cert ? { cert: read(g.cert) } : {}),
        ...(g.key ? { key: read(g.key) } : {}),
        insecureSkipVerify: g.insecureSkipVerify,
      };
    }
    if (g.user !== '') opts.auth = this.authOptions();
    return opts;
  }

  /**
   * etcdctl's authCfgFromCmd: `--user name:password`, or `--user name --password pw`, or
   * `--user name` alone and the password asked on the terminal ("Password: ") when the client
   * first logs in (once per kvctl run, however many clients a command makes).
   */
  private authOptions(): AuthOptions {
    const g = this.globals;
    if (g.password !== '') return { username: g.user, password: g.password };
    const i = g.user.indexOf(':');
    if (i >= 0) return { username: g.user.slice(0, i), password: g.user.slice(i + 1) };
    this.prompted ??= askPassword(this.io, 'Password: ').catch((e: unknown) => {
      throw new CtlExit(ExitCode.Error, (e as Error).message);
    });
    const asked = this.prompted;
    asked.catch(() => undefined); // reported by the call that logs in
    return { username: g.user, password: () => asked };
  }

  /** A client for the configured endpoints; also settles the printer (as etcdctl does). */
  client(endpoints?: string[]): Client {
    void this.display;
    const c = new Client(this.clientOptions(endpoints));
    this.clients.push(c);
    return c;
  }

  close(): void {
    for (const c of this.clients) c.close();
    this.clients = [];
  }
}

/** Reads a --cacert/--cert/--key file; a missing one is etcdctl's `open <path>: ...` bad-args exit. */
export function readTlsFile(p: string): Buffer {
  try {
    return readFileSync(p);
  } catch (e) {
    throw new CtlExit(
      ExitCode.BadArgs,
      `open ${p}: ${(e as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (e as Error).message}`,
    );
  }
}

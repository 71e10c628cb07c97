// The launcher's command line: `kv-cluster [--server kvd|etcd] [--size N] [--base-dir DIR]
// [--ready-timeout MS] [--stop-timeout MS] [--token T] [-- member flags...]`.
import { parseArgs } from 'node:util';
import { SERVER_KINDS, type ServerKind } from './binaries.js';
import type { ClusterOptions } from './cluster.js';

export const USAGE = `usage: kv-cluster [options] [-- flags for every member]

Starts an N-member kvd or etcd cluster on 127.0.0.1 free ports, prints the client endpoints,
waits until every member answers GET /health, and stops all members on SIGINT/SIGTERM.

  --server kvd|etcd      which server to run (default kvd)
  --size N               number of members (default 3)
  --base-dir DIR         parent of the data dirs and logs, kept afterwards (default: a temp dir, removed)
  --ready-timeout MS     longest wait for health (default 30000)
  --stop-timeout MS      grace between SIGTERM and SIGKILL (default 10000)
  --token T              --initial-cluster-token (default random)
  -h, --help             this text
`;

export type CliCommand = { kind: 'help' } | { kind: 'run'; options: ClusterOptions };

export class UsageError extends Error {
  override name = 'UsageError';
}

function positiveInt(flag: string, v: string | undefined, def: number): number {
  if (v === undefined) return def;
  if (!/^\d+$/.test(v) || Number(v) < 1) throw new UsageError(`${flag} must be a positive integer, got "${v}"`);
  return Number(v);
}

/** Parse argv (without node and script); throws UsageError on bad input. */
export function parseCli(argv: string[]): CliCommand {
  const dash = argv.indexOf('--');
  const own = dash < 0 ? argv : argv.slice(0, dash);
  const extraArgs = dash < 0 ? [] : argv.slice(dash + 1);
  let values;
  try {
    ({ values } = parseArgs({
      args: own,
      strict: true,
      allowPositionals: false,
      options: {
        server: { type: 'string' },
        size: { type: 'string' },
        'base-dir': { type: 'string' },
        'ready-timeout': { type: 'string' },
        'stop-timeout': { type: 'string' },
        token: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help) return { kind: 'help' };
  const server = (values.server ?? 'kvd') as ServerKind;
  if (!SERVER_KINDS.includes(server)) throw new UsageError(`--server must be one of ${SERVER_KINDS.join('|')}, got "${values.server}"`);
  return {
    kind: 'run',
    options: {
      server,
      size: positiveInt('--size', values.size, 3),
      ...(values['base-dir'] !== undefined ? { baseDir: values['base-dir'] } : {}),
      readyTimeoutMs: positiveInt('--ready-timeout', values['ready-timeout'], 30_000),
      stopTimeoutMs: positiveInt('--stop-timeout', values['stop-timeout'], 10_000),
      ...(values.token !== undefined ? { token: values.token } : {}),
      extraArgs,
    },
  };
}

/** What the launcher prints on stdout: one client URL a line, then the --endpoints form. */
export function formatEndpoints(clientUrls: readonly string[]): string {
  const bare = clientUrls.map((u) => u.replace(/^https?:\/\//, ''));
  return `${clientUrls.join('\n')}\n--endpoints=${bare.join(',')}\n`;
}

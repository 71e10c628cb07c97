// `pnpm jepsen` flags.
import { BUGS, type BugName } from './bugs.js';
import { NEMESES, type NemesisKind } from './nemesis.js';
import { WORKLOADS, type JepsenOptions, type WorkloadKind } from './run.js';

export const USAGE = `usage: pnpm jepsen --minutes M [--members 3|5] [--server kvd|etcd] [--seed S]
                  [--workload register,append,watch,lease,lock] [--nemesis kill,pause,partition,failpoint,churn,transfer]
                  [--bug NAME] [--no-read-probe]
  --minutes M     length of the workload phase (fractions allowed; or --seconds S)
  --members N     cluster size, 3 or 5 (default 3)
  --server        kvd (default) or etcd (partition and failpoint are kvd-only and skipped on etcd)
  --seed S        seeds the nemesis schedule and the workloads' choices (default: random, printed)
  --workload      comma list (default register,append,watch,lease,lock)
  --nemesis       comma list (default kill,pause,partition,failpoint,transfer,churn; "none" for none)
  --out DIR       where the run directory goes (default tools/jepsen/out)
  --bug NAME      put a known, fixed bug back into kvd to see the run find it: ${BUGS.join(', ')}
  --no-read-probe skip the start-up read probe (every member reads at once on an idle cluster;
                  a read that waited for a ReadIndex retry is a read-stall anomaly)
  --serializable-reads  self-test: register reads served from a member's local state (stale
                  under partitions): the run should then report nonlinearizable reads
Exit code 0 only with no anomaly and nothing lost; the report's path is the last line printed.`;

export class UsageError extends Error {}

function list<T extends string>(v: string, known: readonly T[], what: string): T[] {
  if (v === 'none') return [];
  const xs = v
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  for (const x of xs)
    if (!known.includes(x as T)) throw new UsageError(`unknown ${what} ${JSON.stringify(x)} (known: ${known.join(', ')})`);
  return xs as T[];
}

export function parseArgs(argv: readonly string[], randomSeed: () => number): JepsenOptions {
  const o: JepsenOptions = {
    server: 'kvd',
    members: 3,
    durationMs: 0,
    seed: randomSeed(),
    workloads: [...WORKLOADS],
    nemeses: ['kill', 'pause', 'partition', 'failpoint', 'transfer', 'churn'],
  };
  let duration: number | undefined;
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const value = (): string => {
      const v = argv[++i];
      if (v === undefined) throw new UsageError(`${flag} needs a value`);
      return v;
    };
    const num = (v: string): number => {
      const n = Number(v);
      if (!Number.isFinite(n) || n <= 0) throw new UsageError(`${flag} needs a positive number, got ${JSON.stringify(v)}`);
      return n;
    };
    switch (flag) {
      case '--minutes':
        duration = num(value()) * 60_000;
        break;
      case '--seconds':
        duration = num(value()) * 1_000;
        break;
      case '--members': {
        const n = num(value());
        if (n !== 3 && n !== 5) throw new UsageError('--members must be 3 or 5');
        o.members = n;
        break;
      }
      case '--server': {
        const s = value();
        if (s !== 'kvd' && s !== 'etcd') throw new UsageError('--server must be kvd or etcd');
        o.server = s;
        break;
      }
      case '--seed': {
        const s = Number(value());
        if (!Number.isInteger(s)) throw new UsageError('--seed must be an integer');
        o.seed = s;
        break;
      }
      case '--workload':
      case '--workloads':
        o.workloads = list<WorkloadKind>(value(), WORKLOADS, 'workload');
        break;
      case '--nemesis':
        o.nemeses = list<NemesisKind>(value(), NEMESES, 'nemesis');
        break;
      case '--out':
        o.outDir = value();
        break;
      case '--bug': {
        const b = value();
        if (!BUGS.includes(b as BugName)) throw new UsageError(`--bug must be one of ${BUGS.join(', ')}, got ${JSON.stringify(b)}`);
        o.bug = b as BugName;
        break;
      }
      case '--no-read-probe':
        o.readProbe = false;
        break;
      case '--serializable-reads':
        o.serializableReads = true;
        break;
      case '-h':
      case '--help':
        throw new UsageError(USAGE);
      default:
        throw new UsageError(`unknown flag ${JSON.stringify(flag)}\n${USAGE}`);
    }
  }
  if (duration === undefined) throw new UsageError(`--minutes is required\n${USAGE}`);
  if (o.workloads.length === 0) throw new UsageError('at least one workload is needed');
  if (o.bug !== undefined && o.server !== 'kvd') throw new UsageError('--bug applies to --server kvd only');
  o.durationMs = duration;
  return o;
}

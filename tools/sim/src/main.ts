// `pnpm sim`: runs seeds of the whole-cluster simulation. Exit 0 only when every seed passes.
//
//   pnpm sim --seeds N [--seed S] [--members 3|5] [--ops K] [--minutes-virtual V | --virtual-ms MS]
//            [--bug read-index-collision] [--no-read-probe] [--faults kill,partition,...|none] [--keep-going]
//            [--check-determinism] [--trace] [--verbose]
//
// --seed S alone runs that seed (the replay of a failure); with --seeds N, seeds S..S+N-1.
// A failing seed is printed as one line that replays it exactly, then what failed; the run stops
// at the first failure unless --keep-going. Long runs (--seeds 100000) print a progress line.
import { bugNames, type BugName } from './bugs.js';
import { allFaults, type FaultKind } from './nemesis.js';
import { runSeed, type SeedOptions, type SeedResult } from './run.js';

interface Args {
  seeds: number;
  seed: number;
  members: number;
  ops: number;
  virtualMs: number;
  bug?: BugName;
  noReadProbe: boolean;
  faults: readonly FaultKind[];
  keepGoing: boolean;
  checkDeterminism: boolean;
  trace: boolean;
  verbose: boolean;
}

const usage = `usage: pnpm sim --seeds N [--seed S] [--members 3|5] [--ops K] [--minutes-virtual V | --virtual-ms MS]
                [--bug ${bugNames.join('|')}] [--no-read-probe] [--faults ${allFaults.join(',')}|none]
                [--keep-going] [--check-determinism] [--trace] [--verbose]`;

class UsageError extends Error {}

function parse(argv: string[]): Args {
  const a: Args = {
    seeds: 1,
    seed: 1,
    members: 3,
    ops: 40,
    virtualMs: 15_000,
    faults: allFaults,
    keepGoing: false,
    noReadProbe: false,
    checkDeterminism: false,
    trace: false,
    verbose: false,
  };
  let seedsGiven = false;
  const int = (flag: string, v: string | undefined, min: number): number => {
    const n = Number(v);
    if (v === undefined || !Number.isInteger(n) || n < min)
      throw new UsageError(`${flag} needs an integer >= ${min}, got ${v ?? 'nothing'}`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const f = argv[i];
    const v = () => argv[++i];
    switch (f) {
      case '--seeds':
        a.seeds = int(f, v(), 1);
        seedsGiven = true;
        break;
      case '--seed':
        a.seed = int(f, v(), 0);
        break;
      case '--members': {
        const n = int(f, v(), 1);
        if (n !== 3 && n !== 5) throw new UsageError(`--members must be 3 or 5, got ${n}`);
        a.members = n;
        break;
      }
      case '--ops':
        a.ops = int(f, v(), 1);
        break;
      case '--minutes-virtual': {
        const s = v();
        const m = Number(s);
        if (!(m > 0)) throw new UsageError(`--minutes-virtual needs a positive number, got ${s ?? 'nothing'}`);
        a.virtualMs = Math.round(m * 60_000);
        break;
      }
      case '--virtual-ms':
        a.virtualMs = int(f, v(), 1000);
        break;
      case '--bug': {
        const b = v();
        if (!bugNames.includes(b as BugName)) throw new UsageError(`--bug must be one of ${bugNames.join(', ')}, got ${b ?? 'nothing'}`);
        a.bug = b as BugName;
        break;
      }
      case '--faults': {
        const s = v() ?? '';
        const list = s === 'none' ? [] : s.split(',').filter(Boolean);
        for (const x of list)
          if (!allFaults.includes(x as FaultKind)) throw new UsageError(`unknown fault ${x}; faults: ${allFaults.join(',')}`);
        a.faults = list as FaultKind[];
        break;
      }
      case '--no-read-probe':
        a.noReadProbe = true;
        break;
      case '--keep-going':
        a.keepGoing = true;
        break;
      case '--check-determinism':
        a.checkDeterminism = true;
        break;
      case '--trace':
        a.trace = true;
        break;
      case '--verbose':
        a.verbose = true;
        break;
      case '--help':
      case '-h':
        console.log(usage);
        process.exit(0);
        break;
      default:
        throw new UsageError(`unknown argument ${f}`);
    }
  }
  if (!seedsGiven) a.seeds = 1;
  return a;
}

function report(r: SeedResult, verbose: boolean): void {
  console.log(`FAIL seed ${r.seed}: ${r.replay}`);
  for (const f of r.failures.slice(0, 20)) console.log(`  - ${f}`);
  if (r.failures.length > 20) console.log(`  ... ${r.failures.length - 20} more`);
  if (verbose) {
    console.log('  last trace lines:');
    for (const l of r.recentTrace.slice(-60)) console.log(`    ${l}`);
    for (const [name, lines] of Object.entries(r.logs)) {
      if (lines.length === 0) continue;
      console.log(`  ${name} log (warnings and errors):`);
      for (const l of lines.slice(-20)) console.log(`    ${l}`);
    }
  }
}

async function main(): Promise<number> {
  let a: Args;
  try {
    a = parse(process.argv.slice(2));
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`pnpm sim: ${err.message}\n${usage}`);
      return 2;
    }
    throw err;
  }
  const started = Date.now();
  let lastProgress = started;
  let failed = 0;
  let passed = 0;
  for (let i = 0; i < a.seeds; i++) {
    const o: SeedOptions = {
      seed: a.seed + i,
      members: a.members,
      ops: a.ops,
      virtualMs: a.virtualMs,
      bug: a.bug,
      noReadProbe: a.noReadProbe,
      faults: a.faults,
      onTrace: a.trace ? (l) => console.log(`trace ${l}`) : undefined,
    };
    const r = await runSeed(o);
    if (a.checkDeterminism) {
      const again = await runSeed({ ...o, onTrace: undefined });
      if (again.traceHash !== r.traceHash) {
        r.ok = false;
        r.failures.push(`not deterministic: trace hash ${r.traceHash.slice(0, 16)} then ${again.traceHash.slice(0, 16)}`);
      }
    }
    if (r.ok) passed++;
    else {
      failed++;
      report(r, a.verbose || a.seeds === 1);
      if (!a.keepGoing) break;
    }
    if (a.seeds === 1 || a.verbose) {
      const s = r.stats;
      console.log(
        `seed ${r.seed} ${r.ok ? 'ok' : 'FAILED'}: ${s.ops} ops (${s.okOps} ok), ${s.events} events, ${s.virtualMs} ms virtual, ${s.realMs} ms real, ` +
          `faults ${JSON.stringify(s.faults)}, ${s.snapshots} snapshots sent, ${s.fatals} fatal stops; trace ${r.traceHash.slice(0, 16)}`,
      );
    }
    const now = Date.now();
    if (a.seeds > 1 && (now - lastProgress > 5000 || i === a.seeds - 1)) {
      lastProgress = now;
      const rate = (passed + failed) / ((now - started) / 1000);
      console.log(`progress: ${passed + failed}/${a.seeds} seeds, ${failed} failed, ${rate.toFixed(1)} seeds/s`);
    }
  }
  console.log(`${passed} passed, ${failed} failed (${a.members} members, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
  return failed === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(2);
  },
);

// One harness run: start a cluster, run the workloads under the nemesis for the given time, heal,
// read the final state and the whole history back, check everything, write the report.
import { randomBytes } from 'node:crypto';
import { setMaxListeners } from 'node:events';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Client } from '@kv/client';
import {
  checkAppend,
  checkLeases,
  checkLock,
  checkLost,
  checkRegister,
  checkWatch,
  History,
  mergeResults,
  type Anomaly,
  type CheckResult,
  type FinalRead,
} from '@kv/check';
import { startCluster, type ServerKind } from '@kv/cluster-launcher';
import { AppendWorkload } from './append.js';
import { bugEnv, type BugName } from './bugs.js';
import type { Ctx, Workload } from './context.js';
import { ELECTION_TIMEOUT_MS, LEADER_POLL_WINDOW_MS, leaderWindows } from './leader_windows.js';
import { LeaseWorkload } from './lease.js';
import { LockWorkload } from './lock.js';
import { Nemesis, type NemesisKind } from './nemesis.js';
import { LaunchedNode, type Node } from './nodes.js';
import { RegisterWorkload } from './register.js';
import { readProbe } from './read_probe.js';
import { figuresOf, renderReport, type Figures } from './report.js';
import { Rng, sleep } from './rng.js';
import { replayHistory, WatchWorkload } from './watch.js';

export const WORKLOADS = ['register', 'append', 'watch', 'lease', 'lock'] as const;
export type WorkloadKind = (typeof WORKLOADS)[number];

export interface JepsenOptions {
  server: ServerKind;
  members: number;
  /** Length of the workload phase (ms). */
  durationMs: number;
  seed: number;
  workloads: readonly WorkloadKind[];
  nemeses: readonly NemesisKind[];
  /** Where the run directory goes (default tools/jepsen/out). */
  outDir?: string;
  log?: (line: string) => void;
  /** Self-test of the checkers: register reads are serializable (served from any member's local
   *  state), which is not linearizable: under partitions and pauses the run must fail. */
  serializableReads?: boolean;
  /** Put a known, fixed bug back into every kvd process (the CLI's --bug; kvd only). */
  bug?: BugName;
  /** The start-up read probe (default on; see read_probe.ts). */
  readProbe?: boolean;
}

export interface JepsenResult {
  /** No anomaly (expected ones aside), nothing lost, nothing unknown. */
  ok: boolean;
  result: CheckResult;
  anomalies: Anomaly[];
  lost: number;
  figures: Figures;
  runDir: string;
  reportPath: string;
}

const OP_TIMEOUT_MS = 3_000;
const defaultOut = fileURLToPath(new URL('../out/', import.meta.url));

export async function runJepsen(opts: JepsenOptions): Promise<JepsenResult> {
  const log = opts.log ?? ((l: string) => process.stderr.write(`${l}\n`));
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const runDir = join(opts.outDir ?? defaultOut, `${stamp}-${opts.server}-${opts.members}-s${opts.seed}`);
  await mkdir(runDir, { recursive: true });
  const rng = new Rng(opts.seed);
  const { kinds, skipped } = Nemesis.applicable(opts.server, opts.nemeses);
  const notes: string[] = [];
  if (skipped.length > 0) notes.push(`skipped on ${opts.server}: ${skipped.join(', ')} (kvd's test hooks: peer isolation and failpoints)`);
  if (opts.serializableReads)
    notes.push('self-test: register reads are serializable (not linearizable); anomalies are what this run is for');
  if (opts.workloads.includes('lock'))
    notes.push("lock: etcd's lock recipe is not safe when a holder stalls past its lease; its overlaps are listed as expected anomalies");

  if (opts.bug !== undefined && opts.server !== 'kvd') throw new Error(`--bug ${opts.bug} applies to kvd only`);
  if (opts.bug !== undefined) notes.push(`bug put back: ${opts.bug} (anomalies are what this run is for)`);
  // Every kvd this run spawns (at start, and later restarts and churn) gets the test hooks, and the
  // bug's preload if one is asked for; the environment is restored when the run ends.
  const memberEnv: Record<string, string> = opts.server === 'kvd' ? { KVD_TEST_HOOKS: '1' } : {};
  if (opts.bug !== undefined) Object.assign(memberEnv, bugEnv(opts.bug));
  const savedEnv = new Map(Object.keys(memberEnv).map((k) => [k, process.env[k]]));
  const restoreEnv = (): void => {
    for (const [k, v] of savedEnv) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  };
  Object.assign(process.env, memberEnv);
  const token = `jepsen-${randomBytes(4).toString('hex')}`;
  const baseDir = join(runDir, 'cluster');
  log(`jepsen: starting ${opts.members} ${opts.server} members in ${baseDir}`);
  const cluster = await startCluster({
    server: opts.server,
    size: opts.members,
    baseDir,
    token,
    stopTimeoutMs: 5_000,
    readyTimeoutMs: 60_000,
  }).catch((err: unknown) => {
    restoreEnv();
    throw err;
  });

  const clients: Client[] = [];
  const endpoints = [...cluster.endpoints];
  const t0 = performance.now();
  const now = (): number => performance.now() - t0;
  const history = new History(now);
  const stop = new AbortController();
  setMaxListeners(0, stop.signal); // every worker's sleeps listen to it
  let nextProcess = 0;
  const ctx: Ctx = {
    history,
    rng,
    now,
    client(i: number): Client {
      // every endpoint, rotated so that the clients start on different members
      const rotated = endpoints.map((_, j) => endpoints[(i + j) % endpoints.length]!);
      const c = new Client({ endpoints: rotated, dialTimeoutMs: 1_000, requestTimeoutMs: OP_TIMEOUT_MS });
      clients.push(c);
      return c;
    },
    newProcess: () => nextProcess++,
    signal: stop.signal,
    opTimeoutMs: OP_TIMEOUT_MS,
    electionTimeoutMs: ELECTION_TIMEOUT_MS,
  };
  const nodes: Node[] = cluster.members.map((m) => new LaunchedNode(m));
  const admin = new Client({ endpoints, dialTimeoutMs: 1_000, requestTimeoutMs: 5_000 });
  clients.push(admin);
  const nemesis = new Nemesis({
    server: opts.server,
    nodes,
    kinds,
    rng: rng.fork(),
    history,
    admin,
    signal: stop.signal,
    baseDir,
    token,
    electionTimeoutMs: ELECTION_TIMEOUT_MS,
    log,
  });

  let register: RegisterWorkload | undefined;
  let append: AppendWorkload | undefined;
  let watch: WatchWorkload | undefined;
  const workloads: Workload[] = [];
  let nextClient = 0;
  const take = (n: number): number => {
    const first = nextClient;
    nextClient += n;
    return first;
  };
  for (const w of opts.workloads) {
    if (w === 'register') workloads.push((register = new RegisterWorkload(ctx, 4, take(4), opts.serializableReads ?? false)));
    if (w === 'append') workloads.push((append = new AppendWorkload(ctx, 3, take(3))));
    if (w === 'watch') workloads.push((watch = new WatchWorkload(ctx, 3, take(3))));
    if (w === 'lease') workloads.push(new LeaseWorkload(ctx, 2, 1, take(3)));
    if (w === 'lock') workloads.push(new LockWorkload(ctx, 3, take(3)));
  }

  let keepData = true;
  let result: CheckResult;
  let figures: Figures;
  try {
    let probe: CheckResult | undefined;
    if (opts.readProbe ?? true) {
      probe = await readProbe({ endpoints });
      log(`jepsen: start-up read probe: ${probe.stats.reads} reads, slowest ${probe.stats.slowestMs} ms, ${probe.anomalies.length} stalls`);
    }
    log(
      `jepsen: running ${opts.workloads.join(',')} under ${kinds.join(',') || 'no nemesis'} for ${(opts.durationMs / 1000).toFixed(0)} s (seed ${opts.seed})`,
    );
    const running = workloads.map((w) => w.run());
    const nem = nemesis.run();
    const leaders = nemesis.watchLeaders();
    await sleep(opts.durationMs);
    stop.abort();
    await nem;
    await leaders;
    await Promise.all(running);
    for (const op of history.pending()) history.info(op, 'run ended');
    log('jepsen: healing');
    await nemesis.heal();
    history.nemesis('heal', 'instant', 'every fault undone');
    if (!(await nemesis.waitHealthy(60_000))) notes.push('the cluster was not healthy 60 s after healing');

    // Final state: linearizable reads of every key used, retried until the cluster answers.
    const reader = new Client({ endpoints: nodes.map((n) => n.endpoint), dialTimeoutMs: 1_000, requestTimeoutMs: 5_000 });
    clients.push(reader);
    const finals: FinalRead[] = [];
    const keys = [...(register?.keys.used ?? []), ...(append?.keys.used ?? [])];
    let lastRevision = 0;
    let revisions: Awaited<ReturnType<typeof replayHistory>> = [];
    let finalError: string | undefined;
    try {
      for (const key of keys) {
        const r = await retry(() => reader.get(key));
        const kv = r.kvs[0];
        finals.push({ key, value: kv ? Buffer.from(kv.value).toString() : null, modRevision: Number(kv?.modRevision ?? 0n) });
      }
      lastRevision = Number((await retry(() => reader.get('probe'))).header!.revision);
      if (opts.workloads.some((w) => w === 'watch' || w === 'lease')) revisions = await replayHistory(reader, lastRevision);
    } catch (err) {
      finalError = String((err as Error)?.message ?? err);
    }

    const results: Record<string, CheckResult> = {};
    if (probe) results.probe = probe;
    if (register) results.register = checkRegister(history.events);
    if (append) results.append = checkAppend(history.events);
    if (finalError !== undefined) {
      // Without the final state nothing can be said of lost writes, watches or leases: a failure.
      results.harness = {
        valid: false,
        anomalies: [
          {
            checker: 'harness',
            type: 'unavailable-after-heal',
            message: `the healed cluster did not answer the final reads within 60 s: ${finalError}`,
            ops: [],
          },
        ],
        stats: {},
      };
    }
    if (finalError === undefined && (register || append)) results.lost = checkLost(history.events, finals);
    if (finalError === undefined && watch)
      results.watch = checkWatch({ revisions, lastRevision, streams: watch.streams, history: history.events });
    if (finalError === undefined && opts.workloads.includes('lease')) {
      const revocations = [];
      for (const r of revisions) {
        for (const e of r.events) {
          const m = /^lease\/(\d+)\/[ab]$/.exec(e.kv.key);
          if (e.type === 'delete' && m) revocations.push({ lease: m[1]!, revision: r.revision, time: 0 });
        }
      }
      results.lease = checkLeases({
        history: history.events,
        electionTimeoutMs: ELECTION_TIMEOUT_MS,
        slackMs: 1_000,
        revocations,
        leaderChanges: leaderWindows(history.events, ELECTION_TIMEOUT_MS, LEADER_POLL_WINDOW_MS),
      });
    }
    if (opts.workloads.includes('lock')) results.lock = checkLock(history.events);
    result = mergeResults(results);
    const lost = result.anomalies.filter((a) => a.checker === 'lost').length;
    figures = {
      server: opts.server,
      members: opts.members,
      seed: opts.seed,
      durationMs: now(),
      workloads: [...opts.workloads],
      nemeses: kinds,
      ...figuresOf(history.events),
      faults: nemesis.counts,
      checks: result.stats,
      notes: [...notes, ...nemesis.skipped.map((s) => `fault not applied: ${s}`)],
    };
    if (result.valid === 'unknown') figures.notes.push('a search bound was hit: some key could not be decided (not counted as valid)');
    figures.notes.push(...(result.notes ?? []));
    const reportPath = join(runDir, 'report.html');
    // The history first: if the report cannot be drawn, the run can still be read and rechecked.
    await writeFile(join(runDir, 'history.json'), JSON.stringify({ figures, events: history.events, anomalies: result.anomalies }));
    await writeFile(reportPath, renderReport(history.events, result.anomalies, figures, result.valid));
    const ok = result.valid === true && lost === 0;
    keepData = !ok;
    return { ok, result, anomalies: result.anomalies, lost, figures, runDir, reportPath };
  } finally {
    stop.abort();
    for (const c of clients) c.close();
    for (const n of nemesis.spawned()) {
      await n.kill();
      n.close();
    }
    await cluster.stop().catch((err) => log(`jepsen: stopping the cluster: ${String(err)}`));
    // The members' data directories (hundreds of MB) are kept only for a failed run; logs stay.
    if (!keepData) {
      for (const e of await readdir(baseDir, { withFileTypes: true }).catch(() => [])) {
        if (e.isDirectory()) await rm(join(baseDir, e.name), { recursive: true, force: true });
      }
    }
    restoreEnv();
  }
}

/** Retries a read until it answers (bounded: 60 s). */
async function retry<T>(fn: () => Promise<T>): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(250);
    }
  }
}

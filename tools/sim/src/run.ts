// One seed of the whole-cluster simulation, start to verdict:
//
//   1. build the world from the seed: scheduler, network (per-seed loss/duplication rates),
//      cluster of 3 or 5 members on simulated disks; open them all;
//   2. run the workloads (clients and watchers) while the nemesis injects faults;
//   3. at the end of the fault window heal everything (links, pauses, skew; restart the dead),
//      let the clients finish (their outstanding operations are `info`), wait until the cluster
//      is quiet (one leader, everything committed applied everywhere);
//   4. take the final reads, the truth (every revision's events, from a member's store) and every
//      member's HashKV;
//   5. check: linearizability (registers), list-append (Elle), the watch guarantees, lease safety,
//      nothing acknowledged lost (@kv/check), equal HashKV everywhere, no fatal error without an
//      injected fault, no member that kept running after a failed fsync, no callback that threw.
//
// Everything is a function of (seed, options): the trace hash identifies the run, and the
// replay line reruns it exactly.
import { etcdserverpb, mvccpb } from '@kv/api';
import {
  History,
  checkAppend,
  checkLeases,
  checkLost,
  checkRegister,
  checkWatch,
  mergeResults,
  type CheckResult,
  type FinalRead,
  type HistoryEvent,
  type RevisionEvents,
} from '@kv/check';
import { createHash } from 'node:crypto';
import { ClientConn } from './client.js';
import type { BugName } from './bugs.js';
import { SimCluster } from './cluster.js';
import { Nemesis, allFaults, type FaultKind } from './nemesis.js';
import { SimNetwork } from './network.js';
import { SimRng } from './rng.js';
import { EventBudgetExceeded, Scheduler } from './scheduler.js';
import { Workload, eventOf } from './workload.js';

export interface SeedOptions {
  seed: number;
  members: number;
  /** Operations per client (at most). */
  ops: number;
  /** Virtual length of the workload + fault window (ms); healing and checks come after. */
  virtualMs: number;
  bug?: BugName;
  /** Skip the start-up read probe (default: run it); the stale-read search does, to get past it. */
  noReadProbe?: boolean;
  /** Faults the nemesis may inject (default: all). */
  faults?: readonly FaultKind[];
  /** Every trace line (--trace). */
  onTrace?: (line: string) => void;
}

export interface SeedResult {
  seed: number;
  ok: boolean;
  /** One line per problem found. */
  failures: string[];
  traceHash: string;
  /** The command that replays this seed. */
  replay: string;
  stats: {
    events: number;
    ops: number;
    okOps: number;
    virtualMs: number;
    realMs: number;
    faults: Partial<Record<FaultKind, number>>;
    snapshots: number;
    fatals: number;
  };
  /** The last lines of the trace and of the members' logs (for a failure report). */
  recentTrace: readonly string[];
  logs: Record<string, readonly string[]>;
}

/** The command line that replays `o` exactly. */
export function replayLine(o: SeedOptions): string {
  const parts = ['pnpm sim', `--seed ${o.seed}`, `--members ${o.members}`, `--ops ${o.ops}`, `--virtual-ms ${o.virtualMs}`];
  if (o.bug) parts.push(`--bug ${o.bug}`);
  if (o.noReadProbe) parts.push('--no-read-probe');
  if (o.faults && o.faults.join(',') !== allFaults.join(',')) parts.push(`--faults ${o.faults.length ? o.faults.join(',') : 'none'}`);
  return parts.join(' ');
}

const electionMs = 1000;
const heartbeatMs = 100;

/** Runs `p` on the virtual timeline until it settles (or `limitMs` of virtual time passes). */
async function drive<T>(sched: Scheduler, p: Promise<T>, limitMs: number, what: string, maxEvents: number): Promise<T> {
  let settled = false;
  p.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sched.settle();
  if (!settled) await sched.runWhile(sched.now() + limitMs, () => settled, maxEvents);
  if (!settled) throw new Error(`${what} did not finish within ${limitMs} ms of virtual time`);
  return p;
}

function digest(events: readonly HistoryEvent[]): string {
  const h = createHash('sha256');
  for (const e of events) h.update(JSON.stringify(e));
  return h.digest('hex').slice(0, 16);
}

export async function runSeed(o: SeedOptions): Promise<SeedResult> {
  const started = performance.now();
  const rng = new SimRng(o.seed);
  const sched = new Scheduler({ onTrace: o.onTrace });
  const failures: string[] = [];
  // Per seed network weather: some seeds calm, some lossy.
  const wr = rng.fork('weather');
  const net = new SimNetwork(sched, rng.fork('net'), {
    minDelayMs: 0.5,
    maxDelayMs: wr.pick([2, 5, 15]),
    lossRate: wr.pick([0, 0.01, 0.05]),
    duplicateRate: wr.pick([0, 0.01, 0.05]),
    spikeRate: wr.pick([0, 0.02, 0.1]),
    spikeDelayMs: 200,
  });
  const cluster = new SimCluster(sched, rng.fork('cluster'), net, {
    members: o.members,
    heartbeatMs,
    electionMs,
    snapshotCount: wr.pick([8, 20, 100]),
    snapshotCatchUpEntries: wr.pick([2, 5]),
    keepLogLines: 60,
    bug: o.bug,
  });
  const maxEvents = 2_000_000;
  const history = new History(() => sched.now());
  // Made once the start-up probe is done (their times count from its end).
  let nemesis: Nemesis | undefined;
  let checked: CheckResult | undefined;
  try {
    await drive(sched, cluster.start(), 20_000, 'starting the cluster', maxEvents);
    if (!o.noReadProbe) failures.push(...(await startupReadProbe(sched, rng.fork('probe'), net, cluster, maxEvents)));
    // The workload and the faults start after the probe; their times count from here.
    const t0 = sched.now();
    const workload = new Workload(sched, rng.fork('workload'), history, cluster.targets, {
      clients: o.members + 1,
      watchers: 2,
      opsPerClient: o.ops,
      endMs: t0 + o.virtualMs,
      requestTimeoutMs: 3000,
      thinkMs: 100,
    });
    nemesis = new Nemesis(sched, rng.fork('nemesis'), net, cluster, history, {
      startMs: t0 + 1500,
      endMs: t0 + o.virtualMs,
      minGapMs: 300,
      maxGapMs: 2000,
      faults: o.faults ?? allFaults,
    });
    const clientsDone = workload.run();
    nemesis.start();
    await sched.runUntil(t0 + o.virtualMs, { maxEvents });
    await drive(sched, nemesis.heal(), 30_000, 'healing', maxEvents);
    await drive(sched, clientsDone, 60_000, 'the clients', maxEvents);
    for (const op of history.pending()) history.info(op, 'the run ended');
    const quiet = await sched.runWhile(sched.now() + 30_000, () => cluster.quiet(), maxEvents);
    if (!quiet)
      failures.push(
        `the cluster did not become quiet (one leader, all applied) within 30 s of virtual time after healing: ${cluster.describe()}`,
      );
    // Final reads through the request path, on the leader's member.
    const finals = await drive(sched, finalReads(sched, rng.fork('final'), cluster), 20_000, 'the final reads', maxEvents);
    workload.stop();
    await sched.runUntil(sched.now() + 1000, { maxEvents });
    const truth = await drive(sched, truthOf(cluster), 20_000, 'reading the truth', maxEvents);
    if (quiet) {
      const hashes = await drive(sched, cluster.hashes(), 20_000, 'HashKV', maxEvents);
      const distinct = new Set(hashes.map((h) => `${h.hash}@${h.revision}`));
      if (distinct.size > 1)
        failures.push(`HashKV differs between members: ${hashes.map((h) => `${h.name}=${h.hash}@${h.revision}`).join(' ')}`);
    }
    const events = history.events;
    const checks: Record<string, CheckResult> = {
      register: checkRegister(events),
      append: checkAppend(events),
      watch: checkWatch({ revisions: truth.revisions, lastRevision: truth.lastRevision, streams: workload.streams, history: events }),
      lease: checkLeases({
        history: events,
        leaderChanges: cluster.promotions.map((p) => p.time),
        electionTimeoutMs: electionMs,
        // A revoke is a proposal: under slow links (up to 3 s more each way) its commit and its
        // apply on the member that serves a read take up to three such delays.
        slackMs: 2 * electionMs + ((o.faults ?? allFaults).includes('slow') ? 3 * 3000 : 0),
        revocations: truth.revocations,
      }),
      lost: checkLost(events, finals),
    };
    checked = mergeResults(checks);
    // A debugging aid: SIM_DUMP_KEY=<key> prints that key's operations and the faults.
    const dump = process.env.SIM_DUMP_KEY;
    if (dump !== undefined) {
      for (const e of events) {
        if (e.kind === 'nemesis' || e.key === dump) console.log(JSON.stringify(e));
      }
    }
    for (const a of checked.anomalies) {
      if (a.expected) continue;
      failures.push(`${a.checker}/${a.type}${a.key !== undefined ? ` ${JSON.stringify(a.key)}` : ''}: ${a.message}`);
    }
    for (const [name, r] of Object.entries(checks))
      if (r.valid === 'unknown') failures.push(`${name}: the checker's search bound was hit (unknown)`);
    sched.trace(`history ${events.length} ${digest(events)}`);
  } catch (err) {
    if (err instanceof EventBudgetExceeded) failures.push(`event budget: ${err.message}`);
    else failures.push(`run error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
  }
  for (const f of cluster.fatals)
    if (!f.injected)
      failures.push(`${f.name} stopped with a fatal error at ${f.time.toFixed(0)} ms (no injected fault explains it): ${f.error}`);
  failures.push(...cluster.findings);
  for (const e of sched.errors)
    failures.push(
      `an event callback threw at ${e.at.toFixed(0)} ms (${e.label}): ${e.err instanceof Error ? e.err.message : String(e.err)}`,
    );
  const logs: Record<string, readonly string[]> = {};
  for (const n of cluster.names) logs[n] = [...cluster.logsOf(n)];
  cluster.dispose();
  const ops = history.events.filter((e) => e.kind === 'op' && e.type === 'invoke').length;
  const okOps = history.events.filter((e) => e.kind === 'op' && e.type === 'ok').length;
  return {
    seed: o.seed,
    ok: failures.length === 0,
    failures,
    traceHash: sched.traceHash(),
    replay: replayLine(o),
    stats: {
      events: sched.eventsRun,
      ops,
      okOps,
      virtualMs: Math.round(sched.now()),
      realMs: Math.round(performance.now() - started),
      faults: nemesis?.counts ?? {},
      snapshots: net.stats.snapshots,
      fatals: cluster.fatals.length,
    },
    recentTrace: [...sched.recentTrace()],
    logs,
  };
}

/** etcd's readIndexRetryTime, the member's default: a ReadIndex round unanswered this long is re-sent. */
const readIndexRetryMs = 500;
/** A read on a calm network takes a few message delays (≤ 15 ms each); past this it waited for a retry. */
const readStallMs = 300;
const probeRounds = 8;

/**
 * Right after start, on a calm network (no loss, no duplication, no spikes) and a quiet cluster,
 * every member serves linearizable reads at once, one after another: each must be answered well
 * inside the ReadIndex retry interval. A read that takes longer had its round dropped somewhere —
 * as when two members' rounds carry the same context and the leader ignores the second (the
 * read stall etcd's Go client found by spreading reads over all members; `--bug
 * read-index-collision` puts it back). Returns one line per stall.
 */
async function startupReadProbe(sched: Scheduler, rng: SimRng, net: SimNetwork, cluster: SimCluster, maxEvents: number): Promise<string[]> {
  net.setCalm(true);
  try {
    const quiet = await sched.runWhile(sched.now() + 20_000, () => cluster.quiet(), maxEvents);
    if (!quiet) return [`a new cluster on a calm network did not become quiet within 20 s of virtual time: ${cluster.describe()}`];
    const stalls: string[] = [];
    const probe = Promise.all(
      cluster.targets.map(async (t, i) => {
        const conn = new ClientConn(sched, rng.fork(`probe ${t.name}`), cluster.targets, i);
        for (let r = 0; r < probeRounds; r++) {
          const began = sched.now();
          try {
            await conn.unary<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
              (s) => s.kv.range,
              etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('probe') }),
              5000,
            );
          } catch (err) {
            stalls.push(
              `read stall: linearizable read ${r + 1} on ${t.name} failed on a calm network: ${err instanceof Error ? err.message : String(err)}`,
            );
            return;
          }
          const took = sched.now() - began;
          if (took > readStallMs)
            stalls.push(
              `read stall: linearizable read ${r + 1} on ${t.name} took ${took.toFixed(0)} ms on a calm network (ReadIndex retry: ${readIndexRetryMs} ms): a round was dropped`,
            );
        }
      }),
    );
    await drive(sched, probe, 20_000, 'the start-up read probe', maxEvents);
    return stalls;
  } finally {
    net.setCalm(false);
  }
}

/** A linearizable read of every key, on some member, through the KV service. */
async function finalReads(sched: Scheduler, rng: SimRng, cluster: SimCluster): Promise<FinalRead[]> {
  const conn = new ClientConn(sched, rng, cluster.targets, 0);
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const res = await conn.unary<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
        (s) => s.kv.range,
        etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('\0'), rangeEnd: Buffer.from('\0') }),
        5000,
      );
      return res.kvs.map((kv) => ({ key: kv.key.toString(), value: kv.value.toString(), modRevision: Number(kv.modRevision) }));
    } catch {
      conn.failover();
    }
  }
  throw new Error('no member answered the final read');
}

/** Every revision's events from a member's store, and the lease revocations they show. */
async function truthOf(cluster: SimCluster): Promise<{
  revisions: RevisionEvents[];
  lastRevision: number;
  revocations: { lease: string; revision: number; time: number }[];
}> {
  const m = cluster.mostApplied();
  if (!m) throw new Error('no member is up to read the truth from');
  const revisions: RevisionEvents[] = [];
  const revocations: { lease: string; revision: number; time: number }[] = [];
  const leaseOf = new Map<string, string>();
  const last = m.store.currentRev();
  for await (const ch of m.store.history(1n, last)) {
    const events = ch.events.map(eventOf);
    for (const [i, e] of events.entries()) {
      const key = e.kv.key;
      if (ch.events[i].type === mvccpb.Event_EventType.PUT) {
        if (e.kv.lease) leaseOf.set(key, e.kv.lease);
        else leaseOf.delete(key);
      } else {
        const l = leaseOf.get(key);
        // The workload never deletes a lease's keys itself: their deletion is the lease's revocation.
        if (l !== undefined) revocations.push({ lease: l, revision: Number(ch.rev), time: 0 });
        leaseOf.delete(key);
      }
    }
    revisions.push({ revision: Number(ch.rev), events });
  }
  return { revisions, lastRevision: Number(last), revocations };
}

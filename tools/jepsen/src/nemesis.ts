// The nemesis: faults on a seeded schedule, one at a time — a quiet spell, a fault held for a few
// seconds, healed, then the cluster is given time to be healthy again before the next one.
//   kill       SIGKILL a member (the leader half of the time), restart it on the same data
//   pause      SIGSTOP a member, SIGCONT it later
//   partition  kvd only: cut a member off from every peer (SIGUSR2 toggles kvd's peer isolation
//              when started with KVD_TEST_HOOKS=1), then reconnect it
//   failpoint  kvd only: restart a member with a failpoint armed (KVD_FAILPOINTS), later restart
//              it clean
//   transfer   move the leadership to another member (MoveLeader)
//   churn      remove a member (MemberRemove), wipe it, add it back as a new member (MemberAdd)
//              and start it fresh with --initial-cluster-state existing
// Every fault is recorded in the history (start/stop, or instant) for the report.
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { MemberNotFoundError, type Client } from '@kv/client';
import type { History } from '@kv/check';
import { serverBinary, type ServerKind } from '@kv/cluster-launcher';
import { SpawnedNode, type Node } from './nodes.js';
import { sleep, type Rng } from './rng.js';

export const NEMESES = ['kill', 'pause', 'partition', 'failpoint', 'transfer', 'churn'] as const;
export type NemesisKind = (typeof NEMESES)[number];

const FAILPOINT_NAMES = [
  'raftBeforeSave',
  'raftAfterSave',
  'beforeCommit',
  'raftBeforeApply',
  'raftBeforeApplySnap',
  'raftBeforeLeaderSend',
  'raftBeforeFollowerSend',
];

export interface NemesisOptions {
  server: ServerKind;
  nodes: Node[];
  kinds: readonly NemesisKind[];
  rng: Rng;
  history: History;
  /** A client of every member (for status, MoveLeader, membership). */
  admin: Client;
  signal: AbortSignal;
  baseDir: string;
  token: string;
  electionTimeoutMs: number;
  log: (line: string) => void;
}

export class Nemesis {
  private readonly paused = new Set<Node>();
  private readonly isolated = new Set<Node>();
  private readonly armed = new Set<Node>();
  private churns = 0;
  /** Members removed by a churn that then failed to add their replacement: left out. */
  private readonly removed = new Set<Node>();
  /** Faults applied, by kind. */
  readonly counts: Record<string, number> = {};
  /** Faults that could not be applied (e.g. MoveLeader refused), with why. */
  readonly skipped: string[] = [];

  constructor(private readonly o: NemesisOptions) {}

  /** Kinds that apply to this server (partition and failpoint are kvd's test hooks). */
  static applicable(server: ServerKind, kinds: readonly NemesisKind[]): { kinds: NemesisKind[]; skipped: NemesisKind[] } {
    const kvdOnly: NemesisKind[] = ['partition', 'failpoint'];
    if (server === 'kvd') return { kinds: [...kinds], skipped: [] };
    return { kinds: kinds.filter((k) => !kvdOnly.includes(k)), skipped: kinds.filter((k) => kvdOnly.includes(k)) };
  }

  async run(): Promise<void> {
    const { o } = this;
    if (o.kinds.length === 0) return;
    while (!o.signal.aborted) {
      await sleep(o.rng.int(1_000, 3_000), o.signal);
      if (o.signal.aborted) break;
      const kind = o.rng.pick(o.kinds);
      const hold = o.rng.int(2_000, 5_000);
      try {
        await this.apply(kind, hold);
        this.counts[kind] = (this.counts[kind] ?? 0) + 1;
      } catch (err) {
        this.skipped.push(`${kind}: ${(err as Error).message}`);
        o.log(`nemesis ${kind} failed: ${(err as Error).message}`);
        await this.heal();
      }
      await this.waitHealthy(20_000);
    }
  }

  /**
   * Records each new raft term seen (polling Status every 250 ms) as an instant 'leader' event: a
   * leader change extends every lease, and the report shows the elections beside the faults. The
   * time is when the change was seen, never before it happened.
   */
  async watchLeaders(): Promise<void> {
    const { o } = this;
    let term = 0n;
    while (!o.signal.aborted) {
      const st = await Promise.all(
        o.nodes.map((n) => o.admin.maintenance.status({ endpoint: n.endpoint, timeoutMs: 500 }).catch(() => undefined)),
      );
      for (const s of st) {
        if (s === undefined || s.raftTerm <= term || s.leader === 0n) continue;
        term = s.raftTerm;
        const leader = o.nodes[st.findIndex((x) => x?.header?.memberId === s.leader)]?.name ?? s.leader.toString(16);
        o.history.nemesis('leader', 'instant', `term ${term}: ${leader}`);
      }
      await sleep(250, o.signal);
    }
  }

  /** Undo every fault: resume, reconnect, restart what is down, disarm failpoints. */
  async heal(): Promise<void> {
    for (const n of this.paused) n.signal('SIGCONT');
    this.paused.clear();
    for (const n of this.isolated) n.signal('SIGUSR2');
    this.isolated.clear();
    for (const n of this.o.nodes) {
      if (this.removed.has(n)) continue;
      if (this.armed.has(n) || !n.running) await n.restart();
    }
    this.armed.clear();
  }

  async waitHealthy(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const h = await Promise.all(this.o.nodes.filter((n) => !this.removed.has(n)).map((n) => n.health()));
      if (h.every(Boolean)) return true;
      await sleep(200);
    }
    return false;
  }

  private async leaderIndex(): Promise<number> {
    const st = await Promise.all(
      this.o.nodes.map((n) => this.o.admin.maintenance.status({ endpoint: n.endpoint, timeoutMs: 1_000 }).catch(() => undefined)),
    );
    const lead = st.find((s) => s !== undefined && s.leader !== 0n)?.leader;
    return st.findIndex((s) => s?.header?.memberId === lead);
  }

  private async target(): Promise<Node> {
    const { o } = this;
    if (o.rng.next() < 0.5) {
      const i = await this.leaderIndex();
      if (i >= 0) return o.nodes[i]!;
    }
    return o.rng.pick(o.nodes);
  }

  private async apply(kind: NemesisKind, hold: number): Promise<void> {
    const { o } = this;
    const h = o.history;
    const wait = () => sleep(hold);
    switch (kind) {
      case 'kill': {
        const n = await this.target();
        h.nemesis('kill', 'start', n.name);
        await n.kill();
        await wait();
        await n.restart();
        h.nemesis('kill', 'stop', n.name);
        return;
      }
      case 'pause': {
        const n = await this.target();
        h.nemesis('pause', 'start', n.name);
        n.signal('SIGSTOP');
        this.paused.add(n);
        await wait();
        n.signal('SIGCONT');
        this.paused.delete(n);
        h.nemesis('pause', 'stop', n.name);
        return;
      }
      case 'partition': {
        const n = await this.target();
        h.nemesis('partition', 'start', `${n.name} cut off from its peers`);
        n.signal('SIGUSR2');
        this.isolated.add(n);
        await wait();
        if (n.running) n.signal('SIGUSR2');
        this.isolated.delete(n);
        h.nemesis('partition', 'stop', n.name);
        return;
      }
      case 'failpoint': {
        const n = await this.target();
        const point = o.rng.pick(FAILPOINT_NAMES);
        const r = o.rng.next();
        const action = r < 0.3 ? 'panic' : r < 0.6 ? `${o.rng.int(5, 30)}%panic` : `sleep(${o.rng.int(50, 400)})`;
        const spec = `${point}=${action}`;
        h.nemesis('failpoint', 'start', `${n.name} ${spec}`);
        this.armed.add(n);
        await n.restart({ KVD_FAILPOINTS: spec, KVD_FAILPOINTS_SEED: String(o.rng.int(1, 1_000_000)) });
        await wait();
        const crashed = !n.running;
        await n.restart();
        this.armed.delete(n);
        h.nemesis('failpoint', 'stop', `${n.name} ${crashed ? 'crashed at the failpoint' : 'survived'}; restarted clean`);
        return;
      }
      case 'transfer': {
        const li = await this.leaderIndex();
        if (li < 0) throw new Error('no leader to transfer from');
        const others = o.nodes.filter((_, i) => i !== li);
        const to = o.rng.pick(others);
        const st = await o.admin.maintenance.status({ endpoint: to.endpoint, timeoutMs: 2_000 });
        h.nemesis('transfer', 'instant', `${o.nodes[li]!.name} → ${to.name}`);
        await o.admin.maintenance.moveLeader(st.header!.memberId, { endpoint: o.nodes[li]!.endpoint, timeoutMs: 5_000 });
        return;
      }
      case 'churn':
        await this.churn();
        return;
    }
  }

  /** Remove a member, then add a fresh one on the same ports in its place. */
  private async churn(): Promise<void> {
    const { o } = this;
    const i = o.rng.int(0, o.nodes.length - 1);
    const old = o.nodes[i]!;
    const list = await retryFor(10_000, () => o.admin.cluster.memberList({ timeoutMs: 3_000, linearizable: true }));
    const m = list.members.find((x) => x.peerURLs.includes(old.peerUrl));
    if (m === undefined) throw new Error(`${old.name} is not in the member list`);
    // etcd refuses a removal until every member has been connected for a while ("unhealthy
    // cluster", its strict reconfiguration check): retry for a bounded time.
    // A retry after a removal that timed out but happened answers "member not found": done.
    await retryFor(10_000, () =>
      o.admin.cluster.memberRemove(m.ID, { timeoutMs: 5_000 }).then(
        () => undefined,
        (err: unknown) => {
          if (err instanceof MemberNotFoundError) return undefined;
          throw err;
        },
      ),
    );
    o.history.nemesis('churn', 'start', `removed ${old.name}`);
    this.removed.add(old);
    // Never wipe a member that is still in the cluster.
    const after = await retryFor(15_000, () => o.admin.cluster.memberList({ timeoutMs: 3_000, linearizable: true }));
    if (after.members.some((x) => x.peerURLs.includes(old.peerUrl))) throw new Error(`${old.name} is still a member after its removal`);
    // A removed member stops by itself once it learns of its removal; bounded, then by PID.
    await Promise.race([
      new Promise<void>((r) => {
        const t = setInterval(() => {
          if (!old.running) {
            clearInterval(t);
            r();
          }
        }, 100);
      }),
      sleep(5_000),
    ]);
    await old.kill();
    await rm(old.dataDir, { recursive: true, force: true });
    const name = `${old.name.replace(/-c\d+$/, '')}-c${++this.churns}`;
    // An add that timed out may have happened: then the member list has the peer URL, unstarted.
    const added = await retryFor(20_000, async () => {
      try {
        const r = await o.admin.cluster.memberAdd([old.peerUrl], { timeoutMs: 5_000 });
        return { id: r.member!.ID, members: r.members };
      } catch (err) {
        const l = await o.admin.cluster.memberList({ timeoutMs: 3_000, linearizable: true });
        const found = l.members.find((x) => x.peerURLs.includes(old.peerUrl) && x.name === '');
        if (found !== undefined) return { id: found.ID, members: l.members };
        throw err;
      }
    });
    const initial = added.members.map((x) => `${x.ID === added.id ? name : x.name}=${x.peerURLs[0]}`).join(',');
    const clientPort = Number(new URL(old.clientUrl).port);
    const dataDir = join(o.baseDir, name);
    const args = [
      '--name',
      name,
      '--data-dir',
      dataDir,
      '--listen-client-urls',
      old.clientUrl,
      '--advertise-client-urls',
      old.clientUrl,
      '--listen-peer-urls',
      old.peerUrl,
      '--initial-advertise-peer-urls',
      old.peerUrl,
      '--initial-cluster',
      initial,
      '--initial-cluster-state',
      'existing',
      '--initial-cluster-token',
      o.token,
    ];
    const env: Record<string, string> = o.server === 'kvd' ? { KVD_TEST_HOOKS: '1' } : {};
    const fresh = new SpawnedNode(name, serverBinary(o.server), args, old.peerUrl, clientPort, dataDir, o.baseDir, env);
    fresh.start();
    o.nodes[i] = fresh;
    this.removed.delete(old);
    o.history.nemesis('churn', 'stop', `add ${name}`);
  }

  /** Processes this nemesis started (churn), to stop at the end. */
  spawned(): SpawnedNode[] {
    return this.o.nodes.filter((n): n is SpawnedNode => n instanceof SpawnedNode);
  }
}

/** Calls fn until it succeeds, every 500 ms, for at most `ms`; then throws its last error. */
async function retryFor<T>(ms: number, fn: () => Promise<T>): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > until) throw err;
      await sleep(500);
    }
  }
}

// The simulated cluster: 3-5 complete members (Member.open — raft, WAL, apply, mvcc, leases,
// watches — the same code kvd runs) in one process, each on its own SimClock, a seeded Random,
// a MemberDisk over its own SimFs + SimEngine, and SimNetwork.
//
// A member's disk outlives its incarnations. Crashing a member kills its clock (its timers and
// deliveries vanish), kills its disk sessions (anything its dead code still does is refused) and,
// on a power loss, makes the disk lose unsynced writes; the Member object is dropped without a
// clean stop. Restarting opens a new Member over the same disk.
//
// A fatal error (onFatal) is the member stopping itself, as etcd panics: it is handled as a
// crash. After an injected fault that calls for it (a failed fsync) that is the expected outcome;
// any other fatal error is a finding.
import { Member, defaultConfig, kvService, leaseService, maintenanceService, watchService, type ServerConfig } from '@kv/server';
import { SimEngine, SimFs } from '@kv/sim-world';
import pino, { type Logger } from 'pino';
import type { ClientTarget, Services } from './client.js';
import { bugOptions, type BugName } from './bugs.js';
import { simDisk, type DiskLockState } from './disk.js';
import type { SimNetwork } from './network.js';
import type { NemesisTarget } from './nemesis.js';
import type { SimRng } from './rng.js';
import type { Scheduler, SimClock } from './scheduler.js';

export interface ClusterOptions {
  members: number;
  heartbeatMs: number;
  electionMs: number;
  /** Small, so that snapshots are taken and sent during a short run. */
  snapshotCount: number;
  snapshotCatchUpEntries: number;
  /** Lines of each member's log kept for a failure report. */
  keepLogLines: number;
  /** Put a known bug back (the CLI's --bug). */
  bug?: BugName;
}

/** A fatal error a member reported. */
export interface Fatal {
  name: string;
  time: number;
  error: string;
  /** Whether an injected fault explains it (a failed fsync). */
  injected: boolean;
}

type State = 'down' | 'starting' | 'up';

class SimMember implements ClientTarget {
  state: State = 'down';
  incarnation = 0;
  clock?: SimClock;
  member?: Member;
  services?: Services;
  /** Machine properties that outlive incarnations. */
  wallOffset = 0;
  rate = 1;
  paused = false;
  /** failedSyncs count when an fsync fault was armed (undefined: none armed). */
  fsyncArmed?: number;
  readonly lock: DiskLockState = {};
  readonly logs: string[] = [];

  constructor(
    readonly name: string,
    readonly fs: SimFs,
    readonly engine: SimEngine,
  ) {}

  current(): { clock: SimClock; services: Services } | undefined {
    if (this.state !== 'up' || !this.clock || !this.services) return undefined;
    return { clock: this.clock, services: this.services };
  }
}

export class SimCluster implements NemesisTarget {
  readonly names: string[];
  private readonly byName = new Map<string, SimMember>();
  readonly fatals: Fatal[] = [];
  /** Findings about a member's behaviour under faults (not from the history checkers). */
  readonly findings: string[] = [];
  private readonly initialCluster: { name: string; peerUrls: string[] }[];
  /** Times a member became leader (its lessor became the primary: every lease renewed). */
  readonly promotions: { time: number; name: string }[] = [];
  private readonly leading = new Set<string>();

  constructor(
    private readonly sched: Scheduler,
    private readonly rng: SimRng,
    private readonly net: SimNetwork,
    private readonly o: ClusterOptions,
  ) {
    this.names = Array.from({ length: o.members }, (_, i) => `m${i + 1}`);
    this.initialCluster = this.names.map((name, i) => ({ name, peerUrls: [`http://10.0.0.${i + 1}:2380`] }));
    for (const name of this.names) {
      const r = rng.fork(`disk ${name}`);
      const m: SimMember = new SimMember(
        name,
        new SimFs({ random: r.fork('fs'), schedule: (fn, ms) => this.onDisk(m, fn, ms), latency: () => r.between(10, 500) / 1000 }),
        new SimEngine({ random: r.fork('engine'), schedule: (fn, ms) => this.onDisk(m, fn, ms), latency: () => r.between(10, 300) / 1000 }),
      );
      this.byName.set(name, m);
    }
    sched.afterEvent = () => this.observe();
  }

  /** Notes leader promotions (checked after every event). */
  private observe(): void {
    for (const m of this.byName.values()) {
      const leads = m.state === 'up' && m.member !== undefined && m.member.consensus.leader() === m.member.memberId;
      if (leads && !this.leading.has(m.name)) {
        this.leading.add(m.name);
        this.promotions.push({ time: this.sched.now(), name: m.name });
      } else if (!leads) this.leading.delete(m.name);
    }
  }

  /** Disk completions run on the member's current timeline (paused with it). */
  private onDisk(m: SimMember, fn: () => void, ms: number): void {
    if (m.clock?.alive) m.clock.post(`disk ${m.name}`, fn, ms);
    else this.sched.at(ms, `disk ${m.name}`, fn);
  }

  get targets(): readonly ClientTarget[] {
    return this.names.map((n) => this.byName.get(n)!);
  }

  private config(name: string): ServerConfig {
    const i = this.names.indexOf(name);
    return {
      ...defaultConfig(),
      name,
      dataDir: `/data/${name}`,
      listenClientUrls: [`http://10.0.0.${i + 1}:2379`],
      advertiseClientUrls: [`http://10.0.0.${i + 1}:2379`],
      listenPeerUrls: this.initialCluster[i].peerUrls,
      initialAdvertisePeerUrls: this.initialCluster[i].peerUrls,
      initialCluster: this.initialCluster,
      initialClusterToken: 'sim',
      heartbeatIntervalMs: this.o.heartbeatMs,
      electionTimeoutMs: this.o.electionMs,
      snapshotCount: this.o.snapshotCount,
      snapshotCatchUpEntries: this.o.snapshotCatchUpEntries,
      logLevel: 'warn',
    };
  }

  private logger(m: SimMember, clock: SimClock): Logger {
    const keep = this.o.keepLogLines;
    return pino(
      {
        level: process.env.SIM_LOG_LEVEL ?? 'warn',
        base: { m: m.name, inc: m.incarnation },
        timestamp: () => `,"t":${clock.now().toFixed(3)}`,
      },
      {
        write: (line: string) => {
          if (process.env.SIM_LOG_LEVEL) process.stderr.write(line);
          m.logs.push(line.trimEnd());
          if (m.logs.length > keep) m.logs.shift();
        },
      },
    );
  }

  /**
   * Provisions every member's data dir and opens every member (a new cluster); resolves when all
   * are up. kvd's openDataDir (synchronous, on node's fs) is not what runs here: the simulation
   * creates <data-dir>/member itself, durably (every new name's parent directory synced), as the
   * operator and openDataDir leave it.
   */
  async start(): Promise<void> {
    await Promise.all(
      this.names.map(async (n) => {
        const m = this.byName.get(n)!;
        const fs = m.fs.session();
        const dir = `/data/${n}/member`;
        await fs.mkdir(dir, { recursive: true, mode: 0o700 });
        for (const d of ['/', '/data', `/data/${n}`]) await fs.fsyncDir(d);
        await this.open(m);
      }),
    );
  }

  private open(m: SimMember): Promise<void> {
    m.incarnation++;
    const inc = m.incarnation;
    const clock = this.sched.clock(m.name);
    clock.setRate(m.rate);
    clock.jumpWall(m.wallOffset);
    if (m.paused) clock.pause();
    m.clock = clock;
    m.state = 'starting';
    this.sched.trace(`cluster open ${m.name}#${inc}`);
    const world = {
      clock,
      random: this.rng.fork(`member ${m.name}#${inc}`),
      disk: simDisk(`/data/${m.name}`, m.fs.session(), m.engine.session(), m.lock, () => clock.alive),
      network: this.net.factory(clock),
    };
    return new Promise<void>((resolve) => {
      clock.post(`open ${m.name}`, () => {
        Member.open({
          config: this.config(m.name),
          logger: this.logger(m, clock),
          world,
          onFatal: (err) => this.onFatal(m, inc, err),
          ...bugOptions(this.o.bug),
        })
          .then(async (member) => {
            if (m.incarnation !== inc || !clock.alive) return;
            m.member = member;
            m.services = {
              kv: kvService(member),
              lease: leaseService(member),
              watch: watchService(member),
              maintenance: maintenanceService(member),
            };
            await member.start();
            if (m.incarnation !== inc || !clock.alive) return;
            m.state = 'up';
            this.sched.trace(`cluster up ${m.name}#${inc}`);
          })
          .catch((err: unknown) => {
            if (m.incarnation !== inc || !clock.alive) return;
            // A member that cannot open its data dir is a finding (nothing we inject corrupts synced data).
            this.findings.push(`${m.name} failed to open at ${this.sched.now().toFixed(0)} ms: ${errText(err)}`);
            this.sched.trace(`cluster open failed ${m.name}#${inc}: ${errText(err)}`);
            this.kill(m, false);
          })
          .finally(resolve);
      });
    });
  }

  private onFatal(m: SimMember, inc: number, err: unknown): void {
    if (m.incarnation !== inc || !m.clock?.alive) return;
    const injected = m.fsyncArmed !== undefined && m.fs.counters.failedSyncs > m.fsyncArmed;
    this.fatals.push({ name: m.name, time: this.sched.now(), error: errText(err), injected });
    this.sched.trace(`cluster fatal ${m.name}#${inc} ${injected ? '(injected)' : ''}: ${errText(err)}`);
    // etcd panics: the process exits, the disk keeps what was written. After a failed fsync the
    // machine is rebooted as well (a power-loss crash): restarting the process alone would read
    // back writes the kernel dropped from its writeback queue (fsyncgate) and trust them, and a
    // later power loss would leave a WAL with a hole in it (seen: seed 114 of 5 members,
    // "wal: empty record header followed by data"). kvd cannot tell those writes from durable
    // ones; a reboot is the operator's remedy, and what is simulated.
    this.kill(m, injected);
  }

  private kill(m: SimMember, powerLoss: boolean): void {
    m.clock?.kill();
    if (powerLoss) {
      m.fs.crash();
      m.engine.crash();
    } else {
      m.fs.kill();
      m.engine.kill();
    }
    m.member = undefined;
    m.services = undefined;
    m.state = 'down';
  }

  // --- NemesisTarget ---

  isUp(name: string): boolean {
    return this.byName.get(name)!.state === 'up';
  }

  leader(): string | undefined {
    let best: { term: bigint; lead: bigint } | undefined;
    for (const m of this.byName.values()) {
      if (m.state !== 'up' || !m.member) continue;
      const lead = m.member.consensus.leader();
      const term = m.member.consensus.term();
      if (lead !== 0n && (!best || term > best.term)) best = { term, lead };
    }
    return best ? this.net.nameOf(best.lead) : undefined;
  }

  crash(name: string, powerLoss: boolean): void {
    const m = this.byName.get(name)!;
    if (m.state === 'down') return;
    this.sched.trace(`cluster crash ${name}${powerLoss ? ' (power loss)' : ''}`);
    this.kill(m, powerLoss);
  }

  async restart(name: string): Promise<void> {
    const m = this.byName.get(name)!;
    if (m.fsyncArmed !== undefined) {
      // The fault was armed a while ago: if an fsync failed, the member must have stopped.
      if (m.fs.counters.failedSyncs > m.fsyncArmed && m.state === 'up') {
        this.findings.push(`${name} kept running after an fsync failed (it must stop: the unsynced data may be lost)`);
      }
      m.fsyncArmed = undefined;
      m.fs.clearFaults();
    }
    if (m.state !== 'down') return;
    await this.open(m);
  }

  pause(name: string): void {
    const m = this.byName.get(name)!;
    m.paused = true;
    m.clock?.pause();
  }

  resume(name: string): void {
    const m = this.byName.get(name)!;
    m.paused = false;
    m.clock?.resume();
  }

  jumpWall(name: string, ms: number): void {
    const m = this.byName.get(name)!;
    m.wallOffset += ms;
    m.clock?.jumpWall(ms);
  }

  setRate(name: string, rate: number): void {
    const m = this.byName.get(name)!;
    m.rate = rate;
    m.clock?.setRate(rate);
  }

  failNextFsync(name: string): void {
    const m = this.byName.get(name)!;
    m.fsyncArmed = m.fs.counters.failedSyncs;
    m.fs.failFsync(1);
  }

  // --- the end of a run ---

  /** Running members. */
  up(): Member[] {
    return this.names.map((n) => this.byName.get(n)!).flatMap((m) => (m.state === 'up' && m.member ? [m.member] : []));
  }

  /** All members up, one leader all agree on, every member applied everything committed. */
  quiet(): boolean {
    const ms = this.up();
    if (ms.length !== this.names.length) return false;
    const lead = ms[0].consensus.leader();
    if (lead === 0n) return false;
    const commit = ms[0].consensus.commitIndex();
    return ms.every((m) => m.consensus.leader() === lead && m.consensus.commitIndex() === commit && m.consensus.appliedIndex() === commit);
  }

  /** Each member's state, for a report: up/down, leader seen, commit and applied indexes. */
  describe(): string {
    return this.names
      .map((n) => {
        const m = this.byName.get(n)!;
        if (m.state !== 'up' || !m.member) return `${n}: ${m.state}`;
        const c = m.member.consensus;
        return `${n}: leader ${this.net.nameOf(c.leader())} term ${c.term()} commit ${c.commitIndex()} applied ${c.appliedIndex()}`;
      })
      .join('; ');
  }

  /** The running member that has applied the most (the truth is read from it). */
  mostApplied(): Member | undefined {
    let best: Member | undefined;
    for (const m of this.up()) if (!best || m.consensus.appliedIndex() > best.consensus.appliedIndex()) best = m;
    return best;
  }

  /**
   * Each member's HashKV at one revision: the lowest current revision among them (as etcd's
   * corruption check compares hashes at one revision). Leases keep expiring after the cluster
   * became quiet, so a member may be an entry behind when the hashes are taken.
   */
  async hashes(): Promise<{ name: string; hash: number; revision: bigint }[]> {
    const ms = this.names.flatMap((name) => {
      const m = this.byName.get(name)!.member;
      return m ? [{ name, m }] : [];
    });
    let rev = -1n;
    for (const { m } of ms) if (rev < 0n || m.store.currentRev() < rev) rev = m.store.currentRev();
    const out: { name: string; hash: number; revision: bigint }[] = [];
    for (const { name, m } of ms) {
      const h = await m.store.hashByRev(rev);
      out.push({ name, hash: h.hash, revision: rev });
    }
    return out;
  }

  logsOf(name: string): readonly string[] {
    return this.byName.get(name)!.logs;
  }

  diskStats(): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    for (const [n, m] of this.byName) out[n] = { fs: m.fs.counters, engine: m.engine.counters };
    return out;
  }

  /** Drops every member (end of the run; no clean stop needed: nothing outlives the run). */
  dispose(): void {
    for (const m of this.byName.values()) this.kill(m, false);
  }
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

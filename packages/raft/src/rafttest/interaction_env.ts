// An interaction environment for data-driven tests: a set of RawNodes with MemoryStorage, an
// explicit queue of in-flight messages, and commands that drive them step by step (campaign,
// propose, deliver-msgs, process-ready, stabilize, ticks, partitions, ...). Every command returns
// the text it produced (raft's log output included) so that a script can pin the exact sequence of
// events. Pure and deterministic: no I/O; randomness is seeded per node id.

import { raftpb } from '@kv/api';
import { confChangesFromString } from '../confchange/strings.js';
import { RaftError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { Config } from '../raft.js';
import { seededRandom } from '../rand.js';
import { RawNode, SnapshotStatus } from '../rawnode.js';
import { RaftState, ReadOnlyOption } from '../state.js';
import { MemoryStorage, type InitialState, type Storage } from '../storage.js';
import { progressMapString } from '../tracker/index.js';
import { describeEntries, describeMessage, describeReady, emptyConfState, entryConfChangeV2, snapConfState, snapIndex } from '../util.js';

/** A parsed command: name, bare positional words, key=value(s) options and input lines. */
export interface InteractionCommand {
  cmd: string;
  /** Bare words after the command (ids, data). */
  args: string[];
  /** key=val or key=(v1,v2) options. */
  opts: Map<string, string[]>;
  /** Lines between the command and the expected output. */
  input: string;
}

const LEVELS = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'NONE'] as const;

/** A Logger that writes "LEVEL message" lines into the env's output buffer. */
class RedirectLogger implements Logger {
  /** Index into LEVELS; messages below it are dropped. */
  level = 1;
  out: string[] = [];
  private write(lvl: number, msg: string): void {
    if (lvl >= this.level) this.out.push(`${LEVELS[lvl]} ${msg}\n`);
  }
  debug(msg: string): void {
    this.write(0, msg);
  }
  info(msg: string): void {
    this.write(1, msg);
  }
  warn(msg: string): void {
    this.write(2, msg);
  }
  error(msg: string): void {
    this.write(3, msg);
  }
  /** Output of the harness itself, suppressed only at level NONE. */
  print(s: string): void {
    if (this.level < LEVELS.length - 1) this.out.push(s);
  }
}

/** One applied state per committed entry: the state machine content is the concatenated data. */
interface HistoryEntry {
  index: bigint;
  term: bigint;
  confState: raftpb.ConfState;
  data: Buffer;
}

/**
 * The Storage a node reads: MemoryStorage, except that snapshot() returns the node's latest
 * applied state (so a leader can always send a snapshot of what it applied).
 */
class EnvStorage implements Storage {
  constructor(
    readonly mem: MemoryStorage,
    private readonly latest: () => HistoryEntry,
  ) {}
  initialState(): InitialState {
    return this.mem.initialState();
  }
  entries(lo: bigint, hi: bigint, maxSize: bigint): raftpb.Entry[] {
    return this.mem.entries(lo, hi, maxSize);
  }
  term(i: bigint): bigint {
    return this.mem.term(i);
  }
  lastIndex(): bigint {
    return this.mem.lastIndex();
  }
  firstIndex(): bigint {
    return this.mem.firstIndex();
  }
  snapshot(): raftpb.Snapshot {
    const h = this.latest();
    return { data: h.data, metadata: { index: h.index, term: h.term, confState: h.confState } };
  }
}

interface EnvNode {
  id: bigint;
  rn: RawNode;
  storage: EnvStorage;
  config: Config;
  history: HistoryEntry[];
}

const quote = (b: Buffer): string => JSON.stringify(b.toString('latin1'));

export class InteractionEnv {
  readonly nodes: EnvNode[] = [];
  /** Messages emitted by process-ready and not yet delivered. */
  messages: raftpb.Message[] = [];
  /** Node ids on one side of a partition (empty: no partition). */
  private partitioned = new Set<bigint>();
  private readonly log = new RedirectLogger();

  /** Runs one command and returns its output ("ok" if it produced none). */
  handle(c: InteractionCommand): string {
    this.log.out = [];
    let err: unknown;
    try {
      this.dispatch(c);
    } catch (e) {
      err = e;
    }
    if (err !== undefined) {
      if (!(err instanceof Error) || err.name === 'RaftPanic' || err.name === 'TypeError' || err.name === 'RangeError') {
        throw err;
      }
      this.log.out.push(`error: ${err.message}\n`);
    }
    const out = this.log.out.join('');
    return out === '' ? 'ok' : out;
  }

  private dispatch(c: InteractionCommand): void {
    switch (c.cmd) {
      case 'add-nodes':
        return this.addNodes(c);
      case 'campaign':
        return this.node(c.args[0]).rn.campaign();
      case 'propose':
        if (c.args.length !== 2) throw new Error('usage: propose <id> <data>');
        return this.node(c.args[0]).rn.propose(Buffer.from(c.args[1]));
      case 'propose-conf-change':
        return this.proposeConfChange(c);
      case 'deliver-msgs':
        return this.deliverMsgsCmd(c);
      case 'process-ready':
        for (const a of c.args) this.processReady(this.node(a));
        return;
      case 'stabilize':
        return this.stabilize(c.args.map((a) => this.node(a)));
      case 'tick-heartbeat':
        return this.tick(this.node(c.args[0]), this.node(c.args[0]).config.heartbeatTick);
      case 'tick':
        return this.tick(this.node(c.args[0]), Number(c.args[1]));
      case 'tick-election':
        return this.tickElection(this.node(c.args[0]));
      case 'partition':
        this.partitioned = new Set(c.args.map((a) => BigInt(a)));
        return;
      case 'heal':
        this.partitioned = new Set();
        return;
      case 'transfer-leader':
        return this.node(c.args[0]).rn.transferLeader(BigInt(c.args[1]));
      case 'read-index':
        return this.node(c.args[0]).rn.readIndex(Buffer.from(c.args[1]));
      case 'report-unreachable':
        return this.node(c.args[0]).rn.reportUnreachable(BigInt(c.args[1]));
      case 'report-snapshot': {
        const ok = (c.opts.get('status')?.[0] ?? 'finish') === 'finish';
        return this.node(c.args[0]).rn.reportSnapshot(BigInt(c.args[1]), ok ? SnapshotStatus.Finish : SnapshotStatus.Failure);
      }
      case 'raft-log':
        return this.raftLog(this.node(c.args[0]));
      case 'raft-state':
        return this.raftState();
      case 'status':
        return this.status(this.node(c.args[0]));
      case 'compact':
        return this.compact(this.node(c.args[0]), BigInt(c.args[1]));
      case 'restart':
        return this.restart(this.node(c.args[0]));
      case 'log-level': {
        const i = LEVELS.indexOf(c.args[0].toUpperCase() as (typeof LEVELS)[number]);
        if (i < 0) throw new Error(`log levels must be either of ${LEVELS.join(', ')}`);
        this.log.level = i;
        return;
      }
      default:
        throw new Error(`unknown command ${c.cmd}`);
    }
  }

  private node(arg: string | undefined): EnvNode {
    if (arg === undefined) throw new Error('missing node id');
    const n = this.nodes[Number(arg) - 1];
    if (n === undefined) throw new Error(`no node ${arg}`);
    return n;
  }

  /**
   * add-nodes <n> [voters=(1,2,3)] [learners=(4)] [index=2] [content=x] [prevote=true]
   * [checkquorum=true] [lease=true] [max-inflight=n] [max-size=n] [max-committed-size=n]
   * Nodes get the next free ids. With voters, each starts from a snapshot at `index` (> 1) holding
   * that configuration; without, from an empty storage.
   */
  private addNodes(c: InteractionCommand): void {
    const n = Number(c.args[0]);
    const ids = (k: string) => (c.opts.get(k) ?? []).map((v) => BigInt(v));
    const voters = ids('voters');
    const learners = ids('learners');
    const bootstrap = voters.length > 0 || learners.length > 0;
    const index = BigInt(c.opts.get('index')?.[0] ?? '0');
    const content = Buffer.from(c.opts.get('content')?.[0] ?? '');
    const flag = (k: string) => c.opts.get(k)?.[0] === 'true';
    const num = (k: string) => (c.opts.has(k) ? BigInt(c.opts.get(k)![0]) : undefined);
    for (let i = 0; i < n; i++) {
      const id = BigInt(this.nodes.length + 1);
      const mem = new MemoryStorage();
      const cs = { ...emptyConfState(), voters, learners };
      if (bootstrap) {
        if (index <= 1n) throw new Error('index must be specified as > 1 due to bootstrap');
        mem.applySnapshot({ data: content, metadata: { index, term: 1n, confState: cs } });
      }
      const history: HistoryEntry[] = [{ index, term: bootstrap ? 1n : 0n, confState: cs, data: content }];
      const storage = new EnvStorage(mem, () => history[history.length - 1]);
      const config: Config = {
        id,
        applied: index,
        electionTick: 3,
        heartbeatTick: 1,
        storage,
        maxInflightMsgs: c.opts.has('max-inflight') ? Number(c.opts.get('max-inflight')![0]) : 256,
        maxSizePerMsg: num('max-size'),
        maxCommittedSizePerReady: num('max-committed-size'),
        preVote: flag('prevote'),
        stepDownOnRemoval: flag('step-down-on-removal'),
        checkQuorum: flag('checkquorum') || flag('lease'),
        readOnlyOption: flag('lease') ? ReadOnlyOption.LeaseBased : ReadOnlyOption.Safe,
        random: seededRandom(id),
        logger: this.log,
      };
      this.nodes.push({ id, rn: new RawNode(config), storage, config, history });
    }
  }

  private proposeConfChange(c: InteractionCommand): void {
    const node = this.node(c.args[0]);
    const v1 = c.opts.get('v1')?.[0] === 'true';
    const T = raftpb.ConfChangeTransition;
    const tr = c.opts.get('transition')?.[0] ?? 'auto';
    const transition =
      tr === 'auto'
        ? T.ConfChangeTransitionAuto
        : tr === 'implicit'
          ? T.ConfChangeTransitionJointImplicit
          : tr === 'explicit'
            ? T.ConfChangeTransitionJointExplicit
            : undefined;
    if (transition === undefined) throw new Error(`unknown transition ${tr}`);
    const ccs = confChangesFromString(c.input);
    if (v1) {
      if (ccs.length !== 1 || transition !== T.ConfChangeTransitionAuto) {
        throw new Error('v1 conf change can only have one operation and no transition');
      }
      node.rn.proposeConfChange({ type: ccs[0].type, nodeId: ccs[0].nodeId, context: Buffer.alloc(0), id: 0n });
    } else {
      node.rn.proposeConfChange({ transition, changes: ccs, context: Buffer.alloc(0) });
    }
  }

  /** deliver-msgs <id>... [drop=(ids)] */
  private deliverMsgsCmd(c: InteractionCommand): void {
    const rs = [
      ...c.args.map((a) => ({ id: BigInt(a), drop: false })),
      ...(c.opts.get('drop') ?? []).map((a) => ({ id: BigInt(a), drop: true })),
    ];
    if (this.deliverMsgs(rs) === 0) this.log.print('no messages\n');
  }

  /** Whether a message crosses the current partition. */
  private cut(m: raftpb.Message): boolean {
    return this.partitioned.size > 0 && this.partitioned.has(m.from) !== this.partitioned.has(m.to);
  }

  private deliverMsgs(rs: { id: bigint; drop: boolean }[]): number {
    let n = 0;
    for (const r of rs) {
      const msgs = this.messages.filter((m) => m.to === r.id);
      this.messages = this.messages.filter((m) => m.to !== r.id);
      n += msgs.length;
      for (const m of msgs) {
        const drop = r.drop || this.cut(m);
        this.log.print(`${drop ? 'dropped: ' : ''}${describeMessage(m, quote)}\n`);
        if (drop) continue;
        try {
          this.node(m.to.toString()).rn.step(m);
        } catch (e) {
          if (!(e instanceof RaftError)) throw e;
          this.log.print(`error: ${e.message}\n`);
        }
      }
    }
    return n;
  }

  /**
   * Handles one Ready like an application: persist hard state, entries and snapshot, apply
   * committed entries (conf changes through applyConfChange), queue messages, advance.
   */
  private processReady(node: EnvNode): void {
    const rd = node.rn.ready();
    const desc = describeReady(rd, quote);
    this.log.print(desc.endsWith('\n') ? desc : desc + '\n');
    const mem = node.storage.mem;
    if (rd.hardState !== undefined) mem.setHardState(rd.hardState);
    mem.append(rd.entries);
    if (rd.snapshot !== undefined) {
      mem.applySnapshot(rd.snapshot);
      node.history.push({
        index: snapIndex(rd.snapshot),
        term: rd.snapshot.metadata?.term ?? 0n,
        confState: snapConfState(rd.snapshot),
        data: rd.snapshot.data,
      });
    }
    for (const e of rd.committedEntries) {
      const last = node.history[node.history.length - 1];
      let confState = last.confState;
      let update = e.Data;
      const cc = entryConfChangeV2(e);
      if (cc !== undefined) {
        confState = node.rn.applyConfChange(cc);
        update = cc.context;
      }
      node.history.push({ index: e.Index, term: e.Term, confState, data: Buffer.concat([last.data, update]) });
    }
    this.messages.push(...rd.messages);
    node.rn.advance(rd);
  }

  /** Processes Readies and delivers messages among `nodes` (all if empty) until nothing is left. */
  private stabilize(nodes: EnvNode[]): void {
    const set = nodes.length > 0 ? nodes : this.nodes;
    const indented = (f: () => void) => {
      const saved = this.log.out;
      this.log.out = [];
      f();
      const text = this.log.out.join('');
      this.log.out = saved;
      for (const line of text.split('\n').slice(0, -1)) this.log.out.push(`  ${line}\n`);
    };
    for (let round = 0; round < 1000; round++) {
      let done = true;
      for (const n of set) {
        if (n.rn.hasReady()) {
          done = false;
          this.log.print(`> ${n.id} handling Ready\n`);
          indented(() => this.processReady(n));
        }
      }
      for (const n of set) {
        if (this.messages.some((m) => m.to === n.id)) {
          done = false;
          this.log.print(`> ${n.id} receiving messages\n`);
          indented(() => this.deliverMsgs([{ id: n.id, drop: false }]));
        }
      }
      if (done) return;
    }
    throw new Error('stabilize did not converge');
  }

  private tick(node: EnvNode, n: number): void {
    for (let i = 0; i < n; i++) node.rn.tick();
  }

  /**
   * Ticks until the node's election timer fires: its randomized timeout for a follower or
   * candidate, one election timeout for a leader (check quorum, transfer abort).
   */
  private tickElection(node: EnvNode): void {
    const r = node.rn.raft;
    const target = r.state === RaftState.Leader ? r.electionTimeout : r.randomizedElectionTimeout;
    this.tick(node, Math.max(1, target - r.electionElapsed));
  }

  private raftLog(node: EnvNode): void {
    const mem = node.storage.mem;
    const fi = mem.firstIndex();
    const li = mem.lastIndex();
    if (li < fi) {
      this.log.print(`log is empty: first index=${fi}, last index=${li}\n`);
      return;
    }
    this.log.print(describeEntries(mem.entries(fi, li + 1n, 0xffff_ffff_ffff_ffffn), quote));
  }

  /** One line per node: id, role, term, leader, commit, applied. */
  private raftState(): void {
    for (const n of this.nodes) {
      const st = n.rn.basicStatus();
      const role = ['Follower', 'Candidate', 'Leader', 'PreCandidate'][st.softState.raftState];
      this.log.print(
        `${n.id}: ${role} term=${st.hardState.term} lead=${st.softState.lead} commit=${st.hardState.commit} applied=${st.applied}\n`,
      );
    }
  }

  private status(node: EnvNode): void {
    const st = node.rn.status();
    this.log.print(`${st.config.toString()}\n`);
    if (st.progress.size > 0) this.log.print(progressMapString(st.progress));
  }

  /** Compacts the node's storage so that newFirstIndex becomes its first index, then prints the log. */
  private compact(node: EnvNode, newFirstIndex: bigint): void {
    node.storage.mem.compact(newFirstIndex);
    this.raftLog(node);
  }

  /** Recreates the node from its storage (as after a crash), keeping what it had applied. */
  private restart(node: EnvNode): void {
    const applied = node.history[node.history.length - 1].index;
    node.config = { ...node.config, applied };
    node.rn = new RawNode(node.config);
  }
}

/** Parses a datadriven directive into an InteractionCommand. */
export function toInteractionCommand(d: { cmd: string; cmdArgs: { key: string; vals: string[] }[]; input: string }): InteractionCommand {
  const args: string[] = [];
  const opts = new Map<string, string[]>();
  for (const a of d.cmdArgs) {
    if (a.vals.length === 0) args.push(a.key);
    else
      opts.set(
        a.key,
        a.vals.flatMap((v) => v.split(/[\s,]+/).filter((x) => x !== '')),
      );
  }
  return { cmd: d.cmd, args, opts, input: d.input };
}

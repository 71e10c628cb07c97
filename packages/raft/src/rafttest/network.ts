// An in-process, synchronous network of raft state machines for tests: messages are delivered
// depth-first until none are left, with per-link drop rates, ignored message types and a hook.
// Deterministic: drop decisions come from a seeded random source.

import { raftpb } from '@kv/api';
import { ErrProposalDropped } from '../errors.js';
import { Raft, type Config } from '../raft.js';
import { seededRandom, type RandomSource } from '../rand.js';
import { MemoryStorage } from '../storage.js';
import { newEntry } from '../util.js';

/** Anything that can sit on the network. */
export interface StateMachine {
  step(m: raftpb.Message): void;
  readMessages(): raftpb.Message[];
}

/** Wraps a Raft as a StateMachine (dropped proposals are ignored, as on a real network). */
export class RaftPeer implements StateMachine {
  constructor(readonly raft: Raft) {}
  step(m: raftpb.Message): void {
    try {
      this.raft.step(m);
    } catch (err) {
      if (err !== ErrProposalDropped) throw err;
    }
  }
  readMessages(): raftpb.Message[] {
    const msgs = this.raft.msgs;
    this.raft.msgs = [];
    return msgs;
  }
}

/** Swallows everything (a crashed or partitioned-away node). */
export class BlackHole implements StateMachine {
  step(): void {}
  readMessages(): raftpb.Message[] {
    return [];
  }
}

/** Builds the raft for `id` given all peer ids (so that it can carry the right configuration). */
export type PeerFactory = (id: bigint, peers: bigint[]) => Raft;

export function idsBySize(n: number): bigint[] {
  return Array.from({ length: n }, (_, i) => BigInt(i + 1));
}

/** Test config: heartbeat/election in ticks, unlimited message size, 256 in flight. */
export function newTestConfig(
  id: bigint,
  peers: bigint[],
  election: number,
  heartbeat: number,
  storage: MemoryStorage,
  extra: Partial<Config> = {},
): Config {
  return {
    id,
    peers,
    electionTick: election,
    heartbeatTick: heartbeat,
    storage,
    maxInflightMsgs: 256,
    ...extra,
  };
}

export function newTestRaft(
  id: bigint,
  peers: bigint[],
  election: number,
  heartbeat: number,
  storage: MemoryStorage,
  extra: Partial<Config> = {},
): Raft {
  return new Raft(newTestConfig(id, peers, election, heartbeat, storage, extra));
}

export function newTestLearnerRaft(
  id: bigint,
  peers: bigint[],
  learners: bigint[],
  election: number,
  heartbeat: number,
  storage: MemoryStorage,
  extra: Partial<Config> = {},
): Raft {
  return new Raft(newTestConfig(id, peers, election, heartbeat, storage, { ...extra, learners }));
}

/** A peer whose log holds one entry per given term (index i+1 has terms[i]), at the last term. */
export function entsWithConfig(extra: Partial<Config>, ...terms: number[]): PeerFactory {
  return (id, peers) => {
    const storage = new MemoryStorage();
    terms.forEach((t, i) => {
      storage.append([newEntry({ Index: BigInt(i + 1), Term: BigInt(t) })]);
    });
    const r = newTestRaft(id, peers, 5, 1, storage, extra);
    r.reset(BigInt(terms[terms.length - 1]));
    return r;
  };
}

/** A peer with an empty log that voted for `vote` in `term`. */
export function votedWithConfig(extra: Partial<Config>, vote: bigint, term: bigint): PeerFactory {
  return (id, peers) => {
    const storage = new MemoryStorage();
    storage.setHardState({ vote, term, commit: 0n });
    const r = newTestRaft(id, peers, 5, 1, storage, extra);
    r.reset(term);
    return r;
  };
}

/** One slot of newNetwork: a fresh default raft (null), a factory, or a black hole. */
export type PeerSpec = null | PeerFactory | BlackHole;

export class Network {
  readonly peers = new Map<bigint, StateMachine>();
  readonly storage = new Map<bigint, MemoryStorage>();
  private dropm = new Map<string, number>();
  private ignorem = new Set<raftpb.MessageType>();
  /** Return false to drop a message. */
  msgHook: ((m: raftpb.Message) => boolean) | undefined;
  private readonly rand: RandomSource;

  /**
   * Peers get ids 1..n. null slots become fresh rafts (election 10, heartbeat 1) with `extra`
   * config applied.
   */
  constructor(specs: PeerSpec[], extra: Partial<Config> = {}, seed = 1) {
    this.rand = seededRandom(seed);
    const ids = idsBySize(specs.length);
    specs.forEach((spec, j) => {
      const id = ids[j];
      if (spec === null) {
        const st = new MemoryStorage();
        this.storage.set(id, st);
        this.peers.set(id, new RaftPeer(newTestRaft(id, ids, 10, 1, st, extra)));
      } else if (spec instanceof BlackHole) {
        this.peers.set(id, spec);
      } else {
        this.peers.set(id, new RaftPeer(spec(id, ids)));
      }
    });
  }

  /** The raft with this id (throws for black holes). */
  raft(id: bigint | number): Raft {
    const p = this.peers.get(BigInt(id));
    if (!(p instanceof RaftPeer)) throw new Error(`peer ${id} is not a raft`);
    return p.raft;
  }

  /** Delivers the messages and everything they cause, until quiet. */
  send(...msgs: raftpb.Message[]): void {
    const queue = [...msgs];
    while (queue.length > 0) {
      const m = queue.shift()!;
      const p = this.peers.get(m.to);
      if (p === undefined) continue;
      p.step(m);
      queue.push(...this.filter(p.readMessages()));
    }
  }

  private key(from: bigint, to: bigint): string {
    return `${from}->${to}`;
  }

  /** Drops messages from→to with probability perc (>= 1 always). */
  drop(from: bigint, to: bigint, perc: number): void {
    this.dropm.set(this.key(from, to), perc);
  }

  cut(one: bigint, other: bigint): void {
    this.drop(one, other, 2);
    this.drop(other, one, 2);
  }

  isolate(id: bigint): void {
    for (let i = 1; i <= this.peers.size; i++) {
      const nid = BigInt(i);
      if (nid !== id) {
        this.drop(id, nid, 1);
        this.drop(nid, id, 1);
      }
    }
  }

  ignore(t: raftpb.MessageType): void {
    this.ignorem.add(t);
  }

  recover(): void {
    this.dropm = new Map();
    this.ignorem = new Set();
  }

  filter(msgs: raftpb.Message[]): raftpb.Message[] {
    const out: raftpb.Message[] = [];
    for (const m of msgs) {
      if (this.ignorem.has(m.type)) continue;
      if (m.type === raftpb.MessageType.MsgHup) throw new Error('unexpected msgHup');
      const perc = this.dropm.get(this.key(m.from, m.to)) ?? 0;
      if (perc > 0 && (perc >= 1 || this.rand(1_000_000) / 1_000_000 < perc)) continue;
      if (this.msgHook !== undefined && !this.msgHook(m)) continue;
      out.push(m);
    }
    return out;
  }
}

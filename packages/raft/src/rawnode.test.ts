// RawNode: the Ready / advance contract, bootstrap and restart, conf-change proposal and
// application, read index, status, and a small cluster driven entirely through Ready.

import { describe, expect, it } from 'vitest';
import { raftpb } from '@kv/api';
import { ErrProposalDropped, ErrStepLocalMsg, ErrStepPeerNotFound } from './errors.js';
import { RawNode, SnapshotStatus, readyContainsUpdates, type Ready } from './rawnode.js';
import { MemoryStorage } from './storage.js';
import { RaftState } from './state.js';
import { statusToJSON } from './status.js';
import { emptyConfState, entryConfChangeV2, entrySize, newEntry, newMessage } from './util.js';
import { seededRandom } from './rand.js';
import type { Config } from './raft.js';
import { StateType as PS } from './tracker/index.js';

const MT = raftpb.MessageType;
const CT = raftpb.ConfChangeType;

function cfg(id: bigint, storage: MemoryStorage, extra: Partial<Config> = {}): Config {
  return { id, electionTick: 10, heartbeatTick: 1, storage, maxInflightMsgs: 256, ...extra };
}

/** A storage whose snapshot (index 1, term 0) carries the initial configuration. */
function bootstrappedStorage(voters: bigint[], learners: bigint[] = []): MemoryStorage {
  const s = new MemoryStorage();
  s.applySnapshot({ data: Buffer.alloc(0), metadata: { index: 1n, term: 0n, confState: { ...emptyConfState(), voters, learners } } });
  return s;
}

/** Persists a Ready into storage like an application would (before sending its messages). */
function persist(s: MemoryStorage, rd: Ready): void {
  if (rd.snapshot !== undefined) s.applySnapshot(rd.snapshot);
  if (rd.hardState !== undefined) s.setHardState(rd.hardState);
  s.append(rd.entries);
}

describe('RawNode', () => {
  it('start from a bootstrapped storage: campaign, propose, one Ready with everything', () => {
    const s = bootstrappedStorage([1n]);
    const rn = new RawNode(cfg(1n, s));
    expect(rn.hasReady()).toBe(false);
    rn.campaign();
    rn.propose(Buffer.from('foo'));
    expect(rn.hasReady()).toBe(true);
    const rd = rn.ready();
    persist(s, rd);
    rn.advance(rd);
    expect(rd.softState).toEqual({ lead: 1n, raftState: RaftState.Leader });
    expect(rd.hardState).toEqual({ term: 1n, commit: 3n, vote: 1n });
    const want = [newEntry({ Term: 1n, Index: 2n }), newEntry({ Term: 1n, Index: 3n, Data: Buffer.from('foo') })];
    expect(rd.entries).toEqual(want);
    expect(rd.committedEntries).toEqual(want);
    expect(rd.messages).toEqual([]);
    expect(rd.mustSync).toBe(true);
    expect(rn.hasReady()).toBe(false);
  });

  it('bootstrap(peers) appends committed conf changes to apply, with a HardState to persist', () => {
    const s = new MemoryStorage();
    const rn = new RawNode(cfg(1n, s));
    rn.bootstrap([{ id: 1n }, { id: 2n }]);
    expect(rn.raft.prs.voterNodes()).toEqual([1n, 2n]);
    const rd = rn.ready();
    expect(rd.hardState).toEqual({ term: 1n, vote: 0n, commit: 2n });
    expect(rd.entries.map((e) => e.Type)).toEqual([raftpb.EntryType.EntryConfChange, raftpb.EntryType.EntryConfChange]);
    expect(rd.committedEntries.length).toBe(2);
    expect(rd.mustSync).toBe(true);
    persist(s, rd);
    for (const e of rd.committedEntries) rn.applyConfChange(entryConfChangeV2(e)!);
    rn.advance(rd);
    expect(rn.hasReady()).toBe(false);
    expect(() => new RawNode(cfg(1n, s)).bootstrap([{ id: 1n }])).toThrow(/nonempty Storage/);
    expect(() => new RawNode(cfg(1n, new MemoryStorage())).bootstrap([])).toThrow(/at least one peer/);
  });

  it('restart: committed entries are handed out again, the unchanged HardState is not', () => {
    const entries = [newEntry({ Term: 1n, Index: 1n }), newEntry({ Term: 1n, Index: 2n, Data: Buffer.from('foo') })];
    const s = new MemoryStorage();
    s.setHardState({ term: 1n, commit: 1n, vote: 0n });
    s.append(entries);
    const rn = new RawNode(cfg(1n, s, { peers: [1n] }));
    const rd = rn.ready();
    expect(rd.hardState).toBeUndefined();
    expect(rd.committedEntries).toEqual(entries.slice(0, 1));
    expect(rd.entries).toEqual([]);
    expect(rd.mustSync).toBe(false);
    rn.advance(rd);
    expect(rn.hasReady()).toBe(false);
  });

  it('restart from a snapshot: entries after it are replayed; config.applied skips applied ones', () => {
    const st = new MemoryStorage();
    st.applySnapshot({ data: Buffer.alloc(0), metadata: { index: 2n, term: 1n, confState: { ...emptyConfState(), voters: [1n, 2n] } } });
    st.append([newEntry({ Term: 1n, Index: 3n, Data: Buffer.from('foo') }), newEntry({ Term: 1n, Index: 4n, Data: Buffer.from('bar') })]);
    st.setHardState({ term: 1n, commit: 4n, vote: 0n });
    const rn = new RawNode(cfg(1n, st));
    expect(rn.ready().committedEntries.map((e) => e.Data.toString())).toEqual(['foo', 'bar']);
    const rn2 = new RawNode(cfg(1n, st, { applied: 3n }));
    expect(rn2.ready().committedEntries.map((e) => e.Data.toString())).toEqual(['bar']);
  });

  it('step refuses local message types and responses from unknown peers', () => {
    const rn = new RawNode(cfg(1n, bootstrappedStorage([1n])));
    for (const t of [MT.MsgHup, MT.MsgBeat, MT.MsgUnreachable, MT.MsgSnapStatus, MT.MsgCheckQuorum]) {
      expect(() => rn.step(newMessage({ type: t, from: 1n }))).toThrow(ErrStepLocalMsg);
    }
    expect(() => rn.step(newMessage({ type: MT.MsgAppResp, from: 9n, term: 1n }))).toThrow(ErrStepPeerNotFound);
    // A request from an unknown node is fine (e.g. a vote request from a newly added member).
    rn.step(newMessage({ type: MT.MsgVote, from: 9n, term: 1n }));
  });

  it('propose without a leader throws ErrProposalDropped', () => {
    const rn = new RawNode(cfg(1n, bootstrappedStorage([1n, 2n, 3n])));
    expect(() => rn.propose(Buffer.from('x'))).toThrow(ErrProposalDropped);
  });

  it('proposeConfChange (V1 and V2) and applyConfChange on a single node, with auto-leave', () => {
    const s = bootstrappedStorage([1n]);
    const rn = new RawNode(cfg(1n, s));
    rn.campaign();
    const drain = () => {
      const applied: raftpb.ConfState[] = [];
      for (let i = 0; i < 10 && rn.hasReady(); i++) {
        const rd = rn.ready();
        persist(s, rd);
        for (const e of rd.committedEntries) {
          const cc = entryConfChangeV2(e);
          if (cc !== undefined) applied.push(rn.applyConfChange(cc));
        }
        rn.advance(rd);
      }
      return applied;
    };
    drain();
    rn.proposeConfChange({ type: CT.ConfChangeAddLearnerNode, nodeId: 2n, context: Buffer.from('ctx'), id: 0n });
    let cs = drain();
    expect(cs[cs.length - 1].learners).toEqual([2n]);
    // V2 with two changes: joint with auto-leave; draining applies the entry and the automatic
    // leave entry.
    rn.proposeConfChange({
      transition: raftpb.ConfChangeTransition.ConfChangeTransitionAuto,
      changes: [
        { type: CT.ConfChangeAddLearnerNode, nodeId: 3n },
        { type: CT.ConfChangeAddLearnerNode, nodeId: 4n },
      ],
      context: Buffer.alloc(0),
    });
    cs = drain();
    expect(cs.length).toBe(2);
    expect(cs[0]).toEqual({ voters: [1n], votersOutgoing: [1n], learners: [2n, 3n, 4n], learnersNext: [], autoLeave: true });
    expect(cs[1]).toEqual({ voters: [1n], votersOutgoing: [], learners: [2n, 3n, 4n], learnersNext: [], autoLeave: false });
  });

  it('readIndex on a single-voter leader answers in the next Ready', () => {
    const s = bootstrappedStorage([1n]);
    const rn = new RawNode(cfg(1n, s));
    rn.campaign();
    let rd = rn.ready();
    persist(s, rd);
    rn.advance(rd);
    rn.readIndex(Buffer.from('rctx'));
    expect(rn.hasReady()).toBe(true);
    rd = rn.ready();
    expect(rd.readStates).toEqual([{ index: 2n, requestCtx: Buffer.from('rctx') }]);
    rn.advance(rd);
    expect(rn.hasReady()).toBe(false);
  });

  it('status reports progress only on the leader', () => {
    const s = bootstrappedStorage([1n]);
    const rn = new RawNode(cfg(1n, s));
    let st = rn.status();
    expect(st.progress.size).toBe(0);
    expect(st.softState.raftState).toBe(RaftState.Follower);
    rn.campaign();
    st = rn.status();
    expect(st.softState).toEqual({ lead: 1n, raftState: RaftState.Leader });
    expect(st.progress.get(1n)!.state).toBe(PS.StateReplicate);
    expect(st.config.toString()).toBe('voters=(1)');
    expect(JSON.parse(statusToJSON(st))).toMatchObject({ id: '1', raftState: 'StateLeader', lead: '1' });
    expect(rn.basicStatus().hardState.term).toBe(1n);
    const seen: bigint[] = [];
    rn.withProgress((id) => seen.push(id));
    expect(seen).toEqual([1n]);
  });

  it('committed entries are paginated by maxCommittedSizePerReady', () => {
    const s = bootstrappedStorage([1n]);
    const data = Buffer.alloc(100, 'a');
    const e = newEntry({ Term: 1n, Index: 2n, Data: data });
    const rn = new RawNode(cfg(1n, s, { maxCommittedSizePerReady: BigInt(entrySize(e) * 2) }));
    rn.campaign();
    for (let i = 0; i < 5; i++) rn.propose(data);
    const sizes: number[] = [];
    for (let i = 0; i < 10 && rn.hasReady(); i++) {
      const rd = rn.ready();
      persist(s, rd);
      sizes.push(rd.committedEntries.length);
      rn.advance(rd);
    }
    // 6 committed entries (the empty one and 5 proposals), at most two per Ready.
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(6);
    expect(Math.max(...sizes)).toBeLessThanOrEqual(2);
  });

  it('reportUnreachable and reportSnapshot feed the leader progress', () => {
    const s = bootstrappedStorage([1n, 2n]);
    const rn = new RawNode(cfg(1n, s));
    rn.raft.becomeCandidate();
    rn.raft.becomeLeader();
    const pr = rn.raft.prs.progress.get(2n)!;
    pr.becomeReplicate();
    rn.reportUnreachable(2n);
    expect(pr.state).toBe(PS.StateProbe);
    pr.becomeSnapshot(5n);
    rn.reportSnapshot(2n, SnapshotStatus.Failure);
    expect([pr.state, pr.pendingSnapshot, pr.probeSent]).toEqual([PS.StateProbe, 0n, true]);
  });

  it('mustSync is false when only the commit index changed', () => {
    const s = bootstrappedStorage([1n, 2n]);
    const rn = new RawNode(cfg(2n, s));
    rn.step(
      newMessage({ type: MT.MsgApp, from: 1n, to: 2n, term: 1n, index: 1n, logTerm: 0n, entries: [newEntry({ Term: 1n, Index: 2n })] }),
    );
    let rd = rn.ready();
    expect(rd.mustSync).toBe(true); // term and entries
    persist(s, rd);
    rn.advance(rd);
    rn.step(newMessage({ type: MT.MsgHeartbeat, from: 1n, to: 2n, term: 1n, commit: 2n }));
    rd = rn.ready();
    expect(rd.hardState).toEqual({ term: 1n, vote: 0n, commit: 2n });
    expect(rd.mustSync).toBe(false);
    expect(readyContainsUpdates(rd)).toBe(true);
  });

  it('a snapshot arriving while committed entries are being applied is refused until advance', () => {
    // Regression (simulation with asynchronous Ready handling, seed 636, 3 nodes): a restarted
    // follower was handed committed entries including a leave-joint conf change, installed a
    // newer snapshot from a message stepped meanwhile, and then applied the stale change on top of
    // the snapshot's (non-joint) configuration: ConfChangeError.
    const s = bootstrappedStorage([1n, 2n]);
    const rn = new RawNode(cfg(2n, s));
    const add3: raftpb.ConfChange = { type: CT.ConfChangeAddNode, nodeId: 3n, context: Buffer.alloc(0), id: 0n };
    const ccData = Buffer.from(raftpb.ConfChange.encode(add3).finish());
    const ents = [newEntry({ Index: 2n, Term: 1n, Type: raftpb.EntryType.EntryConfChange, Data: ccData })];
    rn.step(newMessage({ type: MT.MsgApp, from: 1n, to: 2n, term: 1n, index: 1n, logTerm: 0n, entries: ents, commit: 2n }));
    const rd = rn.ready();
    expect(rd.committedEntries.map((e) => e.Index)).toEqual([2n]);
    persist(s, rd);

    // Before the application applied entry 2, a snapshot at 10 (which already includes node 3).
    const snap: raftpb.Snapshot = {
      data: Buffer.alloc(0),
      metadata: { index: 10n, term: 1n, confState: { ...emptyConfState(), voters: [1n, 2n, 3n] } },
    };
    const msnap = newMessage({ type: MT.MsgSnap, from: 1n, to: 2n, term: 1n, snapshot: snap });
    rn.step(msnap);
    expect(rn.raft.raftLog.committed).toBe(2n); // refused

    // The application applies the conf change on the configuration it was made for, and advances.
    expect(rn.applyConfChange(add3).voters).toEqual([1n, 2n, 3n]);
    rn.advance(rd);
    rn.ready(); // the refusal's MsgAppResp

    // Now the snapshot is installed.
    rn.step(msnap);
    expect(rn.raft.raftLog.committed).toBe(10n);
    const rd2 = rn.ready();
    expect(rd2.snapshot?.metadata?.index).toBe(10n);
  });

  it('transferLeader on a single voter is a no-op', () => {
    const rn = new RawNode(cfg(1n, bootstrappedStorage([1n])));
    rn.campaign();
    rn.transferLeader(1n);
    expect(rn.isLeader()).toBe(true);
  });
});

describe('a cluster driven only through Ready/advance', () => {
  /** Nodes with their storages, applied data, and an in-flight message queue. */
  function runCluster(seed: number, rounds: number) {
    const ids = [1n, 2n, 3n];
    const rand = seededRandom(seed);
    const nodes = new Map<bigint, { rn: RawNode; s: MemoryStorage; applied: string[] }>();
    for (const id of ids) {
      const s = bootstrappedStorage(ids);
      nodes.set(id, {
        rn: new RawNode(cfg(id, s, { random: seededRandom(seed * 31 + Number(id)), preVote: true, checkQuorum: true })),
        s,
        applied: [],
      });
    }
    let inflight: raftpb.Message[] = [];
    let proposed = 0;
    for (let round = 0; round < rounds; round++) {
      for (const { rn } of nodes.values()) rn.tick();
      // Occasionally propose through a random node (followers forward to the leader).
      if (rand(3) === 0) {
        const n = nodes.get(ids[rand(3)])!;
        try {
          n.rn.propose(Buffer.from(`v${proposed}`));
          proposed++;
        } catch (err) {
          if (err !== ErrProposalDropped) throw err;
        }
      }
      // Deliver messages in a shuffled order, dropping ~5%.
      const batch = inflight;
      inflight = [];
      for (let i = batch.length - 1; i > 0; i--) {
        const j = rand(i + 1);
        [batch[i], batch[j]] = [batch[j], batch[i]];
      }
      for (const m of batch) {
        if (rand(20) === 0) continue;
        try {
          nodes.get(m.to)!.rn.step(m);
        } catch (err) {
          if (err !== ErrProposalDropped && err !== ErrStepPeerNotFound) throw err;
        }
      }
      for (const n of nodes.values()) {
        if (!n.rn.hasReady()) continue;
        const rd = n.rn.ready();
        persist(n.s, rd);
        inflight.push(...rd.messages);
        for (const e of rd.committedEntries) if (e.Data.length > 0) n.applied.push(e.Data.toString());
        n.rn.advance(rd);
      }
    }
    return nodes;
  }

  for (const seed of [1, 2, 3]) {
    it(`elects a leader and applies the same sequence everywhere (seed ${seed})`, () => {
      const nodes = runCluster(seed, 400);
      const leaders = [...nodes.values()].filter((n) => n.rn.isLeader());
      expect(leaders.length).toBe(1);
      const logs = [...nodes.values()].map((n) => n.applied);
      // Applied sequences are prefixes of one another (State Machine Safety).
      const longest = logs.reduce((a, b) => (a.length >= b.length ? a : b));
      for (const l of logs) expect(longest.slice(0, l.length)).toEqual(l);
      expect(longest.length).toBeGreaterThan(10);
    });
  }

  it('is deterministic for a given seed', () => {
    const a = runCluster(7, 200);
    const b = runCluster(7, 200);
    for (const id of [1n, 2n, 3n]) {
      expect(a.get(id)!.applied).toEqual(b.get(id)!.applied);
      expect(a.get(id)!.rn.basicStatus()).toEqual(b.get(id)!.rn.basicStatus());
    }
  });
});

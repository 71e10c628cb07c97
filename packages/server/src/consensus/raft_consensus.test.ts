// RaftConsensus on a manual clock with a real WAL and backend in a temp dir: a cluster of one
// answers proposals with their applied result and passes read barriers; a member of two that
// hears nothing from its peer gives up after two election timeouts, as etcd does (no leader).
import { etcdserverpb, raftpb } from '@kv/api';
import { MemoryStorage } from '@kv/raft';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Applier } from '../apply/applier.js';
import { applyGroup } from '../apply/apply_group.js';
import { openState, type StateParts } from '../apply/state.js';
import { encodeMember } from '../cluster/membership.js';
import { resolveConfig } from '../config.js';
import { RpcError } from '../errors.js';
import { silentLogger } from '../logger.js';
import { ManualClock, settle } from '../testutil/manual_clock.js';
import { seededWorldRandom } from '../testutil/random.js';
import { dataDirDisk } from '../world/disk.js';
import { RaftConsensus, type MessageSender, type StateMachine } from './raft_consensus.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kv-consensus-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const heartbeatMs = 100;
const electionTicks = 10;
const requestTimeoutMs = 3000;

/** The member's real apply path over a backend in the temp dir. */
function machineOver(s: StateParts): StateMachine {
  const applier = new Applier({
    store: s.store,
    lessor: s.lessor,
    alarms: s.alarms,
    membership: s.membership,
    auth: s.auth,
    header: (revision) => ({ clusterId: 1n, memberId: 1n, revision, raftTerm: 0n }),
  });
  return {
    appliedIndex: () => s.store.consistentIndex(),
    applyEntries: (entries) => applyGroup({ backend: s.backend, store: s.store, applier, sync: false }, entries),
    applyConfChange: async (index, cc) => {
      await applyGroup(
        {
          backend: s.backend,
          store: s.store,
          applier,
          sync: false,
          extra: (tx) => s.membership.applyConfChange(cc, { put: (b, k, v) => tx.put(b, k, v), del: (b, k) => tx.del(b, k) }),
        },
        [{ index }],
      );
    },
    persistApplied: () => s.backend.sync(),
    snapshotData: () => s.backend.snapshotStream(),
    installSnapshot: async () => {
      throw new Error('no snapshot is sent to a member of this test');
    },
    onLeaderChange: () => undefined,
    onRemoved: () => undefined,
  };
}

/** A network that loses everything, and remembers what it was given. */
class LossyNetwork implements MessageSender {
  readonly sent: raftpb.Message[] = [];
  send(msgs: raftpb.Message[]): void {
    this.sent.push(...msgs);
  }
  sendSnapshot(msg: raftpb.Message): void {
    this.sent.push(msg);
  }
}

async function open(ids: bigint[], logger = silentLogger()) {
  const clock = new ManualClock();
  const disk = dataDirDisk(dir);
  const { lock } = disk.lock();
  const config = resolveConfig({ name: 't', dataDir: dir });
  const state = await openState(disk, config, clock, silentLogger());
  const wal = await disk.createWal(etcdserverpb.Metadata.encode({ NodeID: ids[0], ClusterID: 9n }).finish(), { unsafeNoSync: true });
  const snapshots = await disk.openSnapshots({ onWarning: () => undefined });
  const network = new LossyNetwork();
  const fatal: unknown[] = [];
  const consensus = new RaftConsensus({
    memberId: ids[0],
    wal,
    snapshots,
    storage: new MemoryStorage(),
    confState: raftpb.ConfState.fromPartial({}),
    snapshotIndex: 0n,
    bootstrapPeers: ids.map((id) => ({
      id,
      context: encodeMember({ id, name: `m${id}`, peerURLs: [`http://127.0.0.1:${2380 + Number(id)}`], clientURLs: [], isLearner: false }),
    })),
    heartbeatMs,
    electionTicks,
    snapshotCount: 10_000,
    snapshotCatchUpEntries: 5000,
    maxRequestBytes: 1024 * 1024,
    requestTimeoutMs,
    logger,
    machine: machineOver(state),
    sender: network,
    onFatal: (err) => fatal.push(err),
    clock,
    random: seededWorldRandom(7),
  });
  const close = async () => {
    await consensus.stop();
    await state.backend.close();
    lock.release();
  };
  return { clock, consensus, state, network, fatal, close };
}

/** Lets the Ready loop's real I/O (WAL, backend) finish: bounded (about 20 s), never on the manual clock. */
async function until(what: string, cond: () => boolean): Promise<void> {
  for (let i = 0; i < 2000 && !cond(); i++) await new Promise((r) => setTimeout(r, 10));
  if (!cond()) throw new Error(`${what}: not reached`);
}

const put = (id: bigint, key: string) =>
  etcdserverpb.InternalRaftRequest.fromPartial({
    header: { ID: id },
    put: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from('v') }),
  });

describe('RaftConsensus', () => {
  it('a cluster of one elects itself on its clock, answers a proposal with its applied result and passes read barriers', async () => {
    const c = await open([1n]);
    await c.consensus.start();
    // A brand-new member first applies its bootstrap conf change (raft refuses to campaign with
    // one pending), then campaigns at once: no clock needed.
    await until('leader', () => c.consensus.isLeader());
    expect(c.clock.now()).toBe(0);
    const r = await c.consensus.propose(put(11n, 'a'));
    expect(r.err).toBeUndefined();
    expect((r.resp as etcdserverpb.PutResponse).header?.revision).toBe(2n);
    const r2 = await c.consensus.propose(put(12n, 'b'));
    expect((r2.resp as etcdserverpb.PutResponse).header?.revision).toBe(3n);
    await c.consensus.readBarrier();
    expect(c.consensus.appliedIndex()).toBe(c.consensus.commitIndex());
    const got = await c.state.store.rangeAt(Buffer.from('a'), Buffer.from('c'), c.state.store.currentRev(), 0n, {});
    expect(got.kvs.map((kv) => kv.key.toString())).toEqual(['a', 'b']);
    expect(c.state.membership.get(1n)?.name).toBe('m1');
    expect(c.network.sent).toEqual([]); // nobody to talk to
    expect(c.fatal).toEqual([]);
    await c.close();
  });

  it('a member of two that hears nothing finds no leader after two election timeouts', async () => {
    const c = await open([1n, 2n]);
    await c.consensus.start();
    // Its bootstrap conf changes applied first (real I/O): only then may it campaign.
    await until('bootstrap applied', () => c.consensus.appliedIndex() === 2n);
    const proposal = c.consensus.propose(put(11n, 'a')).then(
      () => 'answered',
      (err: unknown) => (err instanceof RpcError ? err.etcdName : String(err)),
    );
    const read = c.consensus.readBarrier().then(
      () => 'passed',
      (err: unknown) => (err instanceof RpcError ? err.etcdName : String(err)),
    );
    await c.clock.advance(2 * electionTicks * heartbeatMs - heartbeatMs);
    let settled = false;
    void Promise.race([proposal, read]).then(() => (settled = true));
    await settle();
    expect(settled).toBe(false);
    await c.clock.advance(heartbeatMs);
    expect(await proposal).toBe('NoLeader');
    expect(await read).toBe('NoLeader');
    // It campaigned (pre-vote, etcd's default) towards its peer, whose answers never came.
    expect(c.network.sent.some((m) => m.to === 2n && m.type === raftpb.MessageType.MsgPreVote)).toBe(true);
    expect(c.consensus.leader()).toBe(0n);
    await c.close();
  });

  it('a message that breaks raft invariants (a commit past its log) is logged as an error, not at debug', async () => {
    const lines: { level: number; msg: string }[] = [];
    const sink = new Writable({
      write(chunk, _enc, cb) {
        for (const l of chunk.toString().split('\n').filter(Boolean)) lines.push(JSON.parse(l));
        cb();
      },
    });
    const c = await open([1n, 2n], pino({ level: 'debug' }, sink));
    await c.consensus.start();
    await until('bootstrap applied', () => c.consensus.appliedIndex() === 2n);
    // A heartbeat of a newer term whose commit index is past this member's last entry (2): raft
    // panics (etcd: "tocommit(100) is out of range [lastIndex(2)]").
    c.consensus.step([raftpb.Message.fromPartial({ type: raftpb.MessageType.MsgHeartbeat, from: 2n, to: 1n, term: 5n, commit: 100n })]);
    await until('logged', () => lines.some((l) => l.msg === 'raft refused a message that breaks its invariants'));
    const line = lines.find((l) => l.msg === 'raft refused a message that breaks its invariants')!;
    expect(line.level).toBe(50); // pino's error
    // An ordinary refusal stays at debug: a message from a peer raft does not know.
    c.consensus.step([raftpb.Message.fromPartial({ type: raftpb.MessageType.MsgAppResp, from: 9n, to: 1n, term: 5n })]);
    await c.close();
    expect(lines.filter((l) => l.level >= 50).length).toBe(1);
  });
});

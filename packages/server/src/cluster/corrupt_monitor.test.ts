// The periodic corruption check's rules, on fake hashes: what raises CORRUPT and what is skipped.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import type { Clock, Timer } from '../world/clock.js';
import type { LocalHash, PeerHash } from './corrupt_check.js';
import { checkHashKv, CorruptMonitor, type CorruptCheckDeps } from './corrupt_monitor.js';

const logger = pino({ level: 'silent' });
const local: LocalHash = { hash: 111, compactRevision: 5n, revision: 20n };
const peer = (id: number, o: Partial<PeerHash> = {}): PeerHash => ({
  memberId: BigInt(id),
  hash: 111,
  compactRevision: 5n,
  revision: 20n,
  ...o,
});

function deps(o: { hashes?: LocalHash[]; peers?: (PeerHash | undefined)[]; leader?: boolean; barrier?: () => Promise<void> } = {}) {
  const hashes = [...(o.hashes ?? [local, local])];
  const calls = { raised: 0, peerRevs: [] as bigint[] };
  const d: CorruptCheckDeps = {
    memberId: 1n,
    isLeader: () => o.leader ?? true,
    localHash: async () => hashes.shift() ?? local,
    peerHashes: async (rev) => {
      calls.peerRevs.push(rev);
      return o.peers ?? [peer(2), peer(3)];
    },
    readBarrier: o.barrier ?? (async () => undefined),
    raiseCorrupt: async () => {
      calls.raised++;
    },
    logger,
  };
  return { d, calls };
}

describe('checkHashKv', () => {
  it('finds nothing when every peer agrees, asking them at the leader revision', async () => {
    const { d, calls } = deps();
    expect(await checkHashKv(d)).toEqual([]);
    expect(calls.peerRevs).toEqual([20n]);
  });

  it('skips peers that did not answer, and peers compacted elsewhere that hash differently', async () => {
    const { d } = deps({ peers: [undefined, peer(3, { compactRevision: 4n, hash: 999 })] });
    expect(await checkHashKv(d)).toEqual([]);
  });

  it('reports a peer with another hash at the same compact revision', async () => {
    const { d } = deps({ peers: [peer(2), peer(3, { hash: 222 })] });
    expect(await checkHashKv(d)).toEqual(['peer 3 has hash 222 at revision 20, the leader 111']);
  });

  it('reports a peer ahead of the leader in revision or compaction', async () => {
    const { d } = deps({ peers: [peer(10, { revision: 21n }), peer(11, { compactRevision: 6n, hash: 5 })] });
    expect(await checkHashKv(d)).toEqual([
      "peer a is at revision 21, after the leader's 20",
      "peer b compacted to 6, after the leader's 5",
    ]);
  });

  it("reports the leader's own hash changing at the same revision, not across a write", async () => {
    expect(await checkHashKv(deps({ hashes: [local, { ...local, hash: 112 }] }).d)).toEqual([
      'own hash changed at revision 20: 111 then 112',
    ]);
    expect(await checkHashKv(deps({ hashes: [local, { ...local, hash: 112, revision: 21n }] }).d)).toEqual([]);
  });
});

/** A clock whose interval the test fires by hand. */
function manualClock(): Clock & { fire(): void } {
  let fn: (() => void) | undefined;
  const t: Timer = { clear: () => (fn = undefined) };
  return {
    now: () => 0,
    wallNow: () => 0,
    setTimeout: () => t,
    setInterval: (f) => {
      fn = f;
      return t;
    },
    setImmediate: () => t,
    fire: () => fn?.(),
  };
}

describe('CorruptMonitor', () => {
  it('raises CORRUPT once per pass that found an inconsistency, only as leader', async () => {
    const bad = [peer(2, { hash: 7 })];
    const follower = deps({ peers: bad, leader: false });
    await new CorruptMonitor(follower.d, manualClock(), 1000).tick();
    expect(follower.calls).toMatchObject({ raised: 0, peerRevs: [] });

    const leader = deps({ peers: bad });
    const clock = manualClock();
    const mon = new CorruptMonitor(leader.d, clock, 1000);
    mon.start();
    clock.fire();
    await new Promise((r) => setTimeout(r, 10));
    expect(leader.calls.raised).toBe(1);
    mon.stop();
    clock.fire();
    await new Promise((r) => setTimeout(r, 10));
    expect(leader.calls.raised).toBe(1);
  });

  it('does not start with interval 0, and a failed barrier raises nothing', async () => {
    const clock = manualClock();
    const off = deps({ peers: [peer(2, { hash: 7 })] });
    new CorruptMonitor(off.d, clock, 0).start();
    clock.fire();
    const failing = deps({
      peers: [peer(2, { hash: 7 })],
      barrier: async () => Promise.reject(new Error('etcdserver: request timed out')),
    });
    await new CorruptMonitor(failing.d, clock, 1000).tick();
    await new Promise((r) => setTimeout(r, 10));
    expect([off.calls.raised, failing.calls.raised]).toEqual([0, 0]);
  });
});

// etcd's periodic corruption check (--experimental-corrupt-check-time, etcd 3.4's monitorKVHash /
// checkHashKV): every interval the leader hashes its key space at its current revision, asks every
// voting peer for its hash at that revision, confirms its own leadership with a linearizable read,
// and hashes again. It raises the CORRUPT alarm (through raft, for member 0: which member is wrong
// is not known) when
//   - its own two hashes differ at the same revision and compact revision (its backend changed
//     under it), or a peer
//   - is at a later revision than the leader, or compacted further than the leader (a follower
//     can never be ahead of the leader that replicates to it), or
//   - compacted to the same revision as the leader's first hash but hashes differently.
// Peers that cannot answer (down, behind the revision, compacted past it) are skipped: the check
// can prove a difference, never agreement. Once CORRUPT is active every member refuses writes
// (etcdserver: corrupt cluster) until an operator disarms it (apply/applier.ts).
//
// Invariant: at most one pass runs at a time, and only while this member is the leader.
import type { Logger } from 'pino';
import type { Clock, Timer } from '../world/clock.js';
import type { LocalHash, PeerHash } from './corrupt_check.js';

export interface CorruptCheckDeps {
  memberId: bigint;
  isLeader(): boolean;
  /** The key space's hash at the current revision. */
  localHash(): Promise<LocalHash>;
  /** The voting peers' hashes at `revision`; undefined for a peer that did not answer. */
  peerHashes(revision: bigint): Promise<(PeerHash | undefined)[]>;
  /** Resolves once this member is confirmed leader by a quorum (a linearizable read's barrier). */
  readBarrier(): Promise<void>;
  /** Proposes AlarmRequest{ACTIVATE, CORRUPT, memberID 0}. */
  raiseCorrupt(): Promise<void>;
  logger: Logger;
}

/** What one pass found: the reasons for the alarm (empty = no inconsistency seen). */
export async function checkHashKv(d: CorruptCheckDeps): Promise<string[]> {
  const first = await d.localHash();
  const peers = await d.peerHashes(first.revision);
  await d.readBarrier();
  const second = await d.localHash();
  const why: string[] = [];
  if (second.hash !== first.hash && second.revision === first.revision && second.compactRevision === first.compactRevision)
    why.push(`own hash changed at revision ${first.revision}: ${first.hash} then ${second.hash}`);
  let checked = 0;
  for (const p of peers) {
    if (!p) continue;
    checked++;
    const peer = p.memberId.toString(16);
    if (p.revision > second.revision) why.push(`peer ${peer} is at revision ${p.revision}, after the leader's ${second.revision}`);
    if (p.compactRevision > second.compactRevision)
      why.push(`peer ${peer} compacted to ${p.compactRevision}, after the leader's ${second.compactRevision}`);
    if (p.compactRevision === first.compactRevision && p.hash !== first.hash)
      why.push(`peer ${peer} has hash ${p.hash} at revision ${first.revision}, the leader ${first.hash}`);
  }
  d.logger.info({ peersChecked: checked, revision: first.revision.toString() }, 'finished peer corruption check');
  return why;
}

/** Runs checkHashKv every `intervalMs` while leader; raises the alarm once per inconsistency seen. */
export class CorruptMonitor {
  private timer: Timer | undefined;
  private running = false;
  private stopped = false;

  constructor(
    private readonly d: CorruptCheckDeps,
    private readonly clock: Clock,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    if (this.intervalMs <= 0 || this.timer) return;
    this.d.logger.info({ intervalMs: this.intervalMs }, 'enabled corruption checking');
    this.timer = this.clock.setInterval(() => void this.tick(), this.intervalMs);
  }

  stop(): void {
    this.stopped = true;
    this.timer?.clear();
    this.timer = undefined;
  }

  /** One pass now (the interval's callback; tests call it directly). */
  async tick(): Promise<void> {
    if (this.running || this.stopped || !this.d.isLeader()) return;
    this.running = true;
    try {
      const why = await checkHashKv(this.d);
      if (why.length > 0 && !this.stopped) {
        this.d.logger.warn({ reasons: why }, 'found data inconsistency with peers; raising the CORRUPT alarm');
        await this.d.raiseCorrupt();
      }
    } catch (err) {
      this.d.logger.warn({ err: (err as Error).message }, 'failed to check hash KV');
    } finally {
      this.running = false;
    }
  }
}

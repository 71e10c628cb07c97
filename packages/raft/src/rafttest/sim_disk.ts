// A node's simulated disk for the whole-cluster simulation, with the crash semantics of a
// write-ahead log:
//
// - write(rd) stores a Ready's persistent parts in WAL order: snapshot, entries, hard state. It is
//   synced (durable at once) when rd.mustSync or a snapshot is present; otherwise the hard state
//   (a commit-only change) is a lazy write that a crash may lose (the Ready contract allows it).
// - writeTorn(rd) is a crash in the middle of write(rd): only a prefix of those writes survives.
// - Any sync (a later synced write, a snapshot from compaction) flushes earlier lazy writes, as
//   fsync of a sequential log does.
// - crash() drops or keeps the lazy hard state; recover() hands back what a restart reads.
//
// Invariant: `log` only ever holds persisted data, so it is what a restarted node reads, and the
// running node may read its stable entries from it (raft reads Storage only for entries already
// acknowledged as stable through advance()).

import type { raftpb } from '@kv/api';
import type { Ready } from '../rawnode.js';
import { MemoryStorage } from '../storage.js';
import { emptyHardState } from '../util.js';
import type { SimRng } from './sim_rng.js';

export class SimDisk {
  /** Durable snapshot and entries. */
  log = new MemoryStorage();
  /** Durable hard state. */
  private hs: raftpb.HardState = emptyHardState();
  /** A hard state written without fsync (lost or kept by a crash). */
  private lazyHs: raftpb.HardState | undefined;

  /**
   * Persists rd in full. Returns the entries now on disk (those at or below the snapshot index are
   * ignored by the log), for the log-matching check.
   */
  write(rd: Ready): raftpb.Entry[] {
    if (rd.snapshot !== undefined) this.log.applySnapshot(rd.snapshot);
    this.log.append(rd.entries);
    const sync = rd.mustSync || rd.snapshot !== undefined;
    if (rd.hardState !== undefined) {
      if (sync) {
        this.hs = rd.hardState;
        this.lazyHs = undefined;
      } else {
        this.lazyHs = rd.hardState;
      }
    } else if (sync) {
      this.sync();
    }
    return this.written(rd.entries);
  }

  /**
   * A crash during write(rd): of the ordered writes (snapshot, each entry, hard state) a random
   * prefix reaches the disk. The caller crashes the node right after.
   */
  writeTorn(rd: Ready, rng: SimRng): raftpb.Entry[] {
    const total = (rd.snapshot !== undefined ? 1 : 0) + rd.entries.length + (rd.hardState !== undefined ? 1 : 0);
    // A snapshot is valid only together with the hard state that commits it (etcd 3.5 ignores a
    // WAL snapshot newer than the durable commit index when recovering), so a torn write of a
    // Ready with a snapshot keeps all or nothing.
    let k = rd.snapshot !== undefined ? (rng.chance(0.5) ? total : 0) : rng.int(total + 1);
    if (k > 0) this.sync(); // earlier lazy writes precede these in the log
    if (rd.snapshot !== undefined) {
      if (k === 0) return [];
      this.log.applySnapshot(rd.snapshot);
      k--;
    }
    const ents = rd.entries.slice(0, k);
    this.log.append(ents);
    k -= ents.length;
    if (k > 0 && rd.hardState !== undefined) this.hs = rd.hardState;
    return this.written(ents);
  }

  /** fsync: lazy writes become durable. */
  sync(): void {
    if (this.lazyHs !== undefined) {
      this.hs = this.lazyHs;
      this.lazyHs = undefined;
    }
  }

  /** Power loss. Returns true if an unsynced hard state was lost. */
  crash(rng: SimRng): boolean {
    const lazy = this.lazyHs;
    this.lazyHs = undefined;
    if (lazy === undefined) return false;
    if (rng.chance(0.5)) {
      this.hs = lazy;
      return false;
    }
    return true;
  }

  /** The state a restarting node reads. */
  recover(): MemoryStorage {
    this.log.setHardState(this.hs);
    return this.log;
  }

  /** The durable hard state. */
  durableHardState(): raftpb.HardState {
    return this.hs;
  }

  /**
   * Application-driven compaction: writes a snapshot of the state machine at `applied` (synced)
   * and discards entries up to `compactTo` (<= applied).
   */
  compact(applied: bigint, cs: raftpb.ConfState, data: Buffer, compactTo: bigint): void {
    this.sync();
    this.log.createSnapshot(applied, cs, data);
    if (compactTo >= this.log.firstIndex()) this.log.compact(compactTo);
  }

  private written(ents: raftpb.Entry[]): raftpb.Entry[] {
    const first = this.log.firstIndex();
    const last = this.log.lastIndex();
    return ents.filter((e) => e.Index >= first && e.Index <= last);
  }
}

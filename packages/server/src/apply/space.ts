// The space checks in front of the log (the "quota" link of the apply chain, as etcd's
// quota.go): a request that may grow the backend is refused with NoSpace, before it is
// proposed, when the backend would pass its quota or a file system of the member runs low; and
// every request is refused while the WAL waits for space (nothing could be persisted).
//
// Invariants:
// - The backend size checked is Backend.size(): it includes every batch committed so far, so the
//   quota is exact at the moment of the check (only proposals still in flight are not in it).
// - A member refuses growth while free space on its data file systems is under DiskReserveBytes;
//   the reserve is what deletes, compactions, alarms and LevelDB's own compactions use, so the
//   disk never actually fills from writes this member accepted. Under DiskFloorBytes (the disk
//   filled by someone else) it refuses every request: a LevelDB commit that fails for lack of
//   space cannot be taken back (its log may be torn), so nothing is sent towards the backend.
/** Free space under which requests that grow the backend are refused. */
export const DiskReserveBytes = 8 * 1024 * 1024;
/** Free space under which every request is refused. */
export const DiskFloorBytes = 1024 * 1024;
/** How long a measurement of free space is used (with `now`) before the file systems are asked again. */
export const FreeBytesTtlMs = 100;
/** Free space from which a measurement is reused: no other writer fills this much in FreeBytesTtlMs
 *  (10 GB/s), so below it — near the reserve, where someone else's file may fill the disk at any
 *  moment — every check measures. */
export const FreeBytesCacheFloor = 1024 * 1024 * 1024;
/** Bytes a request may cost on disk per byte it carries: the WAL, LevelDB's log, then its tables. */
const DiskBytesPerByte = 3;

export type SpaceRefusal =
  /** The backend plus the request would exceed --quota-backend-bytes. */
  | 'quota'
  /** A file system of the member has less than the reserve free. */
  | 'disk'
  /** The WAL is waiting for space for a write: nothing can be persisted now. */
  | 'wal';

export interface SpaceGuardOptions {
  /** The effective backend quota in bytes. */
  quotaBytes: number;
  /** The backend's current size (Backend.size()). */
  backendSize: () => number;
  /** Least free space over the file systems that must keep the reserve free (MemberDisk.freeBytes). */
  freeBytes: () => number;
  reserveBytes?: number;
  /** A monotonic clock (ms). With it a measurement of free space is used for FreeBytesTtlMs, less
   *  what the requests accepted since may write; without it every check measures. */
  now?: () => number;
}

export class SpaceGuard {
  /** Set while the WAL retries a write refused for lack of space. */
  walWaiting = false;
  private readonly reserve: number;

  constructor(private readonly o: SpaceGuardOptions) {
    this.reserve = o.reserveBytes ?? DiskReserveBytes;
  }

  private measuredFree = 0;
  private measuredAt = Number.NEGATIVE_INFINITY;
  /** Bytes of the requests accepted since the last measurement. */
  private acceptedSince = 0;

  /**
   * Least free space over the member's file systems (a statfs each on a real disk, two syscalls
   * per request otherwise). With `now` and at least FreeBytesCacheFloor free, a measurement serves
   * for FreeBytesTtlMs or until the requests accepted since could have written an eighth of the
   * reserve. Invariant: the figure never exceeds the last measurement less DiskBytesPerByte times
   * every byte accepted since, and under FreeBytesCacheFloor every call measures.
   */
  freeBytes(): number {
    const now = this.o.now?.();
    if (
      now === undefined ||
      this.measuredFree < FreeBytesCacheFloor ||
      now - this.measuredAt >= FreeBytesTtlMs ||
      this.acceptedSince * DiskBytesPerByte >= this.reserve / 8
    ) {
      this.measuredFree = this.o.freeBytes();
      this.measuredAt = now ?? Number.NEGATIVE_INFINITY;
      this.acceptedSince = 0;
    }
    return this.measuredFree - this.acceptedSince * DiskBytesPerByte;
  }

  /** Why a request must be refused now, or undefined; `grows` with `cost` bytes it may add. */
  refusal(grows: boolean, cost: number): SpaceRefusal | undefined {
    if (this.walWaiting) return 'wal';
    const free = this.freeBytes();
    if (free < DiskFloorBytes) return 'disk';
    if (!grows) return undefined;
    if (this.o.backendSize() + cost > this.o.quotaBytes) return 'quota';
    if (free < this.reserve) return 'disk';
    this.acceptedSince += cost;
    return undefined;
  }

  describe(why: SpaceRefusal): Record<string, number | string> {
    return { reason: why, dbSize: this.o.backendSize(), quota: this.o.quotaBytes, freeBytes: this.freeBytes(), reserve: this.reserve };
  }
}

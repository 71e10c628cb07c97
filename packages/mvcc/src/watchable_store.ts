// The watchable store: turns the store's published revisions into per-watcher event streams.
//
// Model (after etcd 3.4's mvcc/watchable_store.go, watcher.go, watcher_group.go):
//   - Every watcher has `minRev`, the lowest revision it has not yet been sent.
//   - A watcher is either SYNCED (minRev > currentRev: it has been given everything published so
//     far, and receives each newly published revision directly from `onPublished`) or UNSYNCED
//     (minRev <= currentRev: it is behind and is caught up by an asynchronous catch-up loop, in
//     rounds of at most `maxWatchersPerSync` watchers and `maxRevisionsPerSync` revisions read
//     from `store.history(...)`; when a round brings it to currentRev it moves to synced).
//   - Published revisions go to synced watchers directly; unsynced watchers get them only through
//     a round (from history or from the catch-up tail, below). A watcher is in exactly one group;
//     it moves unsynced -> synced only when its minRev is currentRev + 1 (set in the synchronous
//     last step of a round, with no publish in between), and synced -> unsynced (back-pressure,
//     below) with minRev set to the first revision it was not given; minRev only ever grows. So
//     every revision reaches it exactly once.
//   - The catch-up tail (watchable_store_tail.ts). A round awaits its history reads, and the store
//     keeps publishing meanwhile; if those revisions went to synced watchers only, a watcher would
//     end every round behind again and, under a steady write stream, never become synced. So
//     while watchers are unsynced, every published revision is also recorded in a tail: from a
//     round's start on, every revision >= tail.start is held (tail.start = currentRev + 1 when
//     recording begins). A round reads history only below the tail: [m, T] with m the lowest
//     minRev of its watchers and T = min(m + maxRevisionsPerSync - 1, tail.start - 1). Once the
//     reads are done, in one synchronous step (no await: no publish can slip in), each watcher
//     it handled gets its history events up to T (minRev = T + 1), and every one that has thereby
//     reached the tail (minRev >= tail.start) also gets the tail's revisions >= minRev that it
//     watches (filters and prevKv as always; responses of at most maxRevisionsPerSync revisions)
//     and is moved to synced at currentRev + 1. A congested stream stops this at a response
//     boundary: the watcher stays unsynced with minRev = the first revision it was not given.
//   - Liveness: a round leaves every watcher it handled synced or strictly closer (unless its
//     stream is congested). The tail is only trimmed between rounds: below the lowest minRev of
//     the unsynced watchers (nobody needs it), and to `maxTailRevisions` entries (the memory
//     bound: the oldest go and tail.start moves up); it is dropped when nobody is unsynced. So,
//     whatever the write rate, a watcher within maxRevisionsPerSync of tail.start syncs in its
//     next round, and one further behind reaches tail.start within
//     ceil((tail.start - minRev) / maxRevisionsPerSync) rounds of its batch, as long as the tail
//     stays within maxTailRevisions (past that, catch-up is per round: it still ends in sync if
//     fewer than maxRevisionsPerSync revisions are published per round). A tail delivery is
//     bounded by the stream's free slots (maxRevisionsPerSync revisions each); what is left is
//     delivered from the tail in the next rounds.
//   - A watcher whose minRev has fallen below the store's compaction revision gets one response
//     carrying `compactRevision` and is removed from its stream (the server reports it canceled).
//
// Watch invariant (tested): a watcher's events arrive in revision order, none missing, none twice,
// and the events of one revision are never split across two responses (a catch-up response may
// carry several whole revisions; its `revision` is the last revision it covers).
//
// Delivery and back-pressure: each stream keeps a FIFO of responses and hands them to the `send`
// callback in order, synchronously when it can. `send` may return `false` to say "stop for now"
// (like a Node stream's write()); delivery then pauses until `stream.resume()`. The store's
// publish path never waits for a consumer: when a stream already holds `maxPendingPerStream`
// (default 1024) undelivered responses, its watchers that would receive more events are demoted
// to unsynced instead (etcd's "victims") and later caught up (from the tail or history) once the
// stream has drained. So a stream's queue holds at most maxPendingPerStream event responses, plus control
// responses (compaction, progress); a catch-up response holds at most maxRevisionsPerSync
// revisions of events. Responses (catch-up ones with async prevKv reads included) leave a stream
// in the order they were queued.
//
// Assumption about the store: `currentRev()` advances and the `onPublished` listeners run within
// one synchronous `publish()` call, so nothing can observe the new revision before we have
// dispatched it to synced watchers.
import { mvccpb } from '@kv/api';
import { WatcherGroup, isFromKeyEnd, type WatchTarget } from './watcher_group.js';
import { CatchUpTail, type TailChange } from './watchable_store_tail.js';

/** A response for one watcher of a stream (the server turns it into an etcdserverpb.WatchResponse). */
export interface WatchResponse {
  /** The watcher's id; -1n for a stream-wide progress response (requestProgress). */
  watchId: bigint;
  /** Events in revision order, whole revisions only; empty for progress/compaction responses. */
  events: mvccpb.Event[];
  /** The store revision this response brings the watcher up to; 0n on a compaction response (as etcd). */
  revision: bigint;
  /** Non-zero: the watcher's start revision was compacted; the watcher has been removed. */
  compactRevision: bigint;
}

/** The part of KVStore the watchable store uses (KVStore satisfies it). */
export interface WatchSource {
  currentRev(): bigint;
  compactRev(): bigint;
  range(key: Buffer, end: Buffer | undefined, o?: { rev?: bigint }): Promise<{ kvs: mvccpb.KeyValue[] }>;
  onPublished(listener: (changes: { rev: bigint; events: mvccpb.Event[] }[]) => void): () => void;
  history(fromRev: bigint, toRev: bigint): AsyncIterable<{ rev: bigint; events: mvccpb.Event[] }>;
}

/** Runs `task` after about `delayMs` (0 = as soon as possible); returns a function cancelling it. */
export type SyncScheduler = (task: () => void, delayMs: number) => () => void;

/** Default scheduler: setImmediate / setTimeout, unref'd so an idle store never keeps Node alive. */
export const defaultScheduler: SyncScheduler = (task, delayMs) => {
  if (delayMs <= 0) {
    const h = setImmediate(task);
    h.unref();
    return () => clearImmediate(h);
  }
  const h = setTimeout(task, delayMs);
  h.unref();
  return () => clearTimeout(h);
};

export interface WatchableStoreOptions {
  /** How catch-up rounds are scheduled (tests inject a manual one and call `syncOnce()`). */
  scheduler?: SyncScheduler;
  /** Unsynced watchers handled per catch-up round (etcd: 512). */
  maxWatchersPerSync?: number;
  /** Revisions read from history per catch-up round (etcd: 1000 per watcher batch). */
  maxRevisionsPerSync?: number;
  /** Delay before retrying when no progress was possible (congested streams, errors). etcd: 100 ms. */
  retryIntervalMs?: number;
  /** Default bound on undelivered event responses per stream (see the header comment). */
  maxPendingPerStream?: number;
  /**
   * Revisions the catch-up tail keeps between rounds (see the header comment); 0 = only those
   * published during the current round. Default 10000.
   */
  maxTailRevisions?: number;
  /** Called with unexpected errors of the catch-up loop (it retries after retryIntervalMs). */
  onError?: (err: unknown) => void;
}

export interface WatchStreamOptions {
  /** Overrides the store's maxPendingPerStream for this stream. */
  maxPending?: number;
  /** Called when `send` throws; the stream is then closed. */
  onError?: (err: unknown) => void;
}

export interface WatchOptions {
  /** Requested watch id; undefined or 0n = pick the next free id (etcd 3.4's AutoWatchID is 0). */
  id?: bigint;
  key: Buffer;
  /** undefined/empty = single key; `\0` = every key >= key; otherwise [key, end). */
  end?: Buffer;
  /** First revision to deliver; 0n (or negative) = from now, i.e. currentRev + 1. */
  startRev: bigint;
  prevKv?: boolean;
  noPut?: boolean;
  noDelete?: boolean;
  progressNotify?: boolean;
  /** Recorded only, for the server (see WatchStream.fragmentRequested); splitting is fragmentResponse's job. */
  fragment?: boolean;
}

/** etcd's mvcc watch error texts. */
export const WatchErrorText = {
  DuplicateID: 'mvcc: duplicate watch ID provided on the WatchStream',
  EmptyRange: 'mvcc: watcher range is empty',
} as const;

export class WatchError extends Error {
  override readonly name = 'WatchError';
}

/** The stream-wide progress response's watch id (etcd's clientv3.InvalidWatchID). */
export const PROGRESS_WATCH_ID = -1n;

type WatcherState = 'synced' | 'unsynced' | 'gone';

/** @internal One watcher (not exported from the package; exported here for declaration emit). */
export class Watcher implements WatchTarget {
  state: WatcherState = 'unsynced';
  /** Lowest revision not yet handed to the stream. */
  minRev = 0n;
  /** Whether an event response was queued since the last progressNotify tick (etcd elides the tick then). */
  sentSinceTick = false;

  constructor(
    readonly stream: WatchStream,
    readonly id: bigint,
    readonly key: Buffer,
    readonly end: Buffer | undefined,
    readonly opts: { prevKv: boolean; noPut: boolean; noDelete: boolean; progressNotify: boolean; fragment: boolean },
  ) {}
}

interface QueueEntry {
  readonly watcher: Watcher | null;
  readonly resp: WatchResponse;
  /** False while prevKv reads for it are outstanding; the queue never delivers past it. */
  ready: boolean;
  /** Counts toward the per-stream bound (event responses do, control responses don't). */
  readonly counted: boolean;
}

const isCreate = (e: mvccpb.Event): boolean =>
  e.type === mvccpb.Event_EventType.PUT && e.kv !== undefined && e.kv.createRevision === e.kv.modRevision;

/** A response of merged revisions is closed (at a revision boundary) past this many events... */
export const MergedResponseEvents = 1000;
/** ...or this many bytes of keys and values. */
export const MergedResponseBytes = 1024 * 1024;

/** The events of consecutive revisions for one watcher, sent as one response. */
interface WatchChunk {
  firstRev: bigint;
  /** The last revision in the chunk (the response's revision). */
  rev: bigint;
  events: mvccpb.Event[];
  bytes: number;
}

export class WatchableStore {
  private readonly synced = new WatcherGroup<Watcher>();
  private readonly unsynced = new WatcherGroup<Watcher>();
  private readonly streams = new Set<WatchStream>();
  private readonly unsubscribe: () => void;
  private readonly schedule: SyncScheduler;
  private readonly maxWatchersPerSync: number;
  private readonly maxRevisionsPerSync: bigint;
  private readonly maxRevisionsPerSyncN: number;
  private readonly maxTailRevisions: number;
  private readonly retryIntervalMs: number;
  private readonly onError: ((err: unknown) => void) | undefined;
  /** @internal */ readonly maxPendingPerStream: number;
  private syncing: Promise<number> | null = null;
  private cancelTimer: (() => void) | null = null;
  private timerDelay = 0;
  private closed = false;
  /** Published revisions kept for catch-up; null while nobody is unsynced (header: catch-up tail). */
  private tail: CatchUpTail | null = null;
  /** A round is between its start and its end: the tail must not be trimmed. */
  private inRound = false;

  constructor(
    readonly store: WatchSource,
    opts: WatchableStoreOptions = {},
  ) {
    this.schedule = opts.scheduler ?? defaultScheduler;
    this.maxWatchersPerSync = opts.maxWatchersPerSync ?? 512;
    this.maxRevisionsPerSyncN = opts.maxRevisionsPerSync ?? 1000;
    this.maxRevisionsPerSync = BigInt(this.maxRevisionsPerSyncN);
    this.retryIntervalMs = opts.retryIntervalMs ?? 100;
    this.maxPendingPerStream = opts.maxPendingPerStream ?? 1024;
    this.maxTailRevisions = opts.maxTailRevisions ?? 10_000;
    this.onError = opts.onError;
    if (this.maxWatchersPerSync < 1 || this.maxRevisionsPerSync < 1n || this.maxPendingPerStream < 1) {
      throw new RangeError('watchable store: limits must be positive');
    }
    if (!(this.maxTailRevisions >= 0)) throw new RangeError('watchable store: maxTailRevisions must be >= 0');
    this.unsubscribe = store.onPublished((changes) => this.notify(changes));
  }

  newWatchStream(send: (resp: WatchResponse) => boolean | void, opts: WatchStreamOptions = {}): WatchStream {
    if (this.closed) throw new Error('watchable store is closed');
    const s = new WatchStream(this, send, opts);
    this.streams.add(s);
    return s;
  }

  /** Closes every stream and stops the catch-up loop; the store itself stays open. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    this.cancelTimer?.();
    this.cancelTimer = null;
    this.tail = null;
    for (const s of [...this.streams]) s.close();
  }

  /** Number of watchers being caught up from history (etcd's slow_watcher_total). */
  unsyncedCount(): number {
    return this.unsynced.size;
  }

  /** Number of watchers fed directly by published revisions. */
  syncedCount(): number {
    return this.synced.size;
  }

  // ---- watcher registration (called by WatchStream) ----

  /** @internal */
  addWatcher(w: Watcher, startRev: bigint): void {
    const cur = this.store.currentRev();
    if (startRev === 0n || startRev > cur) {
      // from now (or a future revision): nothing to catch up
      w.minRev = startRev > cur + 1n ? startRev : cur + 1n;
      w.state = 'synced';
      this.synced.add(w);
    } else {
      // A negative start revision is behind everything, as in etcd: once the store was compacted
      // the catch-up loop cancels it as compacted; before any compaction it starts at the first
      // revision.
      w.minRev = startRev < 1n && this.store.compactRev() === 0n ? 1n : startRev;
      w.state = 'unsynced';
      this.unsynced.add(w);
      this.kick(0);
    }
  }

  /** @internal */
  removeWatcher(w: Watcher): void {
    if (w.state === 'synced') this.synced.delete(w);
    else if (w.state === 'unsynced') this.unsynced.delete(w);
    w.state = 'gone';
  }

  /** @internal */
  streamClosed(s: WatchStream): void {
    this.streams.delete(s);
  }

  /** @internal A stream drained after being congested: its demoted watchers can catch up now. */
  streamDrained(): void {
    if (this.unsynced.size > 0) this.kick(0);
  }

  // ---- publish path: synced watchers ----

  private notify(changes: { rev: bigint; events: mvccpb.Event[] }[]): void {
    if (this.closed) return;
    // first, so that a watcher demoted below (minRev = rev) finds rev in the tail
    this.recordTail(changes);
    if (this.synced.size === 0) return;
    // One publish (a commit group) may hold many revisions: each synced watcher gets them in as
    // few responses as it can — whole revisions, in order, a new response once one holds
    // MergedResponseEvents events or MergedResponseBytes bytes — rather than one response per
    // revision (a gRPC message each: the cost of a busy watch). Invariant: a revision's events
    // for a watcher are never split over two responses (the watch guarantee "atomic").
    const chunks = new Map<Watcher, WatchChunk[]>();
    for (const { rev, events } of changes) {
      for (const ev of events) {
        if (!ev.kv) continue;
        for (const w of this.synced.match(ev.kv.key)) {
          if (rev < w.minRev) continue; // a watcher created with a future start revision
          let list = chunks.get(w);
          if (!list) chunks.set(w, (list = []));
          let c = list[list.length - 1];
          if (c === undefined || (c.rev !== rev && (c.events.length >= MergedResponseEvents || c.bytes >= MergedResponseBytes))) {
            c = { firstRev: rev, rev, events: [], bytes: 0 };
            list.push(c);
          }
          c.rev = rev;
          c.events.push(ev);
          c.bytes += ev.kv.key.length + ev.kv.value.length + (ev.prevKv ? ev.prevKv.key.length + ev.prevKv.value.length : 0);
        }
      }
    }
    const touched = new Set<WatchStream>();
    let demoted = false;
    for (const [w, list] of chunks) {
      for (const c of list) {
        if (w.state !== 'synced') break; // canceled by a send callback meanwhile, or demoted
        if (w.stream.congested()) {
          // never block publishing on a slow consumer: demote; history catches it up later
          this.synced.delete(w);
          w.state = 'unsynced';
          w.minRev = c.firstRev;
          this.unsynced.add(w);
          demoted = true;
          break;
        }
        w.minRev = c.rev + 1n;
        w.stream.enqueueEvents(w, c.events, c.rev);
        touched.add(w.stream);
      }
    }
    for (const s of touched) s.flush();
    if (demoted) this.kick(this.retryIntervalMs);
  }

  // ---- catch-up loop: unsynced watchers ----

  private kick(delayMs: number): void {
    if (this.closed) return;
    if (this.cancelTimer) {
      if (delayMs >= this.timerDelay) return; // an earlier-or-equal round is already planned
      this.cancelTimer();
    }
    this.timerDelay = delayMs;
    this.cancelTimer = this.schedule(() => {
      this.cancelTimer = null;
      void this.syncOnce();
    }, delayMs);
  }

  /**
   * Runs one catch-up round (or joins the one in flight) and resolves to the number of watchers
   * still unsynced. Schedules the next round itself when watchers remain.
   */
  syncOnce(): Promise<number> {
    if (!this.syncing) {
      this.syncing = this.syncRound()
        .catch((err: unknown) => {
          this.onError?.(err);
          return -1;
        })
        .then((left) => {
          this.syncing = null;
          if (left !== 0 && this.unsynced.size > 0) this.kick(left > 0 ? 0 : this.retryIntervalMs);
          return this.unsynced.size;
        });
    }
    return this.syncing;
  }

  /** Resolves to the number of unsynced watchers left: 0 none, >0 progress made, -1 stuck for now. */
  private async syncRound(): Promise<number> {
    if (this.closed || this.unsynced.size === 0) {
      this.tail = null;
      return 0;
    }
    this.inRound = true;
    try {
      return await this.catchUpRound();
    } finally {
      this.inRound = false;
      this.trimTail();
    }
  }

  private async catchUpRound(): Promise<number> {
    const cur = this.store.currentRev();
    const compactRev = this.store.compactRev();
    // Start recording if we were not. Until this round ends tail.start stays put and every
    // revision published from now on is appended (notify), so [tailStart, currentRev] is held.
    this.tail ??= new CatchUpTail(cur + 1n);
    const tail = this.tail;
    const tailStart = tail.start;
    let chosen: Watcher[] = [];
    const touched = new Set<WatchStream>();
    let progressed = false;
    for (const w of [...this.unsynced]) {
      if (chosen.length >= this.maxWatchersPerSync) break;
      if (w.minRev < compactRev) {
        // its start revision is gone: one compaction response, then the watcher is removed
        this.unsynced.delete(w);
        w.state = 'gone';
        w.stream.compacted(w, compactRev);
        touched.add(w.stream);
        progressed = true;
        continue;
      }
      if (w.stream.congested()) continue;
      if (w.minRev > cur) {
        this.promote(w, touched);
        progressed = true;
        continue;
      }
      chosen.push(w);
    }
    this.flushAll(touched);
    if (chosen.length === 0) return this.unsynced.size === 0 ? 0 : progressed ? this.unsynced.size : -1;

    // History is read below the tail only: [minRev, toRev], toRev < tailStart. Watchers already at
    // the tail need no read (toRev = minRev - 1 then).
    let minRev = chosen[0].minRev;
    for (const w of chosen) if (w.minRev < minRev) minRev = w.minRev;
    let toRev = minRev - 1n;
    if (minRev < tailStart) {
      const maxTo = minRev + this.maxRevisionsPerSync - 1n;
      toRev = maxTo < tailStart - 1n ? maxTo : tailStart - 1n;
      // A watcher between toRev + 1 and the tail (others lag more) gets nothing this round: it is
      // not handled, so that every handled watcher ends synced or strictly closer.
      chosen = chosen.filter((w) => w.minRev <= toRev + 1n || w.minRev >= tailStart);
    }

    const found = new Map<Watcher, mvccpb.Event[]>();
    if (toRev >= minRev) {
      // Publishing may go on during the reads; those revisions (> toRev) are in the tail.
      const group = new WatcherGroup(chosen);
      try {
        for await (const { rev, events } of this.store.history(minRev, toRev)) {
          if (rev < minRev || rev > toRev) continue;
          for (const ev of events) {
            if (!ev.kv) continue;
            for (const w of group.match(ev.kv.key)) {
              if (rev < w.minRev) continue;
              let evs = found.get(w);
              if (!evs) found.set(w, (evs = []));
              evs.push(ev);
            }
          }
        }
      } catch (err) {
        // compacted under our feet: nothing was handed out; the next round answers the
        // affected watchers with compaction responses
        if (this.store.compactRev() > minRev) return this.unsynced.size;
        throw err;
      }
    }
    if (this.closed) return 0;

    // From here to the end everything is synchronous: no publish can interleave, so the tail
    // holds every revision in [tailStart, nowRev].
    const nowRev = this.store.currentRev();
    const atTail: Watcher[] = [];
    for (const w of chosen) {
      if (w.state !== 'unsynced') continue; // canceled during the read
      const evs = found.get(w);
      if (evs) {
        if (w.stream.congested()) continue; // keep minRev; retried once the stream drains
        w.stream.enqueueEvents(w, evs, toRev);
        touched.add(w.stream);
      }
      if (w.minRev <= toRev) w.minRev = toRev + 1n; // only forward
      if (w.minRev >= tailStart) atTail.push(w);
    }
    this.deliverTail(atTail, tail, nowRev, touched);
    this.flushAll(touched);
    return this.unsynced.size;
  }

  /**
   * Part of a round's synchronous last step: gives each watcher (all with minRev >= tail.start)
   * the tail's revisions >= its minRev that it watches, then moves it to synced at nowRev + 1.
   * On a congested stream it stops at a response boundary and the watcher stays unsynced.
   */
  private deliverTail(ws: Watcher[], tail: CatchUpTail, nowRev: bigint, touched: Set<WatchStream>): void {
    if (ws.length === 0) return;
    let from = ws[0].minRev;
    for (const w of ws) if (w.minRev < from) from = w.minRev;
    // per watcher, the events it watches, grouped by revision, in revision order
    const perWatcher = new Map<Watcher, TailChange[]>();
    const group = new WatcherGroup(ws);
    for (const { rev, events } of tail.from(from)) {
      if (rev > nowRev) break; // cannot happen (nothing is published during this step)
      for (const ev of events) {
        if (!ev.kv) continue;
        for (const w of group.match(ev.kv.key)) {
          if (rev < w.minRev) continue;
          let revs = perWatcher.get(w);
          if (!revs) perWatcher.set(w, (revs = []));
          const last = revs[revs.length - 1];
          if (last !== undefined && last.rev === rev) last.events.push(ev);
          else revs.push({ rev, events: [ev] });
        }
      }
    }
    const per = this.maxRevisionsPerSyncN;
    for (const w of ws) {
      const revs = perWatcher.get(w) ?? [];
      let complete = true;
      for (let i = 0; i < revs.length; i += per) {
        const chunk = revs.slice(i, i + per);
        if (w.stream.congested()) {
          w.minRev = chunk[0].rev; // everything below was given; retried once the stream drains
          complete = false;
          break;
        }
        // the last response brings the watcher to nowRev (it watches nothing after its last event)
        const upTo = i + per >= revs.length ? nowRev : chunk[chunk.length - 1].rev;
        w.stream.enqueueEvents(
          w,
          chunk.flatMap((c) => c.events),
          upTo,
        );
        touched.add(w.stream);
      }
      if (!complete) continue;
      w.minRev = nowRev + 1n;
      this.promote(w, touched);
    }
  }

  /** Between rounds: forgets tail revisions nobody can use, keeps it within maxTailRevisions. */
  private trimTail(): void {
    const tail = this.tail;
    if (!tail) return;
    if (this.closed || this.unsynced.size === 0) {
      this.tail = null;
      return;
    }
    // Every unsynced watcher may need the tail from its minRev on (one below tail.start needs all
    // of it once its history reads get there) -- also a congested one: its stream may be only
    // briefly full (responses waiting for prevKv reads). maxTailRevisions bounds the memory.
    let need = this.store.currentRev() + 1n;
    for (const w of this.unsynced) if (w.minRev < need) need = w.minRev;
    tail.dropBelow(need);
    tail.keepAtMost(this.maxTailRevisions);
  }

  /** Publish path: appends to the tail while recording (and trims it when no round runs). */
  private recordTail(changes: readonly TailChange[]): void {
    const tail = this.tail;
    if (!tail) return;
    if (this.inRound) {
      tail.append(changes); // never trimmed during a round: the round relies on tail.start
      return;
    }
    if (this.unsynced.size === 0) {
      this.tail = null; // nobody to catch up (canceled meanwhile); the next round starts afresh
      return;
    }
    tail.append(changes);
    tail.keepAtMost(this.maxTailRevisions);
  }

  private promote(w: Watcher, touched: Set<WatchStream>): void {
    this.unsynced.delete(w);
    w.state = 'synced';
    this.synced.add(w);
    touched.add(w.stream);
  }

  private flushAll(touched: Set<WatchStream>): void {
    for (const s of touched) {
      s.checkDeferredProgress();
      s.flush();
    }
  }
}

/** A FIFO with O(1) amortized push/shift. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;
  get length(): number {
    return this.items.length - this.head;
  }
  push(x: T): void {
    this.items.push(x);
  }
  last(): T | undefined {
    return this.head < this.items.length ? this.items[this.items.length - 1] : undefined;
  }
  peek(): T | undefined {
    return this.head < this.items.length ? this.items[this.head] : undefined;
  }
  shift(): T | undefined {
    if (this.head >= this.items.length) return undefined;
    const x = this.items[this.head];
    this.items[this.head++] = undefined as T;
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return x;
  }
  /** Keeps only the items satisfying `keep`, in order. */
  retain(keep: (x: T) => boolean): void {
    this.items = this.items.slice(this.head).filter(keep);
    this.head = 0;
  }
  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

/**
 * The watchers of one client stream, sharing one ordered response channel (`send`).
 * Responses of one watcher are delivered in order; nothing is delivered for a watcher after
 * `cancel()` returned, nor for any watcher after `close()`.
 */
export class WatchStream {
  private readonly watchers = new Map<bigint, Watcher>();
  private nextId = 0n;
  private readonly queue = new Fifo<QueueEntry>();
  /** Queued event responses (the bounded part of the queue). */
  private counted = 0;
  private readonly maxPending: number;
  private paused = false;
  private flushing = false;
  private closed = false;
  private wasCongested = false;
  private progressDeferred = false;

  /** @internal use WatchableStore.newWatchStream */
  constructor(
    private readonly owner: WatchableStore,
    private readonly send: (resp: WatchResponse) => boolean | void,
    private readonly opts: WatchStreamOptions,
  ) {
    this.maxPending = opts.maxPending ?? owner.maxPendingPerStream;
  }

  /** Creates a watcher and returns its id. Throws WatchError (duplicate id, empty range). */
  watch(o: WatchOptions): bigint {
    // etcd answers a watch on a closed stream with the empty-range error too
    if (this.closed) throw new WatchError(WatchErrorText.EmptyRange);
    const key = o.key.length === 0 ? Buffer.from([0]) : o.key; // "" is "\0", the smallest key
    const end = o.end === undefined || o.end.length === 0 ? undefined : o.end;
    if (end !== undefined && !isFromKeyEnd(end) && Buffer.compare(key, end) >= 0) {
      throw new WatchError(WatchErrorText.EmptyRange);
    }
    let id = o.id ?? 0n;
    if (id === 0n) {
      while (this.watchers.has(this.nextId)) this.nextId++;
      id = this.nextId++;
    } else if (this.watchers.has(id)) {
      throw new WatchError(WatchErrorText.DuplicateID);
    }
    const w = new Watcher(this, id, Buffer.from(key), end && Buffer.from(end), {
      prevKv: o.prevKv ?? false,
      noPut: o.noPut ?? false,
      noDelete: o.noDelete ?? false,
      progressNotify: o.progressNotify ?? false,
      fragment: o.fragment ?? false,
    });
    this.watchers.set(id, w);
    this.owner.addWatcher(w, o.startRev);
    return id;
  }

  /** Removes a watcher; false if no such watcher. Its undelivered responses are dropped. */
  cancel(id: bigint): boolean {
    const w = this.watchers.get(id);
    if (!w) return false;
    this.watchers.delete(id);
    this.owner.removeWatcher(w);
    this.dropQueued(w);
    this.checkDeferredProgress();
    this.flush();
    return true;
  }

  /** Whether the watcher asked for fragmented responses (false for unknown ids). */
  fragmentRequested(id: bigint): boolean {
    return this.watchers.get(id)?.opts.fragment ?? false;
  }

  /** Ids taken on this stream: live watchers, and compacted ones the client has not canceled yet. */
  ids(): bigint[] {
    return [...this.watchers.keys()];
  }

  /**
   * A progress response for the whole stream: watchId -1n at the current revision, sent once every
   * watcher of the stream is synced (so the revision promises no missed events). If some are still
   * catching up, the response is deferred until they all are (etcd 3.5 semantics; etcd 3.4.23
   * sends it at once regardless). Several requests while one is deferred, or while the previous
   * response is still undelivered at the tail of the queue, yield one response.
   */
  requestProgress(): void {
    if (this.closed) return;
    this.progressDeferred = true;
    this.checkDeferredProgress();
    this.flush();
  }

  /**
   * The server's progress timer tick: every synced watcher with progressNotify that was sent no
   * events since the previous tick gets an empty response at the current revision (etcd elides the
   * notification for watchers that did receive events).
   */
  progressNotify(): void {
    if (this.closed) return;
    const rev = this.owner.store.currentRev();
    for (const w of this.watchers.values()) {
      if (!w.opts.progressNotify) continue;
      if (!w.sentSinceTick && w.state === 'synced') {
        this.push(w, { watchId: w.id, events: [], revision: rev, compactRevision: 0n }, true, false);
      }
      w.sentSinceTick = false;
    }
    this.flush();
  }

  /** Resumes delivery after `send` returned false. */
  resume(): void {
    if (this.closed) return;
    this.paused = false;
    this.flush();
  }

  /** Undelivered responses held by this stream. */
  pending(): number {
    return this.queue.length;
  }

  /** Cancels every watcher and drops undelivered responses. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watchers.values()) this.owner.removeWatcher(w);
    this.watchers.clear();
    this.queue.clear();
    this.counted = 0;
    this.owner.streamClosed(this);
  }

  // ---- used by WatchableStore ----

  /** @internal Whether event responses must wait (the bounded queue is full). */
  congested(): boolean {
    const full = this.counted >= this.maxPending;
    if (full) this.wasCongested = true;
    return full;
  }

  /** @internal Queues the events of whole revisions (up to `revision`) for `w`, applying its filters and prevKv. */
  enqueueEvents(w: Watcher, evs: mvccpb.Event[], revision: bigint): void {
    const { noPut, noDelete, prevKv } = w.opts;
    const kept = evs.filter(
      (e) => !(noPut && e.type === mvccpb.Event_EventType.PUT) && !(noDelete && e.type === mvccpb.Event_EventType.DELETE),
    );
    if (kept.length === 0) return; // all filtered out: nothing is sent (as etcd)
    w.sentSinceTick = true;
    if (!prevKv) {
      const events = kept.map((e) => (e.prevKv === undefined ? e : { ...e, prevKv: undefined }));
      this.push(w, { watchId: w.id, events, revision, compactRevision: 0n }, true, true);
      return;
    }
    // prevKv: the key's value just before the event's revision (not for creations), read
    // asynchronously; the entry holds its place in the queue until the reads are done.
    const events = kept.map((e) => ({ ...e }));
    const entry = this.push(w, { watchId: w.id, events, revision, compactRevision: 0n }, false, true);
    const store = this.owner.store;
    const reads = events.map(async (e) => {
      if (e.prevKv !== undefined || !e.kv || isCreate(e)) return;
      try {
        const r = await store.range(e.kv.key, undefined, { rev: e.kv.modRevision - 1n });
        if (r.kvs.length > 0) e.prevKv = r.kvs[0];
      } catch {
        // compacted meanwhile (or similar): the event goes out without prevKv, as in etcd
      }
    });
    void Promise.all(reads).then(() => {
      entry.ready = true;
      this.flush();
    });
  }

  /**
   * @internal The watcher left the store's groups because its start revision is compacted. As in
   * etcd, it keeps its id on this stream until the client cancels it (clients do, on the
   * compaction response): a create that names the id meanwhile is a duplicate.
   */
  compacted(w: Watcher, compactRev: bigint): void {
    this.push(w, { watchId: w.id, events: [], revision: 0n, compactRevision: compactRev }, true, false);
  }

  /** @internal Sends the deferred stream-wide progress response if every watcher is synced now. */
  checkDeferredProgress(): void {
    if (!this.progressDeferred || this.closed) return;
    for (const w of this.watchers.values()) if (w.state === 'unsynced') return;
    this.progressDeferred = false;
    const rev = this.owner.store.currentRev();
    // A stream-progress response still waiting at the tail of the queue can simply be moved up to
    // the current revision: nothing was queued after it, so the newer claim holds as well. This
    // keeps a paused stream's queue bounded however often the client asks.
    const tail = this.queue.last();
    if (tail && tail.watcher === null && tail.resp.watchId === PROGRESS_WATCH_ID) {
      tail.resp.revision = rev;
      return;
    }
    this.push(null, { watchId: PROGRESS_WATCH_ID, events: [], revision: rev, compactRevision: 0n }, true, false);
  }

  /** @internal Delivers queued responses in order until paused, empty, or blocked on a prevKv read. */
  flush(): void {
    if (this.flushing || this.closed) return;
    this.flushing = true;
    try {
      while (!this.paused && !this.closed) {
        const head = this.queue.peek();
        if (!head || !head.ready) break;
        this.queue.shift();
        if (head.counted) this.counted--;
        let r: boolean | void;
        try {
          r = this.send(head.resp);
        } catch (err) {
          this.opts.onError?.(err);
          this.close();
          return;
        }
        if (r === false) this.paused = true;
      }
    } finally {
      this.flushing = false;
    }
    if (this.wasCongested && this.counted < this.maxPending) {
      this.wasCongested = false;
      this.owner.streamDrained();
    }
  }

  private push(w: Watcher | null, resp: WatchResponse, ready: boolean, counted: boolean): QueueEntry {
    const entry: QueueEntry = { watcher: w, resp, ready, counted };
    if (this.closed) return entry;
    this.queue.push(entry);
    if (counted) this.counted++;
    return entry;
  }

  private dropQueued(w: Watcher): void {
    this.queue.retain((e) => {
      if (e.watcher !== w) return true;
      if (e.counted) this.counted--;
      return false;
    });
  }
}

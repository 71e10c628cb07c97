// The history model shared by the Jepsen-style harness (tools/jepsen) and the whole-cluster
// simulation (tools/sim), and the types the checkers take and return.
//
// Jepsen's model: a client process invokes an operation, and that operation completes exactly once:
//   ok    — it happened, and `value` is what it observed / did;
//   fail  — it definitely did not happen (a compare that failed, a request refused before it was
//           proposed, an error that proves no effect);
//   info  — indeterminate (timeout, connection lost, member crashed): it may have taken effect at
//           any moment after its invoke, or never. A process that got `info` never invokes again
//           under the same id (Jepsen's rule: it is "crashed"); the recorder enforces this.
// Time is in milliseconds: virtual time in the simulation, real (monotonic) time in the harness.
//
// Checkers (pure functions, no I/O; each in its own module, all re-exported by index.ts):
//   checkRegister(history: readonly HistoryEvent[], opts?: RegisterOptions): CheckResult
//   checkAppend(history: readonly HistoryEvent[], opts?: AppendOptions): CheckResult
//   checkWatch(input: WatchCheckInput): CheckResult
//   checkLeases(input: LeaseCheckInput): CheckResult
//   checkLost(history: readonly HistoryEvent[], finals: readonly FinalRead[]): CheckResult
//   checkLock(history: readonly HistoryEvent[]): CheckResult
//   pairOps(history: readonly HistoryEvent[]): OpPair[]
//   mergeResults(results: Record<string, CheckResult>): CheckResult

export type OpType = 'invoke' | 'ok' | 'fail' | 'info';

/**
 * The kinds of operation the workloads issue.
 *  register (single key, value string | null = absent):
 *    'read'  value: the value read (on ok)            — invoke value is ignored
 *    'write' value: the value written
 *    'cas'   value: [expected, new] (a compare that failed completes as `fail`)
 *  list-append (multi-key txn):
 *    'txn'   value: MicroOp[]; on ok the reads are filled in with the lists read
 *  lease:
 *    'grant' value: { id, ttl }   'keepalive' value: { id, ttl }   'revoke' value: { id }
 *    'put'   key + value + lease: a key attached to a lease
 *    'get'   key, value: string | null (and `lease` on ok when the key was attached)
 *  lock:
 *    'acquire' / 'release' key: the lock name
 */
export type OpKind = 'read' | 'write' | 'cas' | 'txn' | 'grant' | 'keepalive' | 'revoke' | 'put' | 'get' | 'acquire' | 'release';

/** A micro-operation of a list-append transaction: append `value` to `key`'s list, or read it. */
export type MicroOp = { f: 'append'; key: string; value: number } | { f: 'r'; key: string; value: number[] | null };

export interface Op {
  /** 'op' for client operations; nemesis events have kind 'nemesis'. */
  kind: 'op';
  /** Position in the whole history (ops and nemesis events share one sequence). */
  index: number;
  type: OpType;
  /** The client id. One outstanding operation per process at a time. */
  process: number;
  f: OpKind;
  /** The key (register, lease put/get, lock name); undefined for txns (their keys are in value). */
  key?: string;
  value?: unknown;
  /** ms; virtual in the simulation, real in the harness. */
  time: number;
  /** On completions: the index of the matching invoke. */
  invokeIndex?: number;
  /** The response header's revision, when the operation got one (ok writes: the write's revision). */
  revision?: number;
  /** The lease id a put attached / a get observed, as a decimal string (int64). */
  lease?: string;
  /** Why a fail / info completed that way (error text). */
  error?: string;
  /** The member endpoint the client used, when known (for reports). */
  endpoint?: string;
}

/** A fault injected by the nemesis (or by the simulator): shaded intervals in the report. */
export interface NemesisEvent {
  kind: 'nemesis';
  index: number;
  time: number;
  /** 'start' opens an interval, 'stop' closes the interval of the same name; 'instant' is a point. */
  phase: 'start' | 'stop' | 'instant';
  /** e.g. 'kill', 'pause', 'partition', 'churn', 'transfer', 'failpoint', 'clock-jump' */
  name: string;
  /** Human-readable: which member, which failpoint, ... */
  detail?: string;
}

export type HistoryEvent = Op | NemesisEvent;

/** An invoke and its completion (undefined when the history ended before it completed = info). */
export interface OpPair {
  invoke: Op;
  completion?: Op;
  /** ok | fail | info; 'info' also when the completion is missing. */
  type: 'ok' | 'fail' | 'info';
}

/** Records a history. `now` is the clock (virtual in the sim, performance.now-based in the harness). */
export class History {
  readonly events: HistoryEvent[] = [];
  private readonly outstanding = new Map<number, Op>();
  private readonly crashed = new Set<number>();

  constructor(private readonly now: () => number) {}

  /** Start an operation of `process`. Throws when it already has one outstanding, or crashed. */
  invoke(process: number, f: OpKind, fields: Partial<Pick<Op, 'key' | 'value' | 'lease' | 'endpoint'>> = {}): Op {
    if (this.outstanding.has(process)) throw new Error(`process ${process} already has an outstanding operation`);
    if (this.crashed.has(process)) throw new Error(`process ${process} completed with info; use a new process id`);
    const op: Op = { kind: 'op', index: this.events.length, type: 'invoke', process, f, time: this.now(), ...fields };
    this.events.push(op);
    this.outstanding.set(process, op);
    return op;
  }

  ok(invoke: Op, fields: Partial<Pick<Op, 'value' | 'revision' | 'lease' | 'endpoint'>> = {}): Op {
    return this.complete(invoke, 'ok', fields);
  }

  fail(invoke: Op, error: string, fields: Partial<Pick<Op, 'value' | 'revision' | 'endpoint'>> = {}): Op {
    return this.complete(invoke, 'fail', { ...fields, error });
  }

  /** Indeterminate: the process is retired (a new id must be used for its next operation). */
  info(invoke: Op, error: string, fields: Partial<Pick<Op, 'value' | 'endpoint'>> = {}): Op {
    this.crashed.add(invoke.process);
    return this.complete(invoke, 'info', { ...fields, error });
  }

  nemesis(name: string, phase: NemesisEvent['phase'], detail?: string): NemesisEvent {
    const ev: NemesisEvent = { kind: 'nemesis', index: this.events.length, time: this.now(), phase, name };
    if (detail !== undefined) ev.detail = detail;
    this.events.push(ev);
    return ev;
  }

  /** Operations still outstanding (the harness completes them as info when the run ends). */
  pending(): Op[] {
    return [...this.outstanding.values()];
  }

  private complete(invoke: Op, type: 'ok' | 'fail' | 'info', fields: Partial<Op>): Op {
    if (this.outstanding.get(invoke.process) !== invoke) {
      throw new Error(`operation ${invoke.index} of process ${invoke.process} is not outstanding`);
    }
    this.outstanding.delete(invoke.process);
    const op: Op = {
      kind: 'op',
      index: this.events.length,
      type,
      process: invoke.process,
      f: invoke.f,
      time: this.now(),
      invokeIndex: invoke.index,
      ...(invoke.key !== undefined ? { key: invoke.key } : {}),
      ...(invoke.value !== undefined ? { value: invoke.value } : {}),
      ...(invoke.lease !== undefined ? { lease: invoke.lease } : {}),
      ...fields,
    };
    this.events.push(op);
    return op;
  }
}

// ---- checker results ----

export interface Anomaly {
  /** The checker that found it: 'register', 'append', 'watch', 'lease', 'lost', 'lock'. */
  checker: string;
  /** e.g. 'nonlinearizable', 'G0', 'G1a', 'G1b', 'G1c', 'G-single', 'G2', 'lost-write',
   *  'watch-ordered', 'watch-unique', ..., 'lease-outlived', 'lease-revoked-twice', 'lock-overlap'. */
  type: string;
  key?: string;
  message: string;
  /** History indices of the operations involved (invokes and completions). */
  ops: number[];
  /** Anomalies the workload is known to show (the lock under pauses): reported, never fail a run. */
  expected?: boolean;
}

export interface CheckResult {
  /** 'unknown' when a search bound was hit before an answer (never reported as valid). */
  valid: true | false | 'unknown';
  anomalies: Anomaly[];
  /** Counters for the report (ops checked, keys, search steps, ...). */
  stats: Record<string, number>;
  /** Remarks for the report: what a search bound left undecided (which key, how large), ... */
  notes?: string[];
}

export interface RegisterOptions {
  /** Search-effort bound per key (steps; at most as many states are memoized); over it, that key
   *  is 'unknown' and a note names it. Default 2e7 (DEFAULT_MAX_STEPS, about 10 s per key). */
  maxSteps?: number;
  /** Value of a key never written. Default null. */
  initial?: string | null;
}

export interface AppendOptions {
  /** Strict serializability: add real-time edges (T1 completed before T2 invoked). Default true. */
  strict?: boolean;
  /** Cycle search bound (cycles reported per anomaly type). Default 8. */
  maxCyclesPerType?: number;
}

// ---- watch ----

export interface WatchKv {
  key: string;
  /** null for a delete's kv */
  value: string | null;
  createRevision: number;
  modRevision: number;
  version: number;
  lease?: string;
}

export interface WatchEvent {
  type: 'put' | 'delete';
  kv: WatchKv;
  /** Present when the watch asked for prev_kv and the key existed before. */
  prevKv?: WatchKv;
}

/** One response on a watch stream. */
export interface WatchResponse {
  time: number;
  /** Header revision. */
  revision: number;
  events: WatchEvent[];
  /** A progress notification (bookmark): no events, revision = the watcher's progress. */
  progressNotify?: boolean;
  /** Set when the server reported compaction; the stream ends there. */
  compactRevision?: number;
  canceled?: boolean;
}

export interface WatchRequest {
  key: string;
  /** etcd range end ('\0' = all keys >= key); undefined = the single key. */
  rangeEnd?: string;
  /** 0 = from now. */
  startRevision: number;
  prevKv?: boolean;
  filters?: Array<'noput' | 'nodelete'>;
  progressNotify?: boolean;
}

/** A logical watch of one client (a resuming client keeps one stream across reconnects). */
export interface WatchStream {
  watcher: number;
  request: WatchRequest;
  /** When the watch was opened (its first created response, or the request time). */
  openedAt: number;
  /** The store revision when the watch was created, if known (for startRevision 0). */
  createdRevision?: number;
  responses: WatchResponse[];
}

/** The truth: every revision's events, in order (from a final full replay checked against acks). */
export interface RevisionEvents {
  revision: number;
  events: WatchEvent[];
}

export interface WatchCheckInput {
  /** Revisions 1..last with their events; a revision missing here is one with no events seen. */
  revisions: readonly RevisionEvents[];
  /** The highest revision of the run; `reliable` is checked up to what each stream observed. */
  lastRevision: number;
  streams: readonly WatchStream[];
  /** The client history: ok writes with a revision must appear at that revision in `revisions`. */
  history?: readonly HistoryEvent[];
}

// ---- lease ----

export interface LeaseCheckInput {
  history: readonly HistoryEvent[];
  /** The cluster's election timeout (ms): the lease bound is TTL + this (+ slackMs). */
  electionTimeoutMs: number;
  /** Extra allowance for clock granularity / scheduling (ms). Default 0. */
  slackMs?: number;
  /** When leadership changed: a new leader extends every lease (etcd's lessor Promote), so each
   *  counts as a renewal of every lease. A number is an exact time (the simulation's elections);
   *  {from, to} says a change may have happened at any time in that window (the harness: from a
   *  fault's start to its end plus a few election timeouts, or between two polls of Status). */
  leaderChanges?: ReadonlyArray<number | { from: number; to: number }>;
  /** Server-side revocations seen (a watch's delete of a lease's keys, or the sim's lessor). */
  revocations?: ReadonlyArray<{ lease: string; revision: number; time: number }>;
}

// ---- lost writes ----

/** A final read of a key after the run healed. */
export interface FinalRead {
  key: string;
  value: string | null;
  /** mod revision of the key, 0 when absent. */
  modRevision: number;
}

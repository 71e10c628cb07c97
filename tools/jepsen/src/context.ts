// What every workload is given, and the one way an operation is run and recorded.
import type { Client } from '@kv/client';
import {
  DuplicateKeyError,
  EmptyKeyError,
  LeaseNotFoundError,
  NoSpaceError,
  RequestTooLargeError,
  TooManyOpsError,
  TooManyRequestsError,
  type EtcdError,
} from '@kv/client';
import type { History, Op, OpKind } from '@kv/check';
import type { Rng } from './rng.js';

export interface Ctx {
  readonly history: History;
  readonly rng: Rng;
  /** A client of its own for worker `i` (every endpoint, the first one rotated by i). */
  client(i: number): Client;
  /** A fresh process id (a process that got `info` is retired, as in Jepsen). */
  newProcess(): number;
  /** Aborted when the workload phase ends. */
  readonly signal: AbortSignal;
  /** Deadline of each request (ms). */
  readonly opTimeoutMs: number;
  /** The history's clock (ms since the run started). */
  now(): number;
  /** The cluster's election timeout (ms). */
  readonly electionTimeoutMs: number;
}

/** A worker: its process id changes after an indeterminate operation. */
export class Proc {
  constructor(
    private readonly ctx: Ctx,
    public id = ctx.newProcess(),
  ) {}
  retire(): void {
    this.id = this.ctx.newProcess();
  }
}

export type Done = { type: 'ok'; value?: unknown; revision?: number; lease?: string } | { type: 'fail'; error: string };

/** Errors that prove a request had no effect (refused before it was proposed or applied). */
function definite(err: unknown): boolean {
  // raft refused the proposal (during a leader transfer): it never entered the log (etcd's text).
  if (text(err) === 'raft proposal dropped') return true;
  return [
    NoSpaceError,
    TooManyRequestsError,
    EmptyKeyError,
    DuplicateKeyError,
    TooManyOpsError,
    RequestTooLargeError,
    LeaseNotFoundError,
  ].some((c) => err instanceof c);
}

const text = (err: unknown): string => {
  const e = err as EtcdError;
  return (e?.details || e?.message || String(err)).slice(0, 200);
};

/**
 * Runs one operation: invoke, body, then ok / fail / info. A read that errs is a `fail` (it had no
 * effect); a write that errs is `info` unless the error proves it did not happen.
 */
export async function perform(
  ctx: Ctx,
  proc: Proc,
  f: OpKind,
  fields: Partial<Pick<Op, 'key' | 'value' | 'lease'>>,
  readOnly: boolean,
  body: () => Promise<Done>,
): Promise<Op> {
  const inv = ctx.history.invoke(proc.id, f, fields);
  try {
    const d = await body();
    if (d.type === 'fail') return ctx.history.fail(inv, d.error);
    const extra: Partial<Pick<Op, 'value' | 'revision' | 'lease'>> = {};
    if (d.value !== undefined) extra.value = d.value;
    if (d.revision !== undefined) extra.revision = d.revision;
    if (d.lease !== undefined) extra.lease = d.lease;
    return ctx.history.ok(inv, extra);
  } catch (err) {
    if (readOnly || definite(err)) return ctx.history.fail(inv, text(err));
    const op = ctx.history.info(inv, text(err));
    proc.retire();
    return op;
  }
}

export const str = (b: Buffer | Uint8Array | undefined): string | null => (b === undefined ? null : Buffer.from(b).toString());

/** Key rotation: each slot's key takes at most `limit` operations, then a fresh key is used, which
 *  keeps each key's history short for the linearizability search (Jepsen's independent keys). */
export class Keys {
  private readonly gen: number[];
  private readonly count: number[];
  readonly used = new Set<string>();
  constructor(
    private readonly prefix: string,
    slots: number,
    private readonly limit: number,
  ) {
    this.gen = new Array<number>(slots).fill(0);
    this.count = new Array<number>(slots).fill(0);
  }
  pick(rng: Rng): string {
    const s = rng.int(0, this.gen.length - 1);
    if (++this.count[s]! > this.limit) {
      this.gen[s]!++;
      this.count[s] = 1;
    }
    const k = `${this.prefix}${s}-${this.gen[s]}`;
    this.used.add(k);
    return k;
  }
}

export interface Workload {
  readonly name: string;
  /** Runs until ctx.signal aborts. */
  run(): Promise<void>;
}

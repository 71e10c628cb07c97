// Test support (excluded from the build): an in-memory stand-in for KVStore's watch-facing side,
// plus a manual scheduler and a seeded PRNG, so watch tests are deterministic and independent of
// the LevelDB-backed store.
import { mvccpb } from '@kv/api';
import type { SyncScheduler, WatchSource } from '../watchable_store.js';

type Change = { rev: bigint; events: mvccpb.Event[] };
export type Op = { put: [string, string] } | { del: [string, string?] };

const bin = (b: Buffer): string => b.toString('latin1');

export class MemSource implements WatchSource {
  private rev = 1n;
  private compacted = 0n;
  /** Every published revision, in order. */
  readonly log: Change[] = [];
  private readonly latest = new Map<string, mvccpb.KeyValue>();
  private readonly listeners = new Set<(changes: Change[]) => void>();
  /** Awaited before each revision history() yields; tests use it to interleave writes. */
  historyStep: (rev: bigint) => Promise<void> = () => Promise.resolve();
  historyCalls: [bigint, bigint][] = [];

  currentRev(): bigint {
    return this.rev;
  }
  compactRev(): bigint {
    return this.compacted;
  }

  onPublished(listener: (changes: Change[]) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Applies ops as one revision each; publishes them together (one onPublished call). */
  publishMany(revs: Op[][]): bigint {
    const changes: Change[] = [];
    for (const ops of revs) {
      const ch = this.apply(ops);
      if (ch) changes.push(ch);
    }
    if (changes.length > 0) for (const l of [...this.listeners]) l(changes);
    return this.rev;
  }

  txn(ops: Op[]): bigint {
    return this.publishMany([ops]);
  }
  put(key: string, value: string): bigint {
    return this.txn([{ put: [key, value] }]);
  }
  del(key: string, end?: string): bigint {
    return this.txn([{ del: [key, end] }]);
  }

  compact(rev: bigint): void {
    if (rev <= this.compacted || rev > this.rev) throw new Error(`bad compaction ${rev}`);
    this.compacted = rev;
  }

  private apply(ops: Op[]): Change | undefined {
    const rev = this.rev + 1n;
    const events: mvccpb.Event[] = [];
    for (const op of ops) {
      if ('put' in op) {
        const key = Buffer.from(op.put[0], 'latin1');
        const prev = this.latest.get(bin(key));
        const kv: mvccpb.KeyValue = {
          key,
          value: Buffer.from(op.put[1]),
          createRevision: prev ? prev.createRevision : rev,
          modRevision: rev,
          version: prev ? prev.version + 1n : 1n,
          lease: 0n,
        };
        this.latest.set(bin(key), kv);
        events.push({ type: mvccpb.Event_EventType.PUT, kv, prevKv: undefined });
      } else {
        const [k, e] = op.del;
        const keys = [...this.latest.keys()].filter((x) => (e === undefined ? x === k : x >= k && (e === '\0' || x < e))).sort();
        for (const x of keys) {
          this.latest.delete(x);
          const kv = mvccpb.KeyValue.fromPartial({ key: Buffer.from(x, 'latin1'), modRevision: rev });
          events.push({ type: mvccpb.Event_EventType.DELETE, kv, prevKv: undefined });
        }
      }
    }
    if (events.length === 0) return undefined;
    this.rev = rev;
    const ch = { rev, events };
    this.log.push(ch);
    return ch;
  }

  async range(
    key: Buffer,
    end: Buffer | undefined,
    o: { rev?: bigint } = {},
  ): Promise<{ kvs: mvccpb.KeyValue[]; count: number; rev: bigint }> {
    await Promise.resolve();
    const at = o.rev && o.rev > 0n ? o.rev : this.rev;
    if (at < this.compacted) throw new Error('mvcc: required revision has been compacted');
    const state = new Map<string, mvccpb.KeyValue>();
    for (const { rev, events } of this.log) {
      if (rev > at) break;
      for (const ev of events) {
        if (ev.type === mvccpb.Event_EventType.PUT) state.set(bin(ev.kv!.key), ev.kv!);
        else state.delete(bin(ev.kv!.key));
      }
    }
    const k = bin(key);
    const kvs = [...state.entries()]
      .filter(([x]) => (end === undefined ? x === k : x >= k && (bin(end) === '\0' || x < bin(end))))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, v]) => v);
    return { kvs, count: kvs.length, rev: this.rev };
  }

  async *history(fromRev: bigint, toRev: bigint): AsyncIterable<Change> {
    this.historyCalls.push([fromRev, toRev]);
    if (fromRev < this.compacted) throw new Error('mvcc: required revision has been compacted');
    // snapshot first, like a LevelDB iterator
    const snap = this.log.filter((c) => c.rev >= fromRev && c.rev <= toRev);
    for (const c of snap) {
      await this.historyStep(c.rev);
      yield c;
    }
  }
}

/** A scheduler that only records tasks; tests drive rounds with syncOnce(). */
export function manualScheduler(): { scheduler: SyncScheduler; pending(): number; runAll(): void } {
  const tasks = new Set<() => void>();
  return {
    scheduler: (task) => {
      tasks.add(task);
      return () => tasks.delete(task);
    },
    pending: () => tasks.size,
    runAll: () => {
      const ts = [...tasks];
      tasks.clear();
      for (const t of ts) t();
    },
  };
}

/** The test kit's seeded generator (a float in [0, 1) per call). */
export { prng } from '@kv/testkit';

/** Lets pending promise chains and setImmediate callbacks run. */
export function tick(): Promise<void> {
  return new Promise((r) => setImmediate(r));
}

// List-append transactions over several keys (Elle's workload). A key's value is a comma list of
// numbers. A txn with appends reads its keys in one read-only txn, then commits the new lists in a
// txn guarded by the mod revision of every key it touches (0 = absent): the guard failing means the
// txn did not happen (`fail`); succeeding means it took effect at one revision, its reads included.
import { compare, Op as KvOp } from '@kv/client';
import type { MicroOp } from '@kv/check';
import { parseList } from '@kv/check';
import { Keys, perform, str, type Ctx } from './context.js';
import { WorkersWorkload, type Worker } from './workers.js';

export class AppendWorkload extends WorkersWorkload {
  readonly name = 'append';
  readonly keys = new Keys('app/', 4, 150);
  private readonly next = new Map<string, number>();
  constructor(ctx: Ctx, workers = 3, firstClient = 0) {
    super(ctx, workers, firstClient);
  }

  protected async step({ rng, client, proc }: Worker<undefined>): Promise<number> {
    const { ctx } = this;
    const n = rng.int(1, 3);
    const mops: MicroOp[] = [];
    for (let i = 0; i < n; i++) {
      const key = this.keys.pick(rng);
      if (rng.next() < 0.5) {
        const v = (this.next.get(key) ?? 0) + 1;
        this.next.set(key, v);
        mops.push({ f: 'append', key, value: v });
      } else mops.push({ f: 'r', key, value: null });
    }
    const keys = [...new Set(mops.map((m) => m.key))];
    const readOnly = mops.every((m) => m.f === 'r');
    const t = { timeoutMs: ctx.opTimeoutMs };
    await perform(ctx, proc, 'txn', { value: mops }, readOnly, async () => {
      const snap = await client
        .txn()
        .then(...keys.map((k) => KvOp.get(k)))
        .commit(t);
      const state = new Map<string, number[]>();
      const mod = new Map<string, bigint>();
      keys.forEach((k, i) => {
        const kv = snap.responses[i]!.responseRange!.kvs[0];
        state.set(k, parseList(str(kv?.value)));
        mod.set(k, kv?.modRevision ?? 0n);
      });
      const done: MicroOp[] = mops.map((m) => {
        const l = state.get(m.key)!;
        if (m.f === 'append') {
          l.push(m.value);
          return m;
        }
        return { f: 'r', key: m.key, value: [...l] };
      });
      if (readOnly) return { type: 'ok', value: done, revision: Number(snap.header!.revision) };
      const written = [...new Set(mops.filter((m) => m.f === 'append').map((m) => m.key))];
      const res = await client
        .txn()
        .if(...keys.map((k) => compare(k, 'mod', '=', mod.get(k)!)))
        .then(...written.map((k) => KvOp.put(k, state.get(k)!.join(','))))
        .commit(t);
      if (!res.succeeded) return { type: 'fail', error: 'a key changed since it was read' };
      return { type: 'ok', value: done, revision: Number(res.header!.revision) };
    });
    return rng.int(0, 20);
  }
}

// Single-key registers: read / write / cas over rotating keys, checked for linearizability.
import { compare, Op as KvOp } from '@kv/client';
import { Keys, perform, str, type Ctx } from './context.js';
import { WorkersWorkload, type Worker } from './workers.js';

/** Per worker: the value it last read of each key (the `from` of its next cas on that key). */
type LastSeen = Map<string, string | null>;

export class RegisterWorkload extends WorkersWorkload<LastSeen> {
  readonly name = 'register';
  readonly keys = new Keys('reg/', 3, 120);
  private seq = 0;
  constructor(
    ctx: Ctx,
    workers = 4,
    firstClient = 0,
    /** Self-test: serializable reads (any member's local state) are not linearizable. */
    private readonly serializableReads = false,
  ) {
    super(ctx, workers, firstClient);
  }

  protected override workerState(): LastSeen {
    return new Map();
  }

  protected async step({ index: w, rng, client, proc, state: lastSeen }: Worker<LastSeen>): Promise<number> {
    const { ctx } = this;
    const key = this.keys.pick(rng);
    const r = rng.next();
    const t = { timeoutMs: ctx.opTimeoutMs };
    if (r < 0.5) {
      await perform(ctx, proc, 'read', { key }, true, async () => {
        const res = await client.get(key, { ...t, serializable: this.serializableReads });
        const v = str(res.kvs[0]?.value);
        lastSeen.set(key, v);
        return { type: 'ok', value: v, revision: Number(res.header!.revision) };
      });
    } else if (r < 0.75) {
      const value = `${w}.${++this.seq}`;
      await perform(ctx, proc, 'write', { key, value }, false, async () => {
        const res = await client.put(key, value, t);
        return { type: 'ok', revision: Number(res.header!.revision) };
      });
    } else {
      const from = lastSeen.get(key) ?? null;
      const to = `${w}.${++this.seq}`;
      await perform(ctx, proc, 'cas', { key, value: [from, to] }, false, async () => {
        const cmp = from === null ? compare(key, 'create', '=', 0) : compare(key, 'value', '=', from);
        const res = await client.txn().if(cmp).then(KvOp.put(key, to)).commit(t);
        if (!res.succeeded) return { type: 'fail', error: 'compare failed' };
        return { type: 'ok', revision: Number(res.header!.revision) };
      });
    }
    return rng.int(0, 20);
  }
}

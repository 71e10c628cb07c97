// Single-key registers: read / write / cas over rotating keys, checked for linearizability.
import { compare, Op as KvOp } from '@kv/client';
import { Keys, perform, Proc, str, type Ctx, type Workload } from './context.js';
import { sleep } from './rng.js';

export class RegisterWorkload implements Workload {
  readonly name = 'register';
  readonly keys = new Keys('reg/', 3, 120);
  private seq = 0;
  constructor(
    private readonly ctx: Ctx,
    private readonly workers = 4,
    private readonly firstClient = 0,
    /** Self-test: serializable reads (any member's local state) are not linearizable. */
    private readonly serializableReads = false,
  ) {}

  run(): Promise<void> {
    return Promise.all(Array.from({ length: this.workers }, (_, w) => this.worker(w))).then(() => undefined);
  }

  private async worker(w: number): Promise<void> {
    const { ctx } = this;
    const rng = ctx.rng.fork();
    const client = ctx.client(this.firstClient + w);
    const proc = new Proc(ctx);
    const lastSeen = new Map<string, string | null>();
    while (!ctx.signal.aborted) {
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
      await sleep(rng.int(0, 20), ctx.signal);
    }
  }
}

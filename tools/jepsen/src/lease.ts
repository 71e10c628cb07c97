// Leases with attached keys: granters take a short lease, attach two keys, renew it a few times,
// then revoke it or let it expire; readers read those keys and note the lease they are attached to.
// Checked: no key outlives its lease (TTL + an election timeout after the last renewal or leader
// change), no lease revoked twice (both keys of a lease go in one revision).
import { perform, Proc, str, type Ctx, type Workload } from './context.js';
import { sleep } from './rng.js';

export const LEASE_TTL_S = 2;

export class LeaseWorkload implements Workload {
  readonly name = 'lease';
  /** Keys attached recently (readers pick among them). */
  private readonly recent: string[] = [];
  constructor(
    private readonly ctx: Ctx,
    private readonly granters = 2,
    private readonly readers = 1,
    private readonly firstClient = 0,
  ) {}

  run(): Promise<void> {
    const g = Array.from({ length: this.granters }, (_, w) => this.granter(w));
    const r = Array.from({ length: this.readers }, (_, w) => this.reader(this.granters + w));
    return Promise.all([...g, ...r]).then(() => undefined);
  }

  private async granter(w: number): Promise<void> {
    const { ctx } = this;
    const rng = ctx.rng.fork();
    const client = ctx.client(this.firstClient + w);
    const proc = new Proc(ctx);
    const t = { timeoutMs: ctx.opTimeoutMs };
    while (!ctx.signal.aborted) {
      const g = await perform(ctx, proc, 'grant', { value: { ttl: LEASE_TTL_S } }, false, async () => {
        const r = await client.lease.grant(LEASE_TTL_S, t);
        return { type: 'ok', value: { id: r.ID.toString(), ttl: Number(r.TTL) } };
      });
      if (g.type !== 'ok') {
        await sleep(200, ctx.signal);
        continue;
      }
      const id = (g.value as { id: string }).id;
      for (const suffix of ['a', 'b']) {
        const key = `lease/${id}/${suffix}`;
        const p = await perform(ctx, proc, 'put', { key, value: id, lease: id }, false, async () => {
          const r = await client.put(key, id, { ...t, lease: BigInt(id) });
          return { type: 'ok', revision: Number(r.header!.revision) };
        });
        if (p.type === 'ok') {
          this.recent.push(key);
          if (this.recent.length > 20) this.recent.shift();
        }
      }
      for (let i = rng.int(0, 3); i > 0 && !ctx.signal.aborted; i--) {
        await sleep(rng.int(300, 900), ctx.signal);
        await perform(ctx, proc, 'keepalive', { value: { id } }, false, async () => {
          const r = await client.lease.keepAliveOnce(BigInt(id), t);
          return { type: 'ok', value: { id, ttl: Number(r.TTL) } };
        });
      }
      if (rng.next() < 0.5) {
        await perform(ctx, proc, 'revoke', { value: { id } }, false, async () => {
          await client.lease.revoke(BigInt(id), t);
          return { type: 'ok' };
        });
      }
      await sleep(rng.int(100, 400), ctx.signal);
    }
  }

  private async reader(w: number): Promise<void> {
    const { ctx } = this;
    const rng = ctx.rng.fork();
    const client = ctx.client(this.firstClient + w);
    const proc = new Proc(ctx);
    while (!ctx.signal.aborted) {
      if (this.recent.length === 0) {
        await sleep(100, ctx.signal);
        continue;
      }
      const key = rng.pick(this.recent);
      await perform(ctx, proc, 'get', { key }, true, async () => {
        const r = await client.get(key, { timeoutMs: ctx.opTimeoutMs });
        const kv = r.kvs[0];
        return kv === undefined ? { type: 'ok', value: null } : { type: 'ok', value: str(kv.value), lease: kv.lease.toString() };
      });
      await sleep(rng.int(50, 150), ctx.signal);
    }
  }
}

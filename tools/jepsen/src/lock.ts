// etcd's lock recipe on the client side (clientv3/concurrency Mutex): a session lease, a key
// lock/<name>/<lease> created under it, and the lock is held when that key has the lowest create
// revision under the prefix. Holders sometimes stall without renewing their lease for longer than
// its TTL (as a paused or partitioned client would): the lease expires, the next waiter takes the
// lock while the stalled one still believes it holds it. That is why this lock is not safe (as
// Jepsen found for etcd in 2020); overlaps are reported as expected anomalies.
import { compare, Op as KvOp, type Client } from '@kv/client';
import { perform, type Ctx } from './context.js';
import { sleep } from './rng.js';
import { WorkersWorkload, type Worker } from './workers.js';

const TTL_S = 2;
const PREFIX = 'lock/L/';

export class LockWorkload extends WorkersWorkload {
  readonly name = 'lock';
  constructor(ctx: Ctx, workers = 3, firstClient = 0) {
    super(ctx, workers, firstClient);
  }

  /** One session: grant a lease, acquire under it, hold (or stall past the lease), release, revoke. */
  protected async step({ rng, client, proc }: Worker<undefined>): Promise<number> {
    const { ctx } = this;
    let lease: bigint;
    try {
      lease = (await client.lease.grant(TTL_S, { timeoutMs: ctx.opTimeoutMs })).ID;
    } catch {
      return 300;
    }
    let renewing = true;
    const renew = (async () => {
      while (renewing && !ctx.signal.aborted) {
        await sleep(500, ctx.signal);
        if (renewing) await client.lease.keepAliveOnce(lease, { timeoutMs: 1000 }).catch(() => undefined);
      }
    })();
    const key = `${PREFIX}${lease.toString(16)}`;
    const acq = await perform(ctx, proc, 'acquire', { key: 'L' }, false, () => this.acquire(client, key, lease));
    if (acq.type === 'ok') {
      if (rng.next() < 0.25) {
        renewing = false; // the holder stalls past its lease
        await sleep(TTL_S * 1000 + ctx.electionTimeoutMs + 500, ctx.signal);
      } else await sleep(rng.int(100, 400), ctx.signal);
      await perform(ctx, proc, 'release', { key: 'L' }, false, async () => {
        await client.delete(key, { timeoutMs: ctx.opTimeoutMs });
        return { type: 'ok' };
      });
    }
    renewing = false;
    await renew;
    await client.lease.revoke(lease, { timeoutMs: ctx.opTimeoutMs }).catch(() => undefined);
    return rng.int(50, 200);
  }

  private async acquire(client: Client, key: string, lease: bigint): Promise<{ type: 'ok' } | { type: 'fail'; error: string }> {
    const t = { timeoutMs: this.ctx.opTimeoutMs };
    await client
      .txn()
      .if(compare(key, 'create', '=', 0))
      .then(KvOp.put(key, '', { lease }))
      .commit(t);
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && !this.ctx.signal.aborted) {
      const r = await client.getPrefix(PREFIX, { ...t, sortTarget: 'create', sortOrder: 'ascend', limit: 1 });
      const first = r.kvs[0];
      if (first === undefined) throw new Error('own lock key vanished (lease expired while waiting)');
      if (Buffer.from(first.key).toString() === key) return { type: 'ok' };
      await sleep(50, this.ctx.signal);
    }
    throw new Error('lock not acquired in time');
  }
}

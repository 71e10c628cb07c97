// The shape shared by the workloads made of identical workers (register, append, lock): worker w
// runs on its own client (ctx.client(firstClient + w)) with its own forked generator and process,
// and repeats one step until the workload phase ends, pausing between steps as the step says.
import type { Client } from '@kv/client';
import { Proc, type Ctx, type Workload } from './context.js';
import { sleep, type Rng } from './rng.js';

/** What one worker is given; `state` is the workload's per-worker state (workerState()). */
export interface Worker<S> {
  readonly index: number;
  readonly rng: Rng;
  readonly client: Client;
  readonly proc: Proc;
  readonly state: S;
}

export abstract class WorkersWorkload<S = undefined> implements Workload {
  abstract readonly name: string;
  constructor(
    protected readonly ctx: Ctx,
    protected readonly workers: number,
    protected readonly firstClient = 0,
  ) {}

  /** Runs every worker until ctx.signal aborts. */
  run(): Promise<void> {
    // Invariant: each worker's prologue (fork, client, process) runs synchronously here, in worker
    // order, so one seed gives each worker the same generator and process id on every run.
    const workers = Array.from({ length: this.workers }, (_, index): Worker<S> => {
      const rng = this.ctx.rng.fork();
      const client = this.ctx.client(this.firstClient + index);
      const proc = new Proc(this.ctx);
      return { index, rng, client, proc, state: this.workerState() };
    });
    return Promise.all(workers.map((w) => this.loop(w))).then(() => undefined);
  }

  /** A fresh per-worker state (default none). */
  protected workerState(): S {
    return undefined as S;
  }

  /** One step of worker `w` (one or a few operations); resolves with the pause before the next (ms). */
  protected abstract step(w: Worker<S>): Promise<number>;

  private async loop(w: Worker<S>): Promise<void> {
    while (!this.ctx.signal.aborted) {
      const pauseMs = await this.step(w);
      await sleep(pauseMs, this.ctx.signal);
    }
  }
}

// The log of a single-member cluster: a proposal is committed as soon as it is durable on this
// member, so the log is just an ordering of proposals, applied in groups ("group commit"): every
// proposal waiting when a group starts is applied into one backend batch, fsynced once, then
// published and answered together.
//
// Invariants:
// - Indexes are assigned consecutively from the consistent index restored from the backend, so
//   the backend's consistent index always names the last entry whose effects it holds.
// - A proposal is answered only after its batch has been committed (fsynced unless
//   --unsafe-no-fsync), and readers see its effects only after that too (publish).
// - One group at a time: groups commit and publish in index order.
import { etcdserverpb } from '@kv/api';
import type { Backend, KVStore } from '@kv/mvcc';
import type { Logger } from 'pino';
import type { ApplyResult, Applier } from '../apply/applier.js';
import { applyGroup } from '../apply/apply_group.js';
import { RpcError } from '../errors.js';
import type { Consensus } from './consensus.js';

interface Pending {
  req: etcdserverpb.InternalRaftRequest;
  resolve: (r: ApplyResult) => void;
  reject: (err: unknown) => void;
}

export interface LocalLogOptions {
  memberId: bigint;
  backend: Backend;
  store: KVStore;
  applier: Applier;
  logger: Logger;
  sync: boolean;
  /** Proposals larger than this (encoded) are refused with 'request is too large'. */
  maxRequestBytes: number;
  /** Proposals waiting at once before 'too many requests' (etcd's maxGapBetweenApplyAndCommitIndex). */
  maxPending: number;
  /** Called when the backend cannot commit: the member must stop (its state is unknown). */
  onFatal: (err: unknown) => void;
}

/** Largest group applied in one batch. */
const maxGroup = 1000;

export class LocalLog implements Consensus {
  private queue: Pending[] = [];
  private draining?: Promise<void>;
  private index: bigint;
  private stopped = false;
  private readonly term_ = 1n;

  constructor(private readonly o: LocalLogOptions) {
    this.index = o.store.consistentIndex();
  }

  async start(): Promise<void> {}

  leader(): bigint {
    return this.stopped ? 0n : this.o.memberId;
  }
  term(): bigint {
    return this.term_;
  }
  commitIndex(): bigint {
    return this.index;
  }
  appliedIndex(): bigint {
    return this.index;
  }

  async readBarrier(): Promise<void> {
    // Every acknowledged write is already published: the local state is linearizable.
    if (this.stopped) throw new RpcError('Stopped');
  }

  propose(req: etcdserverpb.InternalRaftRequest): Promise<ApplyResult> {
    if (this.stopped) return Promise.reject(new RpcError('Stopped'));
    const size = etcdserverpb.InternalRaftRequest.encode(req).finish().length;
    if (size > this.o.maxRequestBytes) return Promise.reject(new RpcError('RequestTooLarge'));
    if (this.queue.length >= this.o.maxPending) return Promise.reject(new RpcError('TooManyRequests'));
    return new Promise<ApplyResult>((resolve, reject) => {
      this.queue.push({ req, resolve, reject });
      if (!this.draining) this.draining = this.drain().finally(() => (this.draining = undefined));
    });
  }

  private async drain(): Promise<void> {
    // Let the proposals of this tick of the event loop join the group.
    await new Promise<void>((r) => setImmediate(r));
    while (this.queue.length > 0) {
      const group = this.queue.splice(0, maxGroup);
      const first = this.index + 1n;
      this.index += BigInt(group.length);
      let results: (ApplyResult | undefined)[];
      try {
        results = await applyGroup(
          { backend: this.o.backend, store: this.o.store, applier: this.o.applier, sync: this.o.sync },
          group.map((p, i) => ({ index: first + BigInt(i), req: p.req })),
        );
      } catch (err) {
        this.o.logger.fatal({ err }, 'backend commit failed; stopping');
        for (const p of group) p.reject(new RpcError('Stopped'));
        this.stopped = true;
        this.o.onFatal(err);
        return;
      }
      group.forEach((p, i) => p.resolve(results[i] ?? {}));
    }
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.draining;
    for (const p of this.queue.splice(0)) p.reject(new RpcError('Stopped'));
  }
}

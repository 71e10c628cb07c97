// Watchers over the whole key space, each reopened every few seconds from a revision a little in
// the past (some with prev_kv, a delete filter, progress notifications); the client resumes a
// watcher by itself after a member fails. Every response is recorded, then checked against the
// final history of the cluster (every revision's events) with etcd's watch guarantees.
import { CompactedError, type Client } from '@kv/client';
import type { mvccpb } from '@kv/api';
import type { RevisionEvents, WatchEvent, WatchKv, WatchRequest, WatchStream } from '@kv/check';
import type { Ctx, Workload } from './context.js';
import { sleep } from './rng.js';

function kvOf(kv: mvccpb.KeyValue): WatchKv {
  const out: WatchKv = {
    key: Buffer.from(kv.key).toString(),
    value: kv.createRevision === 0n && kv.version === 0n ? null : Buffer.from(kv.value).toString(),
    createRevision: Number(kv.createRevision),
    modRevision: Number(kv.modRevision),
    version: Number(kv.version),
  };
  if (kv.lease !== 0n) out.lease = kv.lease.toString();
  return out;
}

export function eventOf(e: mvccpb.Event): WatchEvent {
  const ev: WatchEvent = { type: e.type === 1 ? 'delete' : 'put', kv: kvOf(e.kv!) };
  if (ev.type === 'delete') ev.kv.value = null;
  if (e.prevKv) ev.prevKv = kvOf(e.prevKv);
  return ev;
}

export class WatchWorkload implements Workload {
  readonly name = 'watch';
  readonly streams: WatchStream[] = [];
  private nextId = 0;
  constructor(
    private readonly ctx: Ctx,
    private readonly watchers = 3,
    private readonly firstClient = 0,
  ) {}

  run(): Promise<void> {
    return Promise.all(Array.from({ length: this.watchers }, (_, w) => this.worker(w))).then(() => undefined);
  }

  private async worker(w: number): Promise<void> {
    const { ctx } = this;
    const rng = ctx.rng.fork();
    const client = ctx.client(this.firstClient + w);
    while (!ctx.signal.aborted) {
      let rev: number;
      try {
        rev = Number((await client.get('probe', { timeoutMs: ctx.opTimeoutMs })).header!.revision);
      } catch {
        await sleep(200, ctx.signal);
        continue;
      }
      const request: WatchRequest = { key: '\0', rangeEnd: '\0', startRevision: Math.max(1, rev - rng.int(0, 30)) };
      if (rng.next() < 0.5) request.prevKv = true;
      if (rng.next() < 0.2) request.filters = ['nodelete'];
      if (rng.next() < 0.3) request.progressNotify = true;
      await this.stream(client, request, rng.int(3_000, 10_000));
    }
  }

  private async stream(client: Client, request: WatchRequest, forMs: number): Promise<void> {
    const { ctx } = this;
    const s: WatchStream = { watcher: this.nextId++, request, openedAt: ctx.now(), responses: [] };
    this.streams.push(s);
    const watcher = client.watch('\0', {
      fromKey: true,
      startRevision: request.startRevision,
      prevKv: request.prevKv ?? false,
      noDelete: request.filters?.includes('nodelete') ?? false,
      progressNotify: request.progressNotify ?? false,
    });
    const stop = (): void => watcher.cancel();
    const timer = setTimeout(stop, forMs);
    ctx.signal.addEventListener('abort', stop, { once: true });
    try {
      for await (const r of watcher) {
        s.responses.push({
          time: ctx.now(),
          revision: Number(r.header?.revision ?? 0n),
          events: r.events.map(eventOf),
          ...(r.events.length === 0 ? { progressNotify: true } : {}),
        });
      }
    } catch (err) {
      if (err instanceof CompactedError)
        s.responses.push({ time: ctx.now(), revision: 0, events: [], compactRevision: Number(err.compactRevision ?? 0) });
      else s.responses.push({ time: ctx.now(), revision: 0, events: [], canceled: true });
    } finally {
      clearTimeout(timer);
      ctx.signal.removeEventListener('abort', stop);
    }
  }
}

/** The cluster's whole history, replayed by a watch from revision 1 up to `last`. */
export async function replayHistory(client: Client, last: number, timeoutMs = 60_000): Promise<RevisionEvents[]> {
  const byRev = new Map<number, WatchEvent[]>();
  if (last < 2) return [];
  const watcher = client.watch('\0', { fromKey: true, startRevision: 1 });
  const timer = setTimeout(() => watcher.cancel(), timeoutMs);
  try {
    for await (const r of watcher) {
      let top = 0;
      for (const e of r.events) {
        const ev = eventOf(e);
        const l = byRev.get(ev.kv.modRevision) ?? [];
        l.push(ev);
        byRev.set(ev.kv.modRevision, l);
        top = Math.max(top, ev.kv.modRevision);
      }
      if (top >= last) break;
    }
  } finally {
    clearTimeout(timer);
    watcher.cancel();
  }
  return [...byRev.entries()].sort((a, b) => a[0] - b[0]).map(([revision, events]) => ({ revision, events }));
}

// Election service (etcd's v3election): candidates put `name/<lease hex>` with their lease; the key
// with the lowest create revision under `name/` is the leader and its value the proclaimed value.
// Campaign waits to become leader, Proclaim rewrites the leader's value, Resign deletes its key,
// Leader reads the current one and Observe streams the current leader and every later change.
import { etcdserverpb, mvccpb, v3electionpb } from '@kv/api';
import type { WatchResponse } from '@kv/mvcc';
import type { Metadata, ServerWritableStream } from '@grpc/grpc-js';
import { toServiceError } from '../errors.js';
import type { Member } from '../member.js';
import { endStream } from './require_leader.js';
import {
  AbortedError,
  byCreate,
  callSignal,
  createdAt,
  defaultSessionTtl,
  leaseHex,
  memberKv,
  prefixEnd,
  RecipeError,
  recipeUnary,
  waitDeletes,
  type RecipeKv,
  type RecipeWatch,
} from './recipe_kv.js';

/** etcd's concurrency election errors and v3election.ErrMissingLeaderKey. */
export const ElectionErrorText = {
  NotLeader: 'election: not leader',
  NoLeader: 'election: no leader',
  MissingLeaderKey: '"leader" field must be provided',
} as const;

type ObserveStream = ServerWritableStream<v3electionpb.LeaderRequest, v3electionpb.LeaderResponse>;

export interface ElectionServiceHooks {
  /**
   * An extra signal per Observe stream (e.g. require-leader). When it aborts, the stream ends:
   * with `reason` as its status when the reason is an Error (toServiceError's mapping: an
   * RpcError('NoLeader') gives UNAVAILABLE `etcdserver: no leader`, as etcd's interceptor), else OK.
   */
  observeAbort?: (call: ObserveStream) => AbortSignal | undefined;
}

const { ASCEND } = etcdserverpb.RangeRequest_SortOrder;

function withSlash(name: Buffer): Buffer {
  return Buffer.concat([name, Buffer.from('/')]);
}

/** Proclaim as the holder of (key, rev): etcd's Election.Proclaim after ResumeElection. */
export async function proclaim(
  kv: RecipeKv,
  leader: v3electionpb.LeaderKey | undefined,
  value: Buffer,
): Promise<etcdserverpb.ResponseHeader> {
  if (!leader) throw new RecipeError(ElectionErrorText.MissingLeaderKey);
  const resp = await kv.txn({
    compare: [createdAt(leader.key, leader.rev)],
    success: [{ requestPut: etcdserverpb.PutRequest.fromPartial({ key: leader.key, value, lease: leader.lease }) }],
  });
  if (!resp.succeeded) throw new RecipeError(ElectionErrorText.NotLeader);
  return resp.header ?? kv.header(0n);
}

/** Resign as the holder of (key, rev); not being the leader is no error (etcd). */
export async function resign(kv: RecipeKv, leader: v3electionpb.LeaderKey | undefined): Promise<etcdserverpb.ResponseHeader> {
  if (!leader) throw new RecipeError(ElectionErrorText.MissingLeaderKey);
  const resp = await kv.txn({
    compare: [createdAt(leader.key, leader.rev)],
    success: [{ requestDeleteRange: etcdserverpb.DeleteRangeRequest.fromPartial({ key: leader.key }) }],
  });
  return resp.header ?? kv.header(0n);
}

/**
 * etcd's Election.Campaign with the session's lease (a new, not kept-alive 60 s lease when 0).
 * Invariant: a campaign ended by its caller (signal) resigns, so it blocks no later candidate.
 */
export async function campaign(
  kv: RecipeKv,
  req: v3electionpb.CampaignRequest,
  signal: AbortSignal,
): Promise<v3electionpb.CampaignResponse> {
  const id = req.lease === 0n ? await kv.grant(defaultSessionTtl) : req.lease;
  const prefix = withSlash(req.name);
  const key = Buffer.concat([prefix, Buffer.from(leaseHex(id))]);
  const resp = await kv.txn({
    compare: [createdAt(key, 0n)],
    success: [{ requestPut: etcdserverpb.PutRequest.fromPartial({ key, value: req.value, lease: id }) }],
    failure: [{ requestRange: etcdserverpb.RangeRequest.fromPartial({ key }) }],
  });
  const header = resp.header ?? kv.header(0n);
  const leader: v3electionpb.LeaderKey = { name: req.name, key, rev: header.revision, lease: id };
  if (!resp.succeeded) {
    const existing = resp.responses[0]?.responseRange?.kvs[0];
    if (existing) {
      leader.rev = existing.createRevision;
      if (Buffer.compare(existing.value, req.value) !== 0) {
        try {
          await proclaim(kv, leader, req.value);
        } catch (err) {
          await resign(kv, leader).catch(() => undefined);
          throw err;
        }
      }
    }
  }
  try {
    await waitDeletes(kv, prefix, leader.rev - 1n, key, signal);
  } catch (err) {
    if (err instanceof AbortedError) await resign(kv, leader).catch(() => undefined);
    throw err;
  }
  return { header, leader };
}

export async function currentLeader(kv: RecipeKv, name: Buffer): Promise<v3electionpb.LeaderResponse> {
  const resp = await kv.range(byCreate(withSlash(name), ASCEND));
  if (resp.kvs.length === 0) throw new RecipeError(ElectionErrorText.NoLeader);
  return { header: resp.header, kv: resp.kvs[0] };
}

/** Watch responses as an async queue of bounded length (the store's stream pauses when it is full). */
class WatchQueue {
  private static readonly max = 16;
  private readonly items: WatchResponse[] = [];
  private wake?: () => void;
  private readonly w: RecipeWatch;
  private readonly onAbort = () => this.wake?.();

  constructor(
    kv: RecipeKv,
    specs: Parameters<RecipeKv['watch']>[0],
    private readonly signal: AbortSignal,
  ) {
    this.w = kv.watch(specs, (r) => {
      this.items.push(r);
      this.wake?.();
      return this.items.length < WatchQueue.max;
    });
    signal.addEventListener('abort', this.onAbort, { once: true });
  }

  /** The next response; throws AbortedError once the signal fired. */
  async next(): Promise<WatchResponse> {
    while (this.items.length === 0) {
      if (this.signal.aborted) throw new AbortedError(this.signal.reason);
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
      this.wake = undefined;
    }
    if (this.signal.aborted) throw new AbortedError(this.signal.reason);
    const r = this.items.shift() as WatchResponse;
    if (this.items.length === WatchQueue.max - 1) this.w.resume();
    return r;
  }

  close(): void {
    this.signal.removeEventListener('abort', this.onAbort);
    this.w.close();
  }
}

/**
 * etcd's Election.observe: send the current leader (waiting for a first candidate if there is
 * none), then each new value of that leader key until it is deleted, then the next leader, and so
 * on. Resolves when the watch reports compaction (etcd closes the channel then); rejects with
 * AbortedError when the signal fires. Every watcher is closed before the next one is opened.
 */
export async function observe(
  kv: RecipeKv,
  name: Buffer,
  signal: AbortSignal,
  send: (resp: v3electionpb.LeaderResponse) => Promise<void>,
): Promise<void> {
  const prefix = withSlash(name);
  for (;;) {
    if (signal.aborted) throw new AbortedError(signal.reason);
    const resp = await kv.range(byCreate(prefix, ASCEND));
    let leader: mvccpb.KeyValue | undefined = resp.kvs[0];
    let header = resp.header ?? kv.header(0n);
    if (!leader) {
      // Wait for the first put under the prefix; deletes are skipped.
      const q = new WatchQueue(kv, [{ key: prefix, end: prefixEnd(prefix), startRev: header.revision + 1n }], signal);
      try {
        while (!leader) {
          const r = await q.next();
          if (r.compactRevision > 0n) return;
          const put = r.events.find((e) => e.type === mvccpb.Event_EventType.PUT);
          if (put?.kv) {
            leader = put.kv;
            header = { ...kv.header(r.revision), revision: put.kv.modRevision };
          }
        }
      } finally {
        q.close();
      }
    }
    await send({ header, kv: leader });
    const q = new WatchQueue(kv, [{ key: leader.key, startRev: header.revision + 1n }], signal);
    try {
      let deleted = false;
      while (!deleted) {
        const r = await q.next();
        if (r.compactRevision > 0n) return;
        for (const ev of r.events) {
          if (ev.type === mvccpb.Event_EventType.DELETE) {
            deleted = true;
            break;
          }
          await send({ header: kv.header(r.revision), kv: ev.kv });
        }
      }
    } finally {
      q.close();
    }
  }
}

/** Writes to the stream, waiting for 'drain' when grpc-js buffers (so a slow reader bounds us). */
function streamSender(stream: ObserveStream, signal: AbortSignal) {
  return async (resp: v3electionpb.LeaderResponse): Promise<void> => {
    if (signal.aborted) throw new AbortedError(signal.reason);
    if (stream.write(resp)) return;
    await new Promise<void>((resolve) => {
      const done = () => {
        stream.off('drain', done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      stream.on('drain', done);
      signal.addEventListener('abort', done, { once: true });
    });
  };
}

/** `kvFor` gives the recipes' KV acting as the call's user (its metadata's token). */
export function electionService(
  m: Member,
  hooks: ElectionServiceHooks = {},
  kvFor: (metadata: Metadata) => RecipeKv = (md) => memberKv(m, md),
): v3electionpb.ElectionServer {
  return {
    campaign: recipeUnary((req: v3electionpb.CampaignRequest, signal, md) => campaign(kvFor(md), req, signal)),
    proclaim: recipeUnary(async (req: v3electionpb.ProclaimRequest, _s, md) => ({
      header: await proclaim(kvFor(md), req.leader, req.value),
    })),
    resign: recipeUnary(async (req: v3electionpb.ResignRequest, _s, md) => ({ header: await resign(kvFor(md), req.leader) })),
    leader: recipeUnary((req: v3electionpb.LeaderRequest, _s, md) => currentLeader(kvFor(md), req.name)),
    observe(stream: ObserveStream) {
      const signal = callSignal(stream, hooks.observeAbort?.(stream));
      let kv: RecipeKv;
      try {
        kv = kvFor(stream.metadata);
      } catch (err) {
        endStream(stream, toServiceError(err)); // an invalid token: refused with its status
        return;
      }
      observe(kv, stream.request.name, signal, streamSender(stream, signal)).then(
        () => {
          if (!stream.writableEnded) stream.end();
        },
        (err) => {
          // Cancelled by the client, or already ended from this side (require-leader): nothing to send.
          if (stream.cancelled || stream.writableEnded || stream.destroyed) return;
          const reason = err instanceof AbortedError ? err.reason : err;
          // A hook's Error reason becomes the status; a plain stop (no Error) ends the stream OK.
          if (err instanceof AbortedError && !(reason instanceof Error)) stream.end();
          // endStream, not destroy(err): a destroyed grpc-js stream never sends its status.
          else if (err instanceof AbortedError) endStream(stream, toServiceError(reason));
          else stream.end(); // as etcd: a failed read or watch closes the observe channel, status OK
        },
      );
    },
  };
}

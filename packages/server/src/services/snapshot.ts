// Maintenance.Snapshot: the backend as etcd 3.4's bbolt database file, streamed as etcd streams it.
//
// Contents: a consistent point-in-time view of the backend (one LevelDB snapshot) mapped onto
// etcd's buckets by @kv/mvcc's planEtcdBackup (kv's digest left out, the cluster version added),
// so `etcdctl snapshot save` writes a file that `etcdctl snapshot status`, `etcdctl snapshot
// restore` (and a real etcd on it) and `kvctl snapshot restore` take.
//
// Wire shape (etcd 3.4's v3rpc/maintenance.go): 32 KiB blobs, each with remaining_bytes = bytes
// still to come after it, then one last message whose blob is the sha256 of all blobs before it
// (remaining_bytes 0). A bbolt file is whole pages, so the stream is 32 bytes past a multiple of
// 512, which is etcdctl's check for the trailer.
//
// Memory: planBolt reads the view twice — once to plan the pages (it keeps each leaf page's
// first key and a few numbers), once to emit them — and pages are written only while the gRPC
// stream accepts more (write() false → wait for 'drain'), so a client that stops reading holds
// what HTTP/2 flow control and grpc-js's small write queue allow, not a copy of the backend. A
// cancelled or failed call closes the backend snapshot at once.
import type { etcdserverpb } from '@kv/api';
import type { ServerWritableStream } from '@grpc/grpc-js';
import { planEtcdBackup, type Backend, type Bucket } from '@kv/mvcc';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';

/** etcd's snapshotSendBufferSize. */
export const snapshotBlobBytes = 32 * 1024;
/** etcdctl's hasChecksum: (size % 512) == sha256.Size. */
const alignBytes = 512;

export interface SnapshotStreamOptions {
  /** Written as the cluster bucket's clusterVersion when the backend has none (e.g. "3.4.0"). */
  clusterVersion: string;
}

type SnapshotCall = ServerWritableStream<etcdserverpb.SnapshotRequest, etcdserverpb.SnapshotResponse>;

/** Resolves true once `call` accepts more writes, false if it is cancelled or closed first. */
function accepting(call: SnapshotCall): Promise<boolean> {
  if (call.cancelled || call.destroyed) return Promise.resolve(false);
  return new Promise((resolve) => {
    const settle = (v: boolean) => () => {
      call.off('drain', onDrain);
      call.off('close', onGone);
      call.off('cancelled', onGone);
      resolve(v);
    };
    const onDrain = settle(true);
    const onGone = settle(false);
    call.on('drain', onDrain);
    call.on('close', onGone);
    call.on('cancelled', onGone);
  });
}

/**
 * The planning pass reads the whole backend as fast as it can (it does not wait for the client),
 * so concurrent Snapshot calls would each churn through a backend's worth of buffers at once:
 * planning passes over one backend run one after the other. Sending (the second pass, paced by
 * each client) is not serialized. A plan that fails or is abandoned frees the next one.
 */
const planning = new WeakMap<Backend, Promise<unknown>>();
function oneAtATime<T>(backend: Backend, f: () => Promise<T>): Promise<T> {
  const prev = planning.get(backend) ?? Promise.resolve();
  const run = prev.then(f, f);
  planning.set(
    backend,
    run.catch(() => undefined),
  );
  return run;
}

/** Thrown out of a pass over the backend when the call went away meanwhile. */
class CallGone extends Error {}

export type SnapshotOutcome = { sent: true; bytes: number } | { sent: false; bytes: number };

/**
 * Streams the backend's snapshot to `call` and ends it. Resolves with whether the whole stream
 * (and its hash) went out; a call that was cancelled resolves { sent: false }. Rejects on a
 * backend error (the caller turns it into a gRPC status).
 */
export async function sendSnapshot(
  backend: Backend,
  call: SnapshotCall,
  header: etcdserverpb.ResponseHeader,
  log: Logger,
  opts: SnapshotStreamOptions,
): Promise<SnapshotOutcome> {
  // As etcd's backend.Snapshot() commits its batch first: every commit called so far is in.
  await backend.settled();
  const reader = backend.openSnapshot();
  const gone = () => call.cancelled || call.destroyed;
  // The view planBolt reads: the reader's buckets, cut short once the call is gone, so that a
  // cancelled call does not finish a pass over the whole backend first.
  const view = {
    async *entries(bucket: Bucket): AsyncGenerator<[Buffer, Buffer]> {
      for await (const e of reader.entries(bucket)) {
        if (gone()) throw new CallGone();
        yield e;
      }
    },
  };
  let sent = 0;
  try {
    // Pass 1 (planning) before the first byte: the exact size is what remaining_bytes counts down.
    const plan = await oneAtATime(backend, () => planEtcdBackup(view, { clusterVersion: opts.clusterVersion }));
    if (gone()) return { sent: false, bytes: 0 };
    const total = plan.size;
    // Invariant: a bbolt file is whole pages (pageSize >= 1024), so no padding is ever needed.
    if (total % alignBytes !== 0) throw new Error(`snapshot: bbolt file of ${total} bytes is not whole pages`);
    log.info({ 'total-bytes': total }, 'sending database snapshot to client');
    const sha = createHash('sha256');
    // Writes one blob; false when the call is gone. Invariant: sent <= total.
    const send = async (blob: Buffer): Promise<boolean> => {
      if (call.cancelled || call.destroyed) return false;
      sha.update(blob);
      sent += blob.length;
      if (call.write({ header, remainingBytes: BigInt(total - sent), blob })) return true;
      return accepting(call);
    };
    // Re-cut the file's pages into 32 KiB blobs. Invariant: `held` is less than one blob, in
    // `parts` (the plan's page buffers are fresh per page, so holding them pins nothing else).
    let parts: Buffer[] = [];
    let held = 0;
    const cut = async (chunk: Buffer, final: boolean): Promise<boolean> => {
      if (chunk.length > 0) {
        parts.push(chunk);
        held += chunk.length;
      }
      if (held < snapshotBlobBytes && !(final && held > 0)) return true;
      let buf = Buffer.concat(parts, held);
      parts = [];
      held = 0;
      while (buf.length >= snapshotBlobBytes || (final && buf.length > 0)) {
        const blob = buf.subarray(0, snapshotBlobBytes);
        buf = buf.subarray(blob.length);
        if (!(await send(blob))) return false;
      }
      if (buf.length > 0) {
        parts.push(buf);
        held = buf.length;
      }
      return true;
    };
    for await (const chunk of plan.chunks()) {
      if (!(await cut(chunk, false))) return { sent: false, bytes: sent };
    }
    if (!(await cut(Buffer.alloc(0), true))) return { sent: false, bytes: sent };
    if (sent !== total) throw new Error(`snapshot stream was ${sent} bytes, expected ${total}`);
    if (call.cancelled || call.destroyed) return { sent: false, bytes: sent };
    log.info({ 'total-bytes': total, 'checksum-size': 32 }, 'sending database sha256 checksum to client');
    call.write({ header, remainingBytes: 0n, blob: sha.digest() });
    call.end();
    return { sent: true, bytes: sent };
  } catch (err) {
    if (err instanceof CallGone) return { sent: false, bytes: sent };
    throw err;
  } finally {
    await reader.close();
  }
}

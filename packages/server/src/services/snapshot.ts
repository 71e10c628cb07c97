// Maintenance.Snapshot: a consistent backend copy streamed as etcd 3.4 streams its bolt file.
//
// Wire shape (etcd 3.4's v3rpc/maintenance.go): 32 KiB blobs, each with remaining_bytes = bytes
// still to come after it, then one last message whose blob is the sha256 of all blobs before it
// (remaining_bytes 0). etcdctl snapshot save checks that the file it wrote is 32 bytes past a
// multiple of 512 (a bolt file is whole pages, then the hash), so the kv stream is followed by
// zero bytes up to the next multiple of 512; kv's snapshot format ends at its trailer, so a
// reader stops there and the padding is inert.
//
// Memory: the copy is read lazily (one backend chunk per pull) and written only while the gRPC
// stream accepts more (write() false → wait for 'drain'), so a client that stops reading holds
// what HTTP/2 flow control and grpc-js's small write queue allow, not a copy of the backend. A
// cancelled or failed call closes the backend snapshot reader at once.
import type { etcdserverpb } from '@kv/api';
import type { ServerWritableStream } from '@grpc/grpc-js';
import type { Backend } from '@kv/mvcc';
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';

/** etcd's snapshotSendBufferSize. */
export const snapshotBlobBytes = 32 * 1024;
/** etcdctl's hasChecksum: (size % 512) == sha256.Size. */
const alignBytes = 512;

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
): Promise<SnapshotOutcome> {
  const reader = backend.openSnapshot();
  let sent = 0;
  try {
    const dataBytes = await reader.size();
    const total = dataBytes + ((alignBytes - (dataBytes % alignBytes)) % alignBytes);
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
    // Re-cut the backend's chunks into 32 KiB blobs; `carry` holds less than one blob.
    let carry: Buffer = Buffer.alloc(0);
    const cut = async (chunk: Buffer, final: boolean): Promise<boolean> => {
      let buf = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
      while (buf.length >= snapshotBlobBytes || (final && buf.length > 0)) {
        const blob = buf.subarray(0, snapshotBlobBytes);
        buf = buf.subarray(blob.length);
        if (!(await send(blob))) return false;
      }
      // A copy, so that the carry does not pin the backend chunk it came from.
      carry = Buffer.from(buf);
      return true;
    };
    for await (const chunk of reader.chunks()) {
      if (!(await cut(chunk, false))) return { sent: false, bytes: sent };
    }
    if (!(await cut(Buffer.alloc(total - dataBytes), true))) return { sent: false, bytes: sent };
    if (sent !== total) throw new Error(`snapshot stream was ${sent} bytes, expected ${total}`);
    if (call.cancelled || call.destroyed) return { sent: false, bytes: sent };
    log.info({ 'total-bytes': total, 'checksum-size': 32 }, 'sending database sha256 checksum to client');
    call.write({ header, remainingBytes: 0n, blob: sha.digest() });
    call.end();
    return { sent: true, bytes: sent };
  } finally {
    await reader.close();
  }
}

// Wire framing of the peer message stream.
//
//   frame   := u32be payloadLength, payload            (payloadLength <= maxFrameBytes)
//   payload := (u32be messageLength, raftpb.Message)*  (one batch; messages in send order)
//
// A frame is one batch: everything queued for a peer in one event-loop turn, delivered to the
// receiver's handler as one onMessages call. Lengths are checked against the cap and against the
// bytes actually present before anything is allocated for them.
import { raftpb } from '@kv/api';

/** Bytes of every length prefix (frame and message). */
export const lengthPrefixBytes = 4;
/** Default cap on a frame's payload: far above raft's MaxSizePerMsg, far below memory trouble. */
export const defaultMaxFrameBytes = 64 * 1024 * 1024;

export class FrameError extends Error {
  override readonly name = 'FrameError';
}

/** Largest message (encoded) that fits a frame of the given cap on its own. */
export function maxMessageBytes(maxFrameBytes: number): number {
  return maxFrameBytes - lengthPrefixBytes;
}

/**
 * Encodes already-encoded messages as frames, splitting into several frames where one would
 * exceed maxFrameBytes, and returns everything as one buffer (one socket write per batch).
 * Every message must fit a frame alone (callers check with maxMessageBytes).
 */
export function encodeFrames(msgs: readonly Uint8Array[], maxFrameBytes: number): Buffer {
  let total = 0;
  let frames = 0;
  let payload = 0;
  for (const m of msgs) {
    const need = lengthPrefixBytes + m.length;
    if (need > maxFrameBytes) throw new FrameError(`message of ${m.length} bytes exceeds the frame limit of ${maxFrameBytes} bytes`);
    if (frames === 0 || payload + need > maxFrameBytes) {
      frames++;
      payload = 0;
      total += lengthPrefixBytes;
    }
    payload += need;
    total += need;
  }
  const out = Buffer.allocUnsafe(total);
  let pos = 0;
  let headerPos = -1;
  payload = 0;
  for (const m of msgs) {
    const need = lengthPrefixBytes + m.length;
    if (headerPos < 0 || payload + need > maxFrameBytes) {
      if (headerPos >= 0) out.writeUInt32BE(payload, headerPos);
      headerPos = pos;
      pos += lengthPrefixBytes;
      payload = 0;
    }
    out.writeUInt32BE(m.length, pos);
    pos += lengthPrefixBytes;
    out.set(m, pos);
    pos += m.length;
    payload += need;
  }
  if (headerPos >= 0) out.writeUInt32BE(payload, headerPos);
  // Invariant: every byte was written exactly once.
  if (pos !== total) throw new Error(`frame encoding wrote ${pos} of ${total} bytes`);
  return out;
}

/**
 * A snapshot request body: one frame holding the MsgSnap, then snapshot chunk frames whose payload
 * starts with a kind byte — Data (the bytes follow) or End (u64be total data bytes follow), the
 * End frame last. HTTP/2's end of stream alone does not prove completeness (an aborting sender may
 * still emit it), so a body without its End frame, or with a wrong total, is a broken transfer.
 */
export const SnapshotChunk = { Data: 1, End: 2 } as const;
/** Sender-side size of data chunks (the receiver accepts anything up to its frame cap). */
export const snapshotChunkBytes = 1024 * 1024;

/** Frame header of a Data chunk of n bytes (the bytes themselves are written after it). */
export function snapshotDataHeader(n: number): Buffer {
  const h = Buffer.allocUnsafe(lengthPrefixBytes + 1);
  h.writeUInt32BE(n + 1, 0);
  h[lengthPrefixBytes] = SnapshotChunk.Data;
  return h;
}

/** The End frame, carrying the total of data bytes sent. */
export function snapshotEndFrame(totalBytes: number): Buffer {
  const f = Buffer.allocUnsafe(lengthPrefixBytes + 9);
  f.writeUInt32BE(9, 0);
  f[lengthPrefixBytes] = SnapshotChunk.End;
  f.writeBigUInt64BE(BigInt(totalBytes), lengthPrefixBytes + 1);
  return f;
}

/** Encodes one message as a single-message frame (the head of a snapshot stream). */
export function encodeMessageFrame(msg: raftpb.Message, maxFrameBytes: number): Buffer {
  return encodeFrames([raftpb.Message.encode(msg).finish()], maxFrameBytes);
}

/**
 * Splits a byte stream into frame payloads. Bytes are kept as the chunks they arrived in until a
 * whole frame is present; only then is its payload assembled, so a lying length costs nothing.
 */
export class FrameDecoder {
  private chunks: Buffer[] = [];
  private buffered = 0;
  /** Payload length of the frame being read, or -1 while its prefix is incomplete. */
  private need = -1;

  constructor(private readonly maxFrameBytes: number) {}

  /**
   * Adds bytes (possibly none); returns the payloads of the frames now complete, at most maxFrames
   * of them (the bytes after those stay buffered for the next push). Throws FrameError on a bad
   * length.
   */
  push(chunk: Buffer, maxFrames = Infinity): Buffer[] {
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const out: Buffer[] = [];
    while (out.length < maxFrames) {
      if (this.need < 0) {
        if (this.buffered < lengthPrefixBytes) break;
        const len = this.take(lengthPrefixBytes).readUInt32BE(0);
        if (len > this.maxFrameBytes) throw new FrameError(`frame of ${len} bytes exceeds the limit of ${this.maxFrameBytes} bytes`);
        this.need = len;
      }
      if (this.buffered < this.need) break;
      out.push(this.take(this.need));
      this.need = -1;
    }
    return out;
  }

  /** True when no partial frame is buffered. */
  get idle(): boolean {
    return this.need < 0 && this.buffered === 0;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    let out: Buffer;
    if (first.length >= n) {
      out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
    } else {
      out = Buffer.allocUnsafe(n);
      let pos = 0;
      while (pos < n) {
        const c = this.chunks[0];
        const k = Math.min(c.length, n - pos);
        c.copy(out, pos, 0, k);
        pos += k;
        if (k === c.length) this.chunks.shift();
        else this.chunks[0] = c.subarray(k);
      }
    }
    this.buffered -= n;
    return out;
  }
}

/** Decodes a frame payload into its messages. Throws FrameError on a malformed payload. */
export function decodeBatch(payload: Buffer): raftpb.Message[] {
  const msgs: raftpb.Message[] = [];
  let pos = 0;
  while (pos < payload.length) {
    if (payload.length - pos < lengthPrefixBytes) throw new FrameError('truncated message length in batch');
    const len = payload.readUInt32BE(pos);
    pos += lengthPrefixBytes;
    if (len > payload.length - pos) throw new FrameError(`message length ${len} runs past the end of its batch`);
    try {
      msgs.push(raftpb.Message.decode(payload.subarray(pos, pos + len)));
    } catch (err) {
      throw new FrameError(`malformed raft message: ${(err as Error).message}`);
    }
    pos += len;
  }
  return msgs;
}

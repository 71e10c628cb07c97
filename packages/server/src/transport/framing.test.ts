import { raftpb } from '@kv/api';
import { describe, expect, it } from 'vitest';
import {
  decodeBatch,
  encodeFrames,
  encodeMessageFrame,
  FrameDecoder,
  FrameError,
  SnapshotChunk,
  snapshotDataHeader,
  snapshotEndFrame,
} from './framing.js';

const msg = (i: number, extra: Partial<raftpb.Message> = {}) =>
  raftpb.Message.fromPartial({ type: raftpb.MessageType.MsgApp, from: 1n, to: 2n, term: 3n, index: BigInt(i), ...extra });
const enc = (m: raftpb.Message) => raftpb.Message.encode(m).finish();

describe('framing', () => {
  it('round-trips a batch as one frame, whatever the chunking', () => {
    const msgs = Array.from({ length: 50 }, (_, i) =>
      msg(i, { entries: [raftpb.Entry.fromPartial({ Index: BigInt(i), Term: 3n, Data: Buffer.alloc(i * 7, i) })] }),
    );
    const wire = encodeFrames(msgs.map(enc), 1 << 20);
    for (const step of [1, 3, 64, wire.length]) {
      const d = new FrameDecoder(1 << 20);
      const frames: Buffer[] = [];
      for (let i = 0; i < wire.length; i += step) frames.push(...d.push(wire.subarray(i, i + step)));
      expect(frames).toHaveLength(1);
      expect(d.idle).toBe(true);
      const got = decodeBatch(frames[0]);
      expect(got.map((m) => m.index)).toEqual(msgs.map((m) => m.index));
      expect(got[49].entries[0].Data.equals(msgs[49].entries[0].Data)).toBe(true);
    }
  });

  it('splits a batch into frames under the cap, keeping order', () => {
    const msgs = Array.from({ length: 100 }, (_, i) => msg(i, { context: Buffer.alloc(100, 1) }));
    const wire = encodeFrames(msgs.map(enc), 1000);
    const frames = new FrameDecoder(1000).push(wire);
    expect(frames.length).toBeGreaterThan(10);
    for (const f of frames) expect(f.length).toBeLessThanOrEqual(1000);
    expect(frames.flatMap(decodeBatch).map((m) => Number(m.index))).toEqual(msgs.map((_, i) => i));
  });

  it('refuses to encode a message that cannot fit a frame', () => {
    expect(() => encodeFrames([Buffer.alloc(997)], 1000)).toThrow(FrameError);
    expect(() => encodeFrames([Buffer.alloc(996)], 1000)).not.toThrow();
  });

  it('rejects an oversized length before buffering the frame', () => {
    const d = new FrameDecoder(1024);
    const head = Buffer.alloc(4);
    head.writeUInt32BE(0xffffffff);
    expect(() => d.push(head)).toThrow(/exceeds the limit/);
  });

  it('rejects malformed batches', () => {
    const bad1 = Buffer.from([0, 0, 0]); // truncated length
    expect(() => decodeBatch(bad1)).toThrow(FrameError);
    const bad2 = Buffer.from([0, 0, 0, 9, 1, 2]); // runs past the end
    expect(() => decodeBatch(bad2)).toThrow(/runs past/);
    const bad3 = Buffer.from([0, 0, 0, 2, 0xff, 0xff]); // not a protobuf message
    expect(() => decodeBatch(bad3)).toThrow(FrameError);
    expect(decodeBatch(Buffer.alloc(0))).toEqual([]);
  });

  it('stops after maxFrames and resumes on the next push', () => {
    const head = encodeMessageFrame(msg(7, { type: raftpb.MessageType.MsgSnap }), 1 << 20);
    const data = Buffer.from('snapshot bytes');
    const tail = Buffer.concat([snapshotDataHeader(data.length), data, snapshotEndFrame(data.length)]);
    const d = new FrameDecoder(1 << 20);
    const frames = d.push(Buffer.concat([head, tail]), 1);
    expect(frames).toHaveLength(1);
    expect(decodeBatch(frames[0])[0].index).toBe(7n);
    const rest = d.push(Buffer.alloc(0));
    expect(rest).toHaveLength(2);
    expect(rest[0][0]).toBe(SnapshotChunk.Data);
    expect(rest[0].subarray(1).equals(data)).toBe(true);
    expect(rest[1][0]).toBe(SnapshotChunk.End);
    expect(rest[1].readBigUInt64BE(1)).toBe(BigInt(data.length));
    expect(d.idle).toBe(true);
  });
});

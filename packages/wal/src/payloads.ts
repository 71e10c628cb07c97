// Record payloads: raft's own protobuf encodings for entries and hard state, and a fixed 16-byte
// layout for snapshot markers.
import { raftpb } from '@kv/api';
import { SNAPSHOT_RECORD_DATA_BYTES } from './constants.js';
import { WalError } from './errors.js';

/** A snapshot's position in the log: the last index it covers and that entry's term. */
export interface SnapshotPosition {
  index: bigint;
  term: bigint;
}

export function encodeSnapshotMarker(pos: SnapshotPosition): Buffer {
  const b = Buffer.alloc(SNAPSHOT_RECORD_DATA_BYTES);
  b.writeBigUInt64LE(pos.index, 0);
  b.writeBigUInt64LE(pos.term, 8);
  return b;
}

export function decodeSnapshotMarker(data: Buffer, file: string, offset: number): SnapshotPosition {
  if (data.length !== SNAPSHOT_RECORD_DATA_BYTES) {
    throw new WalError('CORRUPT', `snapshot marker of ${data.length} bytes`, file, offset);
  }
  return { index: data.readBigUInt64LE(0), term: data.readBigUInt64LE(8) };
}

export function encodeEntry(e: raftpb.Entry): Uint8Array {
  return raftpb.Entry.encode(e).finish();
}

export function decodeEntry(data: Buffer, file: string, offset: number): raftpb.Entry {
  try {
    return raftpb.Entry.decode(data);
  } catch (err) {
    throw new WalError('CORRUPT', 'undecodable entry record', file, offset, { cause: err });
  }
}

export function encodeHardState(s: raftpb.HardState): Uint8Array {
  return raftpb.HardState.encode(s).finish();
}

export function decodeHardState(data: Buffer, file: string, offset: number): raftpb.HardState {
  try {
    return raftpb.HardState.decode(data);
  } catch (err) {
    throw new WalError('CORRUPT', 'undecodable hard state record', file, offset, { cause: err });
  }
}

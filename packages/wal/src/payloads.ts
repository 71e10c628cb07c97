// Record payloads: raft's own protobuf encodings for entries and hard state, and a fixed 16-byte
// layout for snapshot markers.
import { encodeToBuffer, raftpb } from '@kv/api';
import { maxIndex, maxTerm } from '@kv/raft';
import { SNAPSHOT_RECORD_DATA_BYTES } from './constants.js';
import { WalError } from './errors.js';

/** A snapshot's position in the log: the last index it covers and that entry's term. */
export interface SnapshotPosition {
  index: bigint;
  term: bigint;
}

// Invariant: no record holds a term above maxTerm or an index above maxIndex (raft's bounds,
// which leave room for + 1). Writing one is refused before anything reaches the file, so a
// member that somehow computed one stops with the cause instead of leaving a WAL that replays
// into the same failure; reading one back is corruption.

/** Why a term/index pair is out of raft's range, or undefined when it is in range. */
function outOfRange(what: string, term: bigint, index: bigint): string | undefined {
  if (term < 0n || term > maxTerm) return `${what} term ${term} is outside 0..${maxTerm}`;
  if (index < 0n || index > maxIndex) return `${what} index ${index} is outside 0..${maxIndex}`;
  return undefined;
}

export function encodeSnapshotMarker(pos: SnapshotPosition): Buffer {
  const bad = outOfRange('snapshot marker', pos.term, pos.index);
  if (bad) throw new WalError('BAD_ARGUMENT', `refusing to write: ${bad}`);
  const b = Buffer.alloc(SNAPSHOT_RECORD_DATA_BYTES);
  b.writeBigUInt64LE(pos.index, 0);
  b.writeBigUInt64LE(pos.term, 8);
  return b;
}

export function decodeSnapshotMarker(data: Buffer, file: string, offset: number): SnapshotPosition {
  if (data.length !== SNAPSHOT_RECORD_DATA_BYTES) {
    throw new WalError('CORRUPT', `snapshot marker of ${data.length} bytes`, file, offset);
  }
  const pos = { index: data.readBigUInt64LE(0), term: data.readBigUInt64LE(8) };
  const bad = outOfRange('snapshot marker', pos.term, pos.index);
  if (bad) throw new WalError('CORRUPT', bad, file, offset);
  return pos;
}

export function encodeEntry(e: raftpb.Entry): Uint8Array {
  const bad = outOfRange('entry', e.Term, e.Index);
  if (bad) throw new WalError('BAD_ARGUMENT', `refusing to write: ${bad}`);
  return encodeToBuffer(raftpb.Entry, e);
}

export function decodeEntry(data: Buffer, file: string, offset: number): raftpb.Entry {
  let e: raftpb.Entry;
  try {
    e = raftpb.Entry.decode(data);
  } catch (err) {
    throw new WalError('CORRUPT', 'undecodable entry record', file, offset, { cause: err });
  }
  const bad = outOfRange('entry', e.Term, e.Index);
  if (bad) throw new WalError('CORRUPT', bad, file, offset);
  return e;
}

export function encodeHardState(s: raftpb.HardState): Uint8Array {
  const bad = outOfRange('hard state', s.term, s.commit);
  if (bad) throw new WalError('BAD_ARGUMENT', `refusing to write: ${bad}`);
  return encodeToBuffer(raftpb.HardState, s);
}

export function decodeHardState(data: Buffer, file: string, offset: number): raftpb.HardState {
  let s: raftpb.HardState;
  try {
    s = raftpb.HardState.decode(data);
  } catch (err) {
    throw new WalError('CORRUPT', 'undecodable hard state record', file, offset, { cause: err });
  }
  const bad = outOfRange('hard state', s.term, s.commit);
  if (bad) throw new WalError('CORRUPT', bad, file, offset);
  return s;
}

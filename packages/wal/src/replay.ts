// Reading a WAL directory back: choosing the segments that cover a snapshot position, scanning
// them in order with the CRC chained across segment boundaries, and folding the records into
// (metadata, last hard state, entries after the snapshot).
import { join } from 'node:path';
import type { raftpb } from '@kv/api';
import { RecordType } from './constants.js';
import { WalError } from './errors.js';
import type { FileSystem } from './file_system.js';
import { EMPTY_HARD_STATE } from './hard_state.js';
import { type SegmentName } from './names.js';
import { decodeEntry, decodeHardState, decodeSnapshotMarker, type SnapshotPosition } from './payloads.js';
import { scanSegment, type SegmentEnd } from './record.js';

export interface ReplayResult {
  metadata: Buffer;
  hardState: raftpb.HardState;
  /** Entries with index > snapshot index, contiguous, later writes having replaced earlier ones. */
  entries: raftpb.Entry[];
  /** Index of the last entry written (raised by snapshot markers), the log's append point. */
  lastIndex: bigint;
  /** Running CRC after the last good record. */
  crc: number;
  /** Position in `segments` of the segment reading started at (the ones before it are not needed). */
  start: number;
  /** The last segment and where its good records end. */
  tail: { segment: SegmentName; path: string; validEnd: number; size: number; end: SegmentEnd };
}

/** Checks that the sequence numbers have no hole (old segments may be gone from the front, never the middle). */
export function checkSequence(dir: string, segments: SegmentName[]): void {
  for (let i = 1; i < segments.length; i++) {
    const prev = segments[i - 1]!;
    const cur = segments[i]!;
    if (cur.seq !== prev.seq + 1n) {
      throw new WalError(
        'SEGMENT_GAP',
        `segment sequence jumps from ${prev.name} to ${cur.name}: segment ${prev.seq + 1n} is missing`,
        join(dir, cur.name),
      );
    }
  }
}

/**
 * Picks the segment to start reading at for a snapshot position: the last whose first index is
 * at most the snapshot index (every live entry after that index is in it or a later segment).
 */
export function selectSegments(dir: string, segments: SegmentName[], snap: SnapshotPosition): number {
  checkSequence(dir, segments);
  for (let i = segments.length - 1; i >= 0; i--) {
    if (segments[i]!.firstIndex <= snap.index) return i;
  }
  throw new WalError(
    'SNAPSHOT_NOT_FOUND',
    `no segment covers snapshot index ${snap.index} (oldest is ${segments[0]?.name ?? 'none'})`,
    dir,
  );
}

export async function replay(fs: FileSystem, dir: string, segments: SegmentName[], snap: SnapshotPosition): Promise<ReplayResult> {
  const start = selectSegments(dir, segments, snap);
  let metadata: Buffer | undefined;
  let hardState: raftpb.HardState = { ...EMPTY_HARD_STATE };
  const entries: raftpb.Entry[] = [];
  let lastIndex = snap.index;
  let crc: number | undefined;
  let matched = false;
  let tail: ReplayResult['tail'] | undefined;

  for (let i = start; i < segments.length; i++) {
    const seg = segments[i]!;
    const path = join(dir, seg.name);
    const last = i === segments.length - 1;
    const buf = await fs.readFile(path);
    const scan = scanSegment(buf, { file: path, prevCrc: crc, last });
    // A segment is renamed into place only after its head records are synced: those never tear.
    if (scan.records.length < 2 || scan.records[1]!.type !== RecordType.Metadata) {
      const at = scan.end.kind === 'torn' ? scan.end.offset : scan.validEnd;
      throw new WalError('CORRUPT', 'segment head (crc and metadata records) incomplete', path, at);
    }
    for (const rec of scan.records) {
      switch (rec.type) {
        case RecordType.Crc:
          break; // verified by the scanner
        case RecordType.Metadata:
          if (metadata !== undefined && !metadata.equals(rec.data)) {
            throw new WalError('METADATA_CONFLICT', 'metadata differs from the earlier segments', path, rec.offset);
          }
          metadata ??= Buffer.from(rec.data);
          break;
        case RecordType.HardState:
          hardState = decodeHardState(rec.data, path, rec.offset);
          break;
        case RecordType.Entry: {
          const e = decodeEntry(rec.data, path, rec.offset);
          if (e.Index > snap.index) {
            // Position in `entries` is Index - snap.index - 1; a later write at an index already
            // held replaces it and everything after it (raft truncated its log there).
            const pos = e.Index - snap.index - 1n;
            if (pos > BigInt(entries.length)) {
              const have = snap.index + BigInt(entries.length);
              throw new WalError('INDEX_GAP', `entry index ${e.Index} follows index ${have}`, path, rec.offset);
            }
            entries.length = Number(pos);
            entries.push(e);
          }
          lastIndex = e.Index;
          break;
        }
        case RecordType.Snapshot: {
          const m = decodeSnapshotMarker(rec.data, path, rec.offset);
          if (m.index === snap.index) {
            if (m.term !== snap.term) {
              throw new WalError(
                'SNAPSHOT_MISMATCH',
                `snapshot marker at index ${m.index} has term ${m.term}, expected ${snap.term}`,
                path,
                rec.offset,
              );
            }
            matched = true;
          }
          if (m.index > lastIndex) lastIndex = m.index;
          break;
        }
      }
    }
    crc = scan.crc;
    if (last) tail = { segment: seg, path, validEnd: scan.validEnd, size: buf.length, end: scan.end };
  }
  if (!matched) {
    throw new WalError('SNAPSHOT_NOT_FOUND', `no snapshot marker for index ${snap.index} term ${snap.term}`, dir);
  }
  // The snapshot covers everything up to its index, whatever the log held before it.
  if (lastIndex < snap.index) lastIndex = snap.index;
  // Defined: selectSegments returned a valid start, so the loop ran at least once and read a head.
  return { metadata: metadata!, hardState, entries, lastIndex, crc: crc!, start, tail: tail! };
}

/**
 * The snapshot markers in the whole log whose index is at most the last saved commit index
 * (a snapshot is always of committed state; a marker past the durable commit is not usable).
 * Reads every segment without locking; a torn tail simply ends the scan. The server uses this to
 * pick the newest snapshot file the WAL can be opened at (see SnapshotFiles.loadNewest).
 */
export async function readSnapshotMarkers(fs: FileSystem, dir: string, segments: SegmentName[]): Promise<SnapshotPosition[]> {
  checkSequence(dir, segments);
  const markers: SnapshotPosition[] = [];
  let commit = 0n;
  let crc: number | undefined;
  for (let i = 0; i < segments.length; i++) {
    const path = join(dir, segments[i]!.name);
    const scan = scanSegment(await fs.readFile(path), { file: path, prevCrc: crc, last: i === segments.length - 1 });
    for (const rec of scan.records) {
      if (rec.type === RecordType.Snapshot) markers.push(decodeSnapshotMarker(rec.data, path, rec.offset));
      else if (rec.type === RecordType.HardState) commit = decodeHardState(rec.data, path, rec.offset).commit;
    }
    crc = scan.crc;
  }
  return markers.filter((m) => m.index <= commit);
}

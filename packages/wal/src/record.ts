// Record framing: encoding one record, and scanning a whole segment image back into records.
// Pure functions over bytes (no I/O), so the scanner is what the fuzz test feeds.
//
// Record layout (all integers little-endian; docs/wal.md has the full picture):
//   +0  u32  len      payload bytes
//   +4  u8   type     RecordType
//   +5  u8   version  FORMAT_VERSION
//   +6  u8   pad      zero bytes after the payload up to the next multiple of 16
//   +7  u8   0
//   +8  u32  crc      CRC32C over header[0..8) ‖ payload, seeded with the previous record's crc
//   +12 u32  hcrc     CRC32C over header[0..12), seed 0
//   +16 payload, then `pad` zero bytes
import { crc32c } from '@node-rs/crc32';
import { isZero } from './bytes.js';
import {
  CRC_RECORD_DATA_BYTES,
  FORMAT_VERSION,
  HEADER_BYTES,
  isRecordType,
  MAX_RECORD_BYTES,
  RECORD_ALIGN,
  RecordType,
  SECTOR_BYTES,
} from './constants.js';
import { WalError } from './errors.js';

export function padFor(len: number): number {
  return (RECORD_ALIGN - (len % RECORD_ALIGN)) % RECORD_ALIGN;
}

/** Bytes a record with `len` payload bytes takes on disk. */
export function frameBytes(len: number): number {
  return HEADER_BYTES + len + padFor(len);
}

export interface EncodedRecord {
  frame: Buffer;
  /** The running CRC after this record (the seed of the next). */
  crc: number;
}

/** Encodes one record, chaining its CRC onto `prevCrc`. */
export function encodeRecord(type: RecordType, data: Uint8Array, prevCrc: number): EncodedRecord {
  const len = data.length;
  if (len > MAX_RECORD_BYTES) {
    throw new WalError('RECORD_TOO_LARGE', `record of ${len} bytes exceeds the limit of ${MAX_RECORD_BYTES}`);
  }
  const pad = padFor(len);
  const frame = Buffer.alloc(HEADER_BYTES + len + pad); // zero-filled: the padding stays zero
  frame.writeUInt32LE(len, 0);
  frame[4] = type;
  frame[5] = FORMAT_VERSION;
  frame[6] = pad;
  frame[7] = 0;
  frame.set(data, HEADER_BYTES);
  const crc = crc32c(frame.subarray(HEADER_BYTES, HEADER_BYTES + len), crc32c(frame.subarray(0, 8), prevCrc));
  frame.writeUInt32LE(crc, 8);
  frame.writeUInt32LE(crc32c(frame.subarray(0, 12)), 12);
  return { frame, crc };
}

/** The first record of every segment: the running CRC the segment continues from. */
export function encodeCrcRecord(prevCrc: number): EncodedRecord {
  const data = Buffer.alloc(CRC_RECORD_DATA_BYTES);
  data.writeUInt32LE(prevCrc >>> 0, 0);
  return encodeRecord(RecordType.Crc, data, prevCrc);
}

export interface DecodedRecord {
  type: RecordType;
  /** The payload: a view into the scanned buffer (no copy). */
  data: Buffer;
  /** Offset of the record header in the segment. */
  offset: number;
  /** Offset just past the record's padding (where the next record starts). */
  end: number;
}

/** How the records of a segment end. */
export type SegmentEnd =
  /** The last record ends exactly at the end of the file. */
  | { kind: 'eof' }
  /** The records are followed by zero bytes only (preallocated, never written). */
  | { kind: 'zeros' }
  /** The last segment ends in a torn write at `offset` (only reported when scanning the last segment). */
  | { kind: 'torn'; offset: number; reason: string };

export interface SegmentScan {
  records: DecodedRecord[];
  end: SegmentEnd;
  /** Offset just past the last good record. */
  validEnd: number;
  /** The running CRC after the last good record (undefined only if there is none). */
  crc: number | undefined;
}

export interface ScanOptions {
  /** Name used in errors. */
  file: string;
  /**
   * The running CRC the previous segment ended with; the segment's Crc record must carry it.
   * Undefined for the first segment read (its Crc record is trusted, being CRC-protected itself).
   */
  prevCrc?: number;
  /**
   * True for the last segment of the log: only there can a crash leave a torn write, which is
   * reported as `end.kind === 'torn'` instead of an error.
   */
  last: boolean;
}

/**
 * True if some whole sector that starts strictly inside (from, to) reads as zeros throughout: a
 * sector the crash kept from reaching the disk (preallocated space reads as zeros).
 */
function hasUnwrittenSector(buf: Buffer, from: number, to: number): boolean {
  let s = (Math.floor(from / SECTOR_BYTES) + 1) * SECTOR_BYTES;
  for (; s < to && s < buf.length; s += SECTOR_BYTES) {
    if (isZero(buf, s, Math.min(s + SECTOR_BYTES, buf.length))) return true;
  }
  return false;
}

/**
 * Scans a whole segment image. Returns its good records and how they end; throws a WalError
 * (naming `file` and the offset) for damage that a crash cannot explain.
 *
 * What a crash can leave, and so what counts as a torn tail (last segment only):
 *   - the file ends inside a record (a partial header, or a payload cut short);
 *   - a record with a bad CRC that contains a whole unwritten (all-zero) sector;
 *   - an all-zero header whose sector is zero from there on, followed later by data.
 * Anything else — a bad header checksum, a bad CRC with no unwritten sector, a length over the
 * limit, garbage after the end — is damage, and an error. Lengths are checked against the limit
 * and the file size before the payload is looked at; nothing is allocated by length.
 */
export function scanSegment(buf: Buffer, opts: ScanOptions): SegmentScan {
  const { file, last } = opts;
  const size = buf.length;
  const records: DecodedRecord[] = [];
  let crc = opts.prevCrc;
  let off = 0;
  const done = (end: SegmentEnd): SegmentScan => ({ records, end, validEnd: off, crc });
  const torn = (reason: string): SegmentScan => done({ kind: 'torn', offset: off, reason });

  for (;;) {
    // Invariant: off is a multiple of RECORD_ALIGN and every record before it verified.
    if (off === size) return done({ kind: 'eof' });
    const remaining = size - off;
    if (remaining < HEADER_BYTES) {
      if (isZero(buf, off, size)) return done({ kind: 'zeros' });
      if (last) return torn(`partial record header (${remaining} bytes) at end of file`);
      throw new WalError('CORRUPT', `partial record header (${remaining} bytes) at end of segment`, file, off);
    }
    if (isZero(buf, off, off + HEADER_BYTES)) {
      if (isZero(buf, off + HEADER_BYTES, size)) return done({ kind: 'zeros' });
      const sectorEnd = Math.min(size, (Math.floor(off / SECTOR_BYTES) + 1) * SECTOR_BYTES);
      if (last && isZero(buf, off, sectorEnd)) return torn('unwritten sector followed by data');
      throw new WalError('CORRUPT', 'empty record header followed by data', file, off);
    }
    const len = buf.readUInt32LE(off);
    const type = buf[off + 4]!;
    const version = buf[off + 5]!;
    const pad = buf[off + 6]!;
    const reserved = buf[off + 7]!;
    const storedCrc = buf.readUInt32LE(off + 8);
    if (crc32c(buf.subarray(off, off + 12)) !== buf.readUInt32LE(off + 12)) {
      throw new WalError('HEADER_CHECKSUM', 'record header checksum mismatch', file, off);
    }
    if (version !== FORMAT_VERSION) {
      throw new WalError('CORRUPT', `unsupported record format version ${version}`, file, off);
    }
    if (len > MAX_RECORD_BYTES) {
      throw new WalError('RECORD_TOO_LARGE', `record length ${len} exceeds the limit of ${MAX_RECORD_BYTES}`, file, off);
    }
    if (pad !== padFor(len) || reserved !== 0) {
      throw new WalError('CORRUPT', `inconsistent record padding ${pad} for length ${len}`, file, off);
    }
    if (!isRecordType(type)) throw new WalError('CORRUPT', `unknown record type ${type}`, file, off);
    const dataStart = off + HEADER_BYTES;
    const dataEnd = dataStart + len;
    const end = dataEnd + pad;
    if (end > size) {
      if (last) return torn(`record of ${len} bytes cut short by the end of file (size ${size})`);
      throw new WalError('LENGTH_PAST_EOF', `record length ${len} runs past the end of the file (size ${size})`, file, off);
    }
    // Every segment starts with a Crc record, and only there.
    if ((off === 0) !== (type === RecordType.Crc)) {
      throw new WalError(
        'CORRUPT',
        off === 0 ? `segment starts with record type ${type}, not a crc record` : 'crc record after the start of a segment',
        file,
        off,
      );
    }
    let seed: number;
    if (type === RecordType.Crc) {
      if (len !== CRC_RECORD_DATA_BYTES) throw new WalError('CORRUPT', `crc record of ${len} bytes`, file, off);
      seed = buf.readUInt32LE(dataStart);
    } else {
      seed = crc!; // defined: the Crc record at offset 0 came first
    }
    const actual = crc32c(buf.subarray(dataStart, dataEnd), crc32c(buf.subarray(off, off + 8), seed));
    if (actual !== storedCrc) {
      if (last && hasUnwrittenSector(buf, off, dataEnd)) return torn('record with an unwritten sector');
      throw new WalError('CRC_MISMATCH', 'record crc mismatch', file, off);
    }
    if (type === RecordType.Crc && crc !== undefined && seed !== crc) {
      throw new WalError(
        'CRC_MISMATCH',
        `segment continues from crc ${hex(seed)} but the previous segment ended with ${hex(crc)}`,
        file,
        off,
      );
    }
    if (!isZero(buf, dataEnd, end)) throw new WalError('CORRUPT', 'non-zero record padding', file, dataEnd);
    crc = actual;
    records.push({ type, data: buf.subarray(dataStart, dataEnd), offset: off, end });
    off = end;
  }
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16).padStart(8, '0')}`;
}

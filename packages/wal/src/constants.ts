// Constants of the on-disk format. docs/wal.md describes every byte; a change here is a format
// change and must bump FORMAT_VERSION.

/** Record types (the byte at offset 4 of a record header). Numbering follows etcd's walpb. */
export const RecordType = {
  /** Opaque bytes from the server (member and cluster ids); repeated at the head of every segment. */
  Metadata: 1,
  /** One raftpb.Entry. */
  Entry: 2,
  /** One raftpb.HardState. */
  HardState: 3,
  /** The running CRC at the start of a segment; always the first record of a segment, only there. */
  Crc: 4,
  /** A snapshot marker: (index, term) of a snapshot the server has taken or received. */
  Snapshot: 5,
} as const;
export type RecordType = (typeof RecordType)[keyof typeof RecordType];

export function isRecordType(t: number): t is RecordType {
  return t >= RecordType.Metadata && t <= RecordType.Snapshot;
}

/** Version byte written in every record header. */
export const FORMAT_VERSION = 1;

/** Bytes of a record header: len u32, type u8, version u8, pad u8, reserved u8, crc u32, hcrc u32. */
export const HEADER_BYTES = 16;

/**
 * Every record starts at a multiple of this in its segment, so a 16-byte header never straddles a
 * 512-byte sector: it is written whole or not at all, and its length field can never be torn.
 */
export const RECORD_ALIGN = 16;

/** The unit a disk writes atomically; a crash leaves whole sectors unwritten (zero in preallocated space). */
export const SECTOR_BYTES = 512;

/** Largest payload of one record. Checked before anything is read or allocated by length. */
export const MAX_RECORD_BYTES = 16 * 1024 * 1024;

/** Default segment size: the cut threshold and the preallocated size of a new segment (as etcd's). */
export const DEFAULT_SEGMENT_BYTES = 64 * 1000 * 1000;

/** Payload bytes of a Crc record (u32 LE running CRC). */
export const CRC_RECORD_DATA_BYTES = 4;

/** Payload bytes of a Snapshot marker record (u64 LE index, u64 LE term). */
export const SNAPSHOT_RECORD_DATA_BYTES = 16;

/** Name of the lock file inside a WAL directory. */
export const LOCK_FILE_NAME = 'wal.lock';

/** Snapshot file header: magic "KVSNAP", 0x00, version; u64 LE payload length; u32 LE CRC32C. */
export const SNAP_MAGIC = Buffer.from([0x4b, 0x56, 0x53, 0x4e, 0x41, 0x50, 0x00, 0x01]);
export const SNAP_HEADER_BYTES = 20;

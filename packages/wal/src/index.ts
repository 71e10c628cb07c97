// Public surface of @kv/wal (explicit, by name): the write-ahead log, snapshot files, and the
// format's building blocks (for tools and tests that inspect files).
export { Wal } from './wal.js';
export type { WalOptions, SaveOptions, OpenResult, RepairReport, WalStats, WalStorage } from './wal.js';
export { SnapshotFiles, encodeSnapshotFile, decodeSnapshotFile } from './snapshot_files.js';
export type { SnapshotFilesOptions } from './snapshot_files.js';
export type { SnapshotPosition } from './payloads.js';
export { WalError } from './errors.js';
export type { WalErrorCode } from './errors.js';
export { isEmptyHardState } from './hard_state.js';
export { fsyncDir } from './fsutil.js';
export type { FileSystem, FsFile, FileLock, OpenFlags } from './file_system.js';
export { nodeFs } from './node_fs.js';
export {
  RecordType,
  FORMAT_VERSION,
  HEADER_BYTES,
  RECORD_ALIGN,
  SECTOR_BYTES,
  MAX_RECORD_BYTES,
  DEFAULT_SEGMENT_BYTES,
  LOCK_FILE_NAME,
} from './constants.js';
export { encodeRecord, scanSegment } from './record.js';
export type { DecodedRecord, SegmentScan, SegmentEnd, ScanOptions } from './record.js';
export { segmentName, parseSegmentName, snapName, parseSnapName } from './names.js';
export type { SegmentName, SnapName } from './names.js';

// Every failure the WAL reports about the disk is a WalError naming the file and, where it has
// one, the byte offset, so an operator can find the damage (and the .broken copy) by hand.

export type WalErrorCode =
  /** A record header whose own checksum does not match (damaged header, e.g. a forged length). */
  | 'HEADER_CHECKSUM'
  /** A record whose chained CRC32C does not match, or a segment whose starting CRC breaks the chain. */
  | 'CRC_MISMATCH'
  /** A record length above MAX_RECORD_BYTES. */
  | 'RECORD_TOO_LARGE'
  /** A record that runs past the end of a file that is not the last segment. */
  | 'LENGTH_PAST_EOF'
  /** A malformed record or segment (bad version, padding, type, order, undecodable payload, ...). */
  | 'CORRUPT'
  /** An entry whose index leaves a hole after the entries before it. */
  | 'INDEX_GAP'
  /** A missing segment between two present ones. */
  | 'SEGMENT_GAP'
  /** Segments disagree about the metadata. */
  | 'METADATA_CONFLICT'
  /** No segment covers the snapshot position asked for, or no marker for it was found. */
  | 'SNAPSHOT_NOT_FOUND'
  /** A snapshot marker at the index asked for but with another term. */
  | 'SNAPSHOT_MISMATCH'
  /** A damaged snapshot file. */
  | 'SNAP_CORRUPT'
  /** Another process (or another open in this one) holds the WAL. */
  | 'LOCKED'
  /** Wal.create on a directory that already holds a WAL. */
  | 'EXISTS'
  /** Wal.open on a directory without a WAL. */
  | 'NOT_FOUND'
  /** A call on a closed WAL. */
  | 'CLOSED'
  /** An earlier write or fsync failed; the WAL accepts nothing more (reopen to recover). */
  | 'FAILED'
  /** A caller error: entries that are not contiguous with the log. */
  | 'BAD_ARGUMENT';

export class WalError extends Error {
  override readonly name = 'WalError';
  constructor(
    readonly code: WalErrorCode,
    message: string,
    /** The file concerned, if any. */
    readonly file?: string,
    /** The byte offset in `file` where the problem starts, if known. */
    readonly offset?: number,
    options?: { cause?: unknown },
  ) {
    super(`wal: ${message}${file !== undefined ? ` (file ${file}${offset !== undefined ? `, offset ${offset}` : ''})` : ''}`, options);
  }
}

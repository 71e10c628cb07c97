// The storage engine a Backend runs on, as an interface: `classicEngine` (classic_engine.ts) is
// LevelDB through classic-level, the real one; a simulated one (@kv/sim-world's SimEngine) keeps
// the databases in memory with LevelDB's crash semantics. It covers exactly what Backend and a
// member do with databases: the subset of abstract-level's API Backend calls, and the directory
// operations a member does with backend directories (a snapshot install swaps them).
//
// Keys and values are Buffers (the engine is opened with buffer encodings).

/** A point-in-time read view (abstract-level's explicit snapshot). */
export interface DbSnapshot {
  close(): Promise<void>;
}

export interface DbIteratorOptions {
  gte?: Buffer;
  lt?: Buffer;
  /** -1: no limit. */
  limit?: number;
  reverse?: boolean;
  snapshot?: DbSnapshot;
  /** A hint: bytes to fetch per round trip to the engine. */
  highWaterMarkBytes?: number;
}

export interface DbIterator extends AsyncIterable<[Buffer, Buffer]> {
  /** Up to `size` next entries; an empty array at the end. */
  nextv(size: number): Promise<[Buffer, Buffer][]>;
  close(): Promise<void>;
}

export type DbBatchOp = { type: 'put'; key: Buffer; value: Buffer } | { type: 'del'; key: Buffer };

export interface DbReadOptions {
  snapshot?: DbSnapshot;
}

/** An open database. */
export interface StorageDb {
  get(key: Buffer, options?: DbReadOptions): Promise<Buffer | undefined>;
  getSync(key: Buffer, options?: DbReadOptions): Buffer | undefined;
  getMany(keys: Buffer[], options?: DbReadOptions): Promise<(Buffer | undefined)[]>;
  /**
   * Applies the operations atomically, after every batch called before. With sync, the batch and
   * everything before it are durable when it resolves; without, a crash may lose it (and later
   * unsynced ones), never part of it.
   */
  batch(ops: DbBatchOp[], options?: { sync?: boolean }): Promise<void>;
  iterator(options?: DbIteratorOptions): DbIterator;
  snapshot(): DbSnapshot;
  /** Approximate bytes the range [start, end) takes in the engine's tables. */
  approximateSize(start: Buffer, end: Buffer): Promise<number>;
  /** Compacts the range [start, end), reclaiming the space of deleted and replaced entries. */
  compactRange(start: Buffer, end: Buffer): Promise<void>;
  close(): Promise<void>;
}

/** Bytes a database takes where it is stored. */
export interface DbUsage {
  /** Every file of the database (etcd's db_size). */
  total: number;
  /** Its write-ahead log files (counted by the quota with the live tables). */
  logs: number;
}

export interface StorageEngine {
  /** Opens (creating if needed; refusing an existing one with errorIfExists) the database at `location`. */
  open(location: string, options?: { errorIfExists?: boolean }): Promise<StorageDb>;
  /** Deletes the (closed) database at `location`. */
  destroy(location: string): Promise<void>;
  /** Whether a database exists at `location`. */
  exists(location: string): Promise<boolean>;
  /** Renames a (closed) database or directory; durable when it resolves. */
  rename(from: string, to: string): Promise<void>;
  /** Removes a (closed) database or directory if present; durable when it resolves. */
  remove(location: string): Promise<void>;
  /** Names of the entries under `parent` (databases and directories); [] if it does not exist. */
  list(parent: string): Promise<string[]>;
  usage(location: string): Promise<DbUsage>;
  /** What the engine's recovery at the last open dropped or repaired, one line each. */
  recoveryNotes(location: string): Promise<string[]>;
}

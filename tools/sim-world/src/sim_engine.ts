// SimEngine: an in-memory StorageEngine for @kv/mvcc (databases are memory-level instances) with
// LevelDB's crash semantics, for the whole-cluster simulation. No real I/O; every choice comes from
// the injected random source.
//
// The model (LevelDB's, with its write-ahead log):
//   - Every batch is atomic and applied in call order.
//   - A batch with sync:true is durable when it resolves, with every batch before it.
//   - crash() (power loss): per database, a random prefix of the batches since the last synced one
//     survives, each whole (LevelDB's log records are checksummed: a torn one is dropped with
//     everything after it); open handles die.
//   - kill() (the process dies, the OS survives): every batch stays; open handles die. Opening a
//     database makes everything it recovered durable (LevelDB writes the recovered log into a
//     synced table at open).
//   - Directory operations (rename, remove) are durable when they resolve (classicEngine fsyncs
//     the parent directories before it returns).
import { posix } from 'node:path';
import type { DbBatchOp, DbIterator, DbIteratorOptions, DbReadOptions, DbSnapshot, DbUsage, StorageDb, StorageEngine } from '@kv/mvcc';
import { MemoryLevel } from 'memory-level';
import type { Schedule, SimRandom } from './sim_fs.js';

export interface SimEngineOptions {
  random: SimRandom;
  /** If given, batches and directory operations complete through it, after latency(op) ms. */
  schedule?: Schedule;
  latency?: (op: string, location: string) => number;
}

type Mem = MemoryLevel<Buffer, Buffer>;

interface DbState {
  /** The durable records, by key (latin1). */
  durable: Map<string, Buffer>;
  /** Batches since the last synced one, in order. */
  pending: DbBatchOp[][];
  /** The open handle, if any. */
  open: SimDb | undefined;
}

function engineError(message: string, code: string): Error {
  const err = new Error(message) as Error & { code: string };
  err.code = code;
  return err;
}

function applyBatch(into: Map<string, Buffer>, ops: readonly DbBatchOp[]): void {
  for (const op of ops) {
    const k = op.key.toString('latin1');
    if (op.type === 'put') into.set(k, op.value);
    else into.delete(k);
  }
}

/** Copies a batch (keys and values): the caller may reuse its buffers. */
function copyBatch(ops: readonly DbBatchOp[]): DbBatchOp[] {
  return ops.map((op) =>
    op.type === 'put' ? { type: 'put', key: Buffer.from(op.key), value: Buffer.from(op.value) } : { type: 'del', key: Buffer.from(op.key) },
  );
}

/** An open database: memory-level for reads, the engine's state for what a crash keeps. */
class SimDb implements StorageDb {
  dead = false;

  constructor(
    private readonly engine: SimEngine,
    private readonly location: string,
    private readonly state: DbState,
    private readonly mem: Mem,
  ) {}

  private check(): void {
    if (this.dead) throw engineError(`Database is not open (${this.location})`, 'LEVEL_DATABASE_NOT_OPEN');
  }

  get(key: Buffer, options?: DbReadOptions): Promise<Buffer | undefined> {
    try {
      this.check();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.mem.get(key, options as never);
  }

  getSync(key: Buffer, options?: DbReadOptions): Buffer | undefined {
    this.check();
    return this.mem.getSync(key, options as never);
  }

  getMany(keys: Buffer[], options?: DbReadOptions): Promise<(Buffer | undefined)[]> {
    try {
      this.check();
    } catch (err) {
      return Promise.reject(err);
    }
    return this.mem.getMany(keys, options as never);
  }

  batch(ops: DbBatchOp[], options: { sync?: boolean } = {}): Promise<void> {
    const generation = this.engine.generation;
    const copy = copyBatch(ops);
    return this.engine.run('batch', this.location, generation, async () => {
      this.check();
      // Invariant: the memory view and the crash record change together, in call order.
      await this.mem.batch(copy.map((op) => (op.type === 'put' ? { ...op } : { type: 'del' as const, key: op.key })));
      if (this.dead) throw engineError(`Database is not open (${this.location})`, 'LEVEL_DATABASE_NOT_OPEN');
      if (options.sync) {
        for (const b of this.state.pending) applyBatch(this.state.durable, b);
        this.state.pending = [];
        applyBatch(this.state.durable, copy);
      } else {
        this.state.pending.push(copy);
      }
    });
  }

  iterator(options: DbIteratorOptions = {}): DbIterator {
    this.check();
    const { highWaterMarkBytes: _hint, ...rest } = options;
    return this.mem.iterator(rest as never) as unknown as DbIterator;
  }

  snapshot(): DbSnapshot {
    this.check();
    return this.mem.snapshot();
  }

  async approximateSize(start: Buffer, end: Buffer): Promise<number> {
    this.check();
    let n = 0;
    for await (const [k, v] of this.mem.iterator({ gte: start, lt: end })) n += k.length + v.length;
    return n;
  }

  async compactRange(_start: Buffer, _end: Buffer): Promise<void> {
    this.check(); // nothing to reclaim: memory holds live records only
  }

  async close(): Promise<void> {
    if (this.dead) return;
    this.dead = true;
    if (this.state.open === this) this.state.open = undefined;
    await this.mem.close();
  }

  /** The process died: the handle stops answering; memory is released. */
  die(): void {
    if (this.dead) return;
    this.dead = true;
    if (this.state.open === this) this.state.open = undefined;
    void this.mem.close().catch(() => {});
  }
}

export class SimEngine implements StorageEngine {
  /** Bumped by crash() and kill(): handles and sessions of an older generation are dead. */
  generation = 0;
  private readonly dbs = new Map<string, DbState>();
  /** Directories that hold databases or other directories (created by open, kept by rename). */
  private readonly random: SimRandom;
  private readonly schedule: Schedule | undefined;
  private readonly latency: (op: string, location: string) => number;
  readonly counters = { batches: 0, crashes: 0, kills: 0, batchesLost: 0, batchesKept: 0 };

  constructor(options: SimEngineOptions) {
    this.random = options.random;
    this.schedule = options.schedule;
    this.latency = options.latency ?? (() => 0);
  }

  // ---- the simulation's controls ----------------------------------------------------------

  /** Power loss: per database a random prefix of the unsynced batches survives, each whole. */
  crash(): void {
    this.generation++;
    this.counters.crashes++;
    for (const location of [...this.dbs.keys()].sort()) {
      const s = this.dbs.get(location)!;
      s.open?.die();
      const keep = Math.floor(this.random.next() * (s.pending.length + 1));
      for (let i = 0; i < keep; i++) applyBatch(s.durable, s.pending[i]!);
      this.counters.batchesKept += keep;
      this.counters.batchesLost += s.pending.length - keep;
      s.pending = [];
    }
  }

  /** The process dies, the OS survives: every batch stays. */
  kill(): void {
    this.generation++;
    this.counters.kills++;
    for (const s of this.dbs.values()) s.open?.die();
  }

  /** A view for one incarnation of a process: rejects everything once it crashed or was killed. */
  session(): StorageEngine {
    const gen = this.generation;
    const guard = <T>(fn: () => Promise<T>, location: string): Promise<T> =>
      this.generation !== gen ? Promise.reject(engineError(`the process is gone (${location})`, 'EIO')) : fn();
    return {
      open: (l, o) => guard(() => this.open(l, o), l),
      destroy: (l) => guard(() => this.destroy(l), l),
      exists: (l) => guard(() => this.exists(l), l),
      rename: (a, b) => guard(() => this.rename(a, b), a),
      remove: (l) => guard(() => this.remove(l), l),
      list: (p) => guard(() => this.list(p), p),
      usage: (l) => guard(() => this.usage(l), l),
      recoveryNotes: (l) => guard(() => this.recoveryNotes(l), l),
    };
  }

  /** Every database's durable records, canonically (sorted by location, then key). */
  durableImage(): Map<string, [Buffer, Buffer][]> {
    const out = new Map<string, [Buffer, Buffer][]>();
    for (const location of [...this.dbs.keys()].sort()) {
      const d = this.dbs.get(location)!.durable;
      const recs = [...d.entries()]
        .map(([k, v]): [Buffer, Buffer] => [Buffer.from(k, 'latin1'), v])
        .sort((a, b) => Buffer.compare(a[0], b[0]));
      out.set(location, recs);
    }
    return out;
  }

  // ---- StorageEngine ------------------------------------------------------------------------

  async open(location: string, options: { errorIfExists?: boolean } = {}): Promise<StorageDb> {
    const loc = posix.resolve('/', location);
    const generation = this.generation;
    return this.run('open', loc, generation, async () => {
      let s = this.dbs.get(loc);
      if (s && options.errorIfExists) throw engineError(`Database already exists (${loc})`, 'LEVEL_DATABASE_NOT_OPEN');
      if (s?.open) throw engineError(`IO error: lock ${loc}/LOCK: already held by process`, 'LEVEL_DATABASE_NOT_OPEN');
      if (!s) {
        s = { durable: new Map(), pending: [], open: undefined };
        this.dbs.set(loc, s);
      }
      // Recovery: what survived is written into a synced table.
      for (const b of s.pending) applyBatch(s.durable, b);
      s.pending = [];
      const mem: Mem = new MemoryLevel<Buffer, Buffer>({ keyEncoding: 'buffer', valueEncoding: 'buffer' });
      await mem.open();
      const ops = [...s.durable.entries()].map(([k, v]) => ({ type: 'put' as const, key: Buffer.from(k, 'latin1'), value: v }));
      if (ops.length > 0) await mem.batch(ops);
      if (generation !== this.generation) {
        await mem.close();
        throw engineError(`the process is gone (${loc})`, 'EIO');
      }
      const db = new SimDb(this, loc, s, mem);
      s.open = db;
      return db;
    });
  }

  destroy(location: string): Promise<void> {
    const loc = posix.resolve('/', location);
    return this.run('destroy', loc, this.generation, () => {
      if (this.dbs.get(loc)?.open) throw engineError(`cannot destroy an open database (${loc})`, 'EBUSY');
      this.dbs.delete(loc);
    });
  }

  exists(location: string): Promise<boolean> {
    const loc = posix.resolve('/', location);
    return this.run('exists', loc, this.generation, () => this.dbs.has(loc));
  }

  rename(from: string, to: string): Promise<void> {
    const src = posix.resolve('/', from);
    const dst = posix.resolve('/', to);
    return this.run('rename', src, this.generation, () => {
      const moving = this.under(src);
      if (moving.length === 0) throw engineError(`ENOENT: no such file or directory, rename '${src}'`, 'ENOENT');
      if (this.under(dst).length > 0) throw engineError(`ENOTEMPTY: directory not empty, rename '${dst}'`, 'ENOTEMPTY');
      for (const loc of moving) if (this.dbs.get(loc)!.open) throw engineError(`cannot rename an open database (${loc})`, 'EBUSY');
      for (const loc of moving) {
        const s = this.dbs.get(loc)!;
        this.dbs.delete(loc);
        this.dbs.set(dst + loc.slice(src.length), s);
      }
    });
  }

  remove(location: string): Promise<void> {
    const loc = posix.resolve('/', location);
    return this.run('remove', loc, this.generation, () => {
      const victims = this.under(loc);
      for (const l of victims) if (this.dbs.get(l)!.open) throw engineError(`cannot remove an open database (${l})`, 'EBUSY');
      for (const l of victims) this.dbs.delete(l);
    });
  }

  list(parent: string): Promise<string[]> {
    const p = posix.resolve('/', parent);
    return this.run('list', p, this.generation, () => {
      const names = new Set<string>();
      const prefix = p === '/' ? '/' : `${p}/`;
      for (const loc of this.dbs.keys()) {
        if (loc.startsWith(prefix)) names.add(loc.slice(prefix.length).split('/')[0]!);
      }
      return [...names].sort();
    });
  }

  usage(location: string): Promise<DbUsage> {
    const loc = posix.resolve('/', location);
    return this.run('usage', loc, this.generation, () => {
      const s = this.dbs.get(loc);
      if (!s) throw engineError(`ENOENT: no such file or directory, scandir '${loc}'`, 'ENOENT');
      let logs = 0;
      for (const b of s.pending) for (const op of b) logs += op.key.length + (op.type === 'put' ? op.value.length : 0);
      let tables = 0;
      for (const [k, v] of s.durable) tables += k.length + v.length;
      return { total: tables + logs, logs };
    });
  }

  recoveryNotes(_location: string): Promise<string[]> {
    return Promise.resolve([]); // a torn log record is dropped silently here, as LevelDB's paranoid_checks=false does
  }

  // ---- internals ----------------------------------------------------------------------------

  /** Locations at or under `loc`. */
  private under(loc: string): string[] {
    return [...this.dbs.keys()].filter((l) => l === loc || l.startsWith(`${loc}/`));
  }

  /** Runs an operation at once or through the scheduler; one whose process died rejects. */
  run<T>(op: string, location: string, generation: number, fn: () => T | Promise<T>): Promise<T> {
    if (op === 'batch') this.counters.batches++;
    const exec = (): Promise<T> => {
      if (generation !== this.generation) return Promise.reject(engineError(`the process is gone (${location})`, 'EIO'));
      try {
        return Promise.resolve(fn());
      } catch (err) {
        return Promise.reject(err);
      }
    };
    if (!this.schedule) return exec();
    const schedule = this.schedule;
    return new Promise<T>((resolve, reject) => schedule(() => void exec().then(resolve, reject), this.latency(op, location)));
  }
}

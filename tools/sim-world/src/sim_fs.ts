// SimFs: an in-memory FileSystem for @kv/wal with a page-cache model, for the whole-cluster
// simulation. No real I/O; every choice it makes comes from the injected random source, so one
// seed gives one history.
//
// The model (strict POSIX, as ext4 without auto_da_alloc and without relying on its journal
// ordering — the most a program may assume):
//   - File contents: every write and truncate is applied to the file at once (what reads see),
//     and also queued as volatile. fsync/fdatasync of a file makes its queued writes durable.
//   - Names: creating, renaming and removing a name changes the directory at once and is volatile
//     until that directory is fsynced (fsyncDir). A rename across directories needs both.
//   - crash() (power loss): every directory reverts to its durable names (files and directories
//     reachable only through volatile names are gone); every file keeps its durable bytes plus a
//     random prefix of its volatile writes, the last kept one possibly torn: cut at a random byte,
//     cut at a 512-byte sector boundary, or its bytes zeroed. Open handles and locks die.
//   - kill() (the process dies, the OS survives): everything written stays, still volatile; open
//     handles and locks die.
//   - failFsync: the chosen fsyncs reject with EIO and, as Linux does since the "fsyncgate"
//     discussion (2018), the file's volatile writes are dropped from the writeback queue: reads
//     still see them until a crash, a later fsync succeeds without making them durable.
//   - A capacity: a write that grows the used bytes past it writes what fits (a short write) and
//     then rejects with ENOSPC.
import { posix } from 'node:path';
import type { FileLock, FileSystem, FsFile, OpenFlags } from '@kv/wal';

/** The random source (the shape of @kv/server's Random: uniform in [0, 1)). */
export interface SimRandom {
  next(): number;
}

/** Runs fn after delayMs of simulated time (the simulation's scheduler). */
export type Schedule = (fn: () => void, delayMs: number) => void;

export interface SimFsOptions {
  random: SimRandom;
  /** If given, every operation completes through it, after latency(op) ms; else at once. */
  schedule?: Schedule;
  /** Simulated latency of an operation (default 0); called only with schedule. */
  latency?: (op: string, path: string) => number;
  /** Bytes of file contents the disk holds (default: unlimited). */
  capacityBytes?: number;
  /** What tryLock writes into a lock file as the holder's pid (default 1). */
  pid?: number;
}

/** Which fsyncs fail: the next n, or every one on a path the predicate picks. */
export type FsyncFault = number | ((path: string) => boolean);

export const SECTOR = 512;

type Pending = { kind: 'write'; pos: number; bytes: Buffer } | { kind: 'truncate'; size: number };

/** How the last kept volatile write of a file was torn at a crash. */
export type TearKind = 'whole' | 'byte' | 'sector' | 'zeroed';

class FileNode {
  readonly kind = 'file' as const;
  /** What reads see (the page cache). */
  data: Buffer = Buffer.alloc(0);
  /** What the disk holds. */
  durable: Buffer = Buffer.alloc(0);
  /** Writes and truncates since the last fsync, in order (applied to data, not to durable). */
  pending: Pending[] = [];
  constructor(readonly id: number) {}
}

class DirNode {
  readonly kind = 'dir' as const;
  entries = new Map<string, Node>();
  durableEntries = new Map<string, Node>();
  constructor(readonly id: number) {}
}

type Node = FileNode | DirNode;

function fsError(code: string, syscall: string, path: string): NodeJS.ErrnoException {
  const text: Record<string, string> = {
    ENOENT: 'no such file or directory',
    EEXIST: 'file already exists',
    ENOTDIR: 'not a directory',
    EISDIR: 'illegal operation on a directory',
    ENOTEMPTY: 'directory not empty',
    ENOSPC: 'no space left on device',
    EIO: 'i/o error',
    EBADF: 'bad file descriptor',
    EINVAL: 'invalid argument',
  };
  const err = new Error(`${code}: ${text[code] ?? 'error'}, ${syscall} '${path}'`) as NodeJS.ErrnoException;
  err.code = code;
  err.syscall = syscall;
  err.path = path;
  return err;
}

/** Applies a write or truncate to a buffer, returning the (possibly new) buffer. */
function applyTo(buf: Buffer, op: Pending): Buffer {
  if (op.kind === 'truncate') {
    if (op.size <= buf.length) return Buffer.from(buf.subarray(0, op.size));
    const out = Buffer.alloc(op.size);
    buf.copy(out);
    return out;
  }
  const end = op.pos + op.bytes.length;
  let out = buf;
  if (end > buf.length) {
    out = Buffer.alloc(end);
    buf.copy(out);
  }
  op.bytes.copy(out, op.pos);
  return out;
}

/** A process's open file; dies with the process (crash or kill). */
class SimFile implements FsFile {
  private closed = false;

  constructor(
    private readonly fs: SimFs,
    private readonly node: FileNode,
    readonly path: string,
    private readonly readable: boolean,
    private readonly writable: boolean,
    private readonly generation: number,
  ) {}

  private check(syscall: string, need: 'read' | 'write' | 'any'): void {
    if (this.closed || this.generation !== this.fs.generation) throw fsError('EBADF', syscall, this.path);
    if ((need === 'write' && !this.writable) || (need === 'read' && !this.readable)) throw fsError('EBADF', syscall, this.path);
  }

  writev(bufs: readonly Uint8Array[], position: number): Promise<number> {
    return this.fs.run('write', this.path, this.generation, () => {
      this.check('write', 'write');
      const bytes = Buffer.concat(bufs.map((b) => Buffer.from(b.buffer, b.byteOffset, b.byteLength)));
      let n = bytes.length;
      const grow = Math.max(0, position + n - this.node.data.length);
      if (grow > 0) {
        const room = this.fs.freeBytesNow();
        if (room < grow) {
          // What fits: up to the old end plus the room left (nothing if the gap alone is too big).
          n = Math.max(0, Math.min(n, this.node.data.length + room - position));
          if (n <= 0) throw fsError('ENOSPC', 'write', this.path);
        }
      }
      if (n === 0) return 0;
      this.fs.writeNode(this.node, { kind: 'write', pos: position, bytes: Buffer.from(bytes.subarray(0, n)) });
      return n;
    });
  }

  read(buf: Uint8Array, offset: number, length: number, position: number): Promise<number> {
    return this.fs.run('read', this.path, this.generation, () => {
      this.check('read', 'read');
      const data = this.node.data;
      const n = Math.max(0, Math.min(length, data.length - position));
      if (n > 0) buf.set(data.subarray(position, position + n), offset);
      return n;
    });
  }

  size(): Promise<number> {
    return this.fs.run('fstat', this.path, this.generation, () => {
      this.check('fstat', 'any');
      return this.node.data.length;
    });
  }

  truncate(length: number): Promise<void> {
    return this.fs.run('ftruncate', this.path, this.generation, () => {
      this.check('ftruncate', 'write');
      const grow = length - this.node.data.length;
      if (grow > 0 && this.fs.freeBytesNow() < grow) throw fsError('ENOSPC', 'ftruncate', this.path);
      this.fs.writeNode(this.node, { kind: 'truncate', size: length });
    });
  }

  sync(): Promise<void> {
    return this.fs.run('fsync', this.path, this.generation, () => {
      this.check('fsync', 'any');
      this.fs.syncNode(this.node, this.path, 'fsync');
    });
  }

  datasync(): Promise<void> {
    return this.fs.run('fdatasync', this.path, this.generation, () => {
      this.check('fdatasync', 'any');
      this.fs.syncNode(this.node, this.path, 'fdatasync');
    });
  }

  close(): Promise<void> {
    return this.fs.run('close', this.path, this.generation, () => {
      this.check('close', 'any');
      this.closed = true;
    });
  }
}

/** Counters of what the disk did (for tests and the simulation's report). */
export interface SimFsStats {
  writes: number;
  syncs: number;
  failedSyncs: number;
  crashes: number;
  kills: number;
  /** Tears of the last kept write at crashes, by kind. */
  tears: Record<TearKind, number>;
}

export class SimFs implements FileSystem {
  /** Bumped by crash() and kill(): handles, locks and sessions of an older generation are dead. */
  generation = 0;
  private nextId = 1;
  private readonly root = new DirNode(0);
  private readonly locks = new Set<FileNode>();
  private readonly random: SimRandom;
  private readonly schedule: Schedule | undefined;
  private readonly latency: (op: string, path: string) => number;
  private capacity: number;
  private readonly pid: number;
  private fsyncFailCount = 0;
  private fsyncFailWhere: ((path: string) => boolean) | undefined;
  readonly counters: SimFsStats = {
    writes: 0,
    syncs: 0,
    failedSyncs: 0,
    crashes: 0,
    kills: 0,
    tears: { whole: 0, byte: 0, sector: 0, zeroed: 0 },
  };

  constructor(options: SimFsOptions) {
    this.random = options.random;
    this.schedule = options.schedule;
    this.latency = options.latency ?? (() => 0);
    this.capacity = options.capacityBytes ?? Number.POSITIVE_INFINITY;
    this.pid = options.pid ?? 1;
  }

  // ---- the simulation's controls ----------------------------------------------------------

  /**
   * Power loss: names revert to their durable state, files keep their durable bytes plus a random
   * prefix of their volatile writes (the last one possibly torn). Handles and locks die.
   */
  crash(): void {
    this.generation++;
    this.counters.crashes++;
    this.locks.clear();
    const seen = new Set<Node>();
    const visit = (dir: DirNode): void => {
      dir.entries = new Map(dir.durableEntries);
      for (const child of dir.entries.values()) {
        if (seen.has(child)) continue;
        seen.add(child);
        if (child.kind === 'dir') visit(child);
        else this.crashFile(child);
      }
    };
    visit(this.root);
  }

  /** The process dies, the OS survives: everything written stays (still volatile). */
  kill(): void {
    this.generation++;
    this.counters.kills++;
    this.locks.clear();
  }

  /** Makes fsyncs fail with EIO: the next n of them, or all on paths `where` picks (until clearFaults). */
  failFsync(fault: FsyncFault): void {
    if (typeof fault === 'number') this.fsyncFailCount += fault;
    else this.fsyncFailWhere = fault;
  }

  clearFaults(): void {
    this.fsyncFailCount = 0;
    this.fsyncFailWhere = undefined;
  }

  /** Bytes of file contents the disk may hold (Infinity: unlimited). */
  setCapacity(bytes: number): void {
    this.capacity = bytes;
  }

  /**
   * A view for one incarnation of a process: every call through it rejects (EIO) once the disk
   * crashed or the process was killed after the view was made, so a dead member's code still
   * running can change nothing.
   */
  session(): FileSystem {
    const gen = this.generation;
    const guard = <T>(fn: () => Promise<T>, what: string, path: string): Promise<T> =>
      this.generation !== gen ? Promise.reject(fsError('EIO', what, path)) : fn();
    return {
      open: (p, f, m) => guard(() => this.open(p, f, m), 'open', p),
      readFile: (p) => guard(() => this.readFile(p), 'read', p),
      readdir: (p) => guard(() => this.readdir(p), 'scandir', p),
      mkdir: (p, o) => guard(() => this.mkdir(p, o), 'mkdir', p),
      rename: (a, b) => guard(() => this.rename(a, b), 'rename', a),
      rm: (p, o) => guard(() => this.rm(p, o), 'rm', p),
      rmdir: (p) => guard(() => this.rmdir(p), 'rmdir', p),
      copyFile: (a, b) => guard(() => this.copyFile(a, b), 'copyfile', a),
      exists: (p) => guard(() => this.exists(p), 'access', p),
      stat: (p) => guard(() => this.stat(p), 'stat', p),
      fsyncDir: (p) => guard(() => this.fsyncDir(p), 'fsync', p),
      freeBytes: (p) => guard(() => this.freeBytes(p), 'statfs', p),
      tryLock: (p) => guard(() => this.tryLock(p), 'open', p),
    };
  }

  /**
   * The durable state, canonically: every durable path with its durable bytes (directories end
   * in '/'), in sorted order. Two runs of one seed give equal images.
   */
  durableImage(): Map<string, Buffer | 'dir'> {
    const out = new Map<string, Buffer | 'dir'>();
    const visit = (dir: DirNode, path: string): void => {
      for (const name of [...dir.durableEntries.keys()].sort()) {
        const child = dir.durableEntries.get(name)!;
        const p = posix.join(path, name);
        if (child.kind === 'dir') {
          out.set(`${p}/`, 'dir');
          visit(child, p);
        } else {
          out.set(p, child.durable);
        }
      }
    };
    visit(this.root, '/');
    return out;
  }

  // ---- FileSystem ---------------------------------------------------------------------------

  open(path: string, flags: OpenFlags, _mode?: number): Promise<FsFile> {
    const gen = this.generation;
    return this.run('open', path, gen, () => {
      let node = this.lookup(path);
      if (node?.kind === 'dir') throw fsError('EISDIR', 'open', path);
      if (flags === 'wx' && node) throw fsError('EEXIST', 'open', path);
      if ((flags === 'r' || flags === 'r+') && !node) throw fsError('ENOENT', 'open', path);
      if (!node) node = this.link(path, new FileNode(this.nextId++), 'open');
      else if (flags === 'w' || flags === 'w+') this.writeNode(node, { kind: 'truncate', size: 0 });
      const readable = flags !== 'w' && flags !== 'wx';
      const writable = flags !== 'r';
      return new SimFile(this, node as FileNode, path, readable, writable, gen);
    });
  }

  readFile(path: string): Promise<Buffer> {
    return this.run('read', path, this.generation, () => Buffer.from(this.file(path, 'open').data));
  }

  readdir(path: string): Promise<string[]> {
    return this.run('scandir', path, this.generation, () => [...this.dir(path, 'scandir').entries.keys()]);
  }

  mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): Promise<void> {
    return this.run('mkdir', path, this.generation, () => {
      const existing = this.lookup(path);
      if (existing) {
        if (options.recursive && existing.kind === 'dir') return;
        throw fsError('EEXIST', 'mkdir', path);
      }
      if (options.recursive) {
        const parent = posix.dirname(path);
        if (parent !== path && !this.lookup(parent)) {
          const parts = posix.resolve(parent).split('/').filter(Boolean);
          let p = '/';
          for (const part of parts) {
            p = posix.join(p, part);
            const n = this.lookup(p);
            if (!n) this.link(p, new DirNode(this.nextId++), 'mkdir');
            else if (n.kind !== 'dir') throw fsError('ENOTDIR', 'mkdir', path);
          }
        }
      }
      this.link(path, new DirNode(this.nextId++), 'mkdir');
    });
  }

  rename(from: string, to: string): Promise<void> {
    return this.run('rename', from, this.generation, () => {
      const node = this.lookup(from);
      if (!node) throw fsError('ENOENT', 'rename', from);
      const fromParent = this.dir(posix.dirname(from), 'rename');
      const toParent = this.dir(posix.dirname(to), 'rename');
      const target = toParent.entries.get(posix.basename(to));
      if (target === node) return;
      if (target) {
        if (node.kind === 'dir' && target.kind !== 'dir') throw fsError('ENOTDIR', 'rename', to);
        if (node.kind === 'file' && target.kind === 'dir') throw fsError('EISDIR', 'rename', to);
        if (target.kind === 'dir' && target.entries.size > 0) throw fsError('ENOTEMPTY', 'rename', to);
      }
      if (node.kind === 'dir' && this.isUnder(to, from)) throw fsError('EINVAL', 'rename', to);
      fromParent.entries.delete(posix.basename(from));
      toParent.entries.set(posix.basename(to), node);
    });
  }

  rm(path: string, options: { recursive?: boolean; force?: boolean } = {}): Promise<void> {
    return this.run('rm', path, this.generation, () => {
      const node = this.lookup(path);
      if (!node) {
        if (options.force) return;
        throw fsError('ENOENT', 'rm', path);
      }
      if (node.kind === 'dir' && !options.recursive) throw fsError('EISDIR', 'rm', path);
      this.unlink(path);
    });
  }

  rmdir(path: string): Promise<void> {
    return this.run('rmdir', path, this.generation, () => {
      const node = this.dir(path, 'rmdir');
      if (node.entries.size > 0) throw fsError('ENOTEMPTY', 'rmdir', path);
      this.unlink(path);
    });
  }

  copyFile(from: string, to: string): Promise<void> {
    return this.run('copyfile', from, this.generation, () => {
      const src = this.file(from, 'copyfile');
      if (this.freeBytesNow() < src.data.length) throw fsError('ENOSPC', 'copyfile', to);
      let dst = this.lookup(to);
      if (dst?.kind === 'dir') throw fsError('EISDIR', 'copyfile', to);
      if (!dst) dst = this.link(to, new FileNode(this.nextId++), 'copyfile');
      this.writeNode(dst as FileNode, { kind: 'truncate', size: 0 });
      this.writeNode(dst as FileNode, { kind: 'write', pos: 0, bytes: Buffer.from(src.data) });
    });
  }

  exists(path: string): Promise<boolean> {
    return this.run('access', path, this.generation, () => this.lookup(path) !== undefined);
  }

  stat(path: string): Promise<{ size: number; isDirectory: boolean }> {
    return this.run('stat', path, this.generation, () => {
      const node = this.lookup(path);
      if (!node) throw fsError('ENOENT', 'stat', path);
      return { size: node.kind === 'file' ? node.data.length : 0, isDirectory: node.kind === 'dir' };
    });
  }

  fsyncDir(path: string): Promise<void> {
    return this.run('fsync', path, this.generation, () => {
      const dir = this.dir(path, 'open');
      if (this.fsyncFails(path)) {
        this.counters.failedSyncs++;
        throw fsError('EIO', 'fsync', path);
      }
      this.counters.syncs++;
      dir.durableEntries = new Map(dir.entries);
    });
  }

  freeBytes(path: string): Promise<number> {
    return this.run('statfs', path, this.generation, () => {
      if (!this.lookup(path)) throw fsError('ENOENT', 'statfs', path);
      const free = this.freeBytesNow();
      return Number.isFinite(free) ? free : Number.MAX_SAFE_INTEGER;
    });
  }

  tryLock(path: string): Promise<FileLock | undefined> {
    const gen = this.generation;
    return this.run('open', path, gen, () => {
      let node = this.lookup(path);
      if (node?.kind === 'dir') throw fsError('EISDIR', 'open', path);
      if (!node) node = this.link(path, new FileNode(this.nextId++), 'open');
      const file = node as FileNode;
      if (this.locks.has(file)) return undefined;
      this.locks.add(file);
      this.writeNode(file, { kind: 'truncate', size: 0 });
      this.writeNode(file, { kind: 'write', pos: 0, bytes: Buffer.from(`${this.pid}\n`) });
      return {
        release: () => {
          if (this.generation === gen) this.locks.delete(file);
        },
      };
    });
  }

  // ---- internals (used by SimFile) --------------------------------------------------------

  /**
   * Runs an operation: at once (a settled promise), or through the scheduler after its latency.
   * An operation whose process died (crash or kill) before it completed does nothing and rejects.
   */
  run<T>(op: string, path: string, generation: number, fn: () => T): Promise<T> {
    const exec = (): T => {
      if (generation !== this.generation) throw fsError('EIO', op, path);
      return fn();
    };
    if (!this.schedule) {
      try {
        return Promise.resolve(exec());
      } catch (err) {
        return Promise.reject(err);
      }
    }
    const schedule = this.schedule;
    const delay = this.latency(op, path);
    return new Promise<T>((resolve, reject) => {
      schedule(() => {
        try {
          resolve(exec());
        } catch (err) {
          reject(err);
        }
      }, delay);
    });
  }

  writeNode(node: FileNode, op: Pending): void {
    node.data = applyTo(node.data, op);
    node.pending.push(op);
    this.counters.writes++;
  }

  syncNode(node: FileNode, path: string, syscall: string): void {
    if (this.fsyncFails(path)) {
      // fsyncgate: the pages are marked clean anyway; their data will never reach the disk.
      node.pending = [];
      this.counters.failedSyncs++;
      throw fsError('EIO', syscall, path);
    }
    for (const op of node.pending) node.durable = applyTo(node.durable, op);
    node.pending = [];
    this.counters.syncs++;
  }

  freeBytesNow(): number {
    if (!Number.isFinite(this.capacity)) return Number.POSITIVE_INFINITY;
    let used = 0;
    const seen = new Set<Node>();
    const visit = (dir: DirNode): void => {
      for (const child of dir.entries.values()) {
        if (seen.has(child)) continue;
        seen.add(child);
        if (child.kind === 'dir') visit(child);
        else used += child.data.length;
      }
    };
    visit(this.root);
    return Math.max(0, this.capacity - used);
  }

  private fsyncFails(path: string): boolean {
    if (this.fsyncFailCount > 0) {
      this.fsyncFailCount--;
      return true;
    }
    return this.fsyncFailWhere?.(path) ?? false;
  }

  /** A file's state after power loss: durable bytes plus a random prefix of its volatile writes. */
  private crashFile(node: FileNode): void {
    const pending = node.pending;
    let image = node.durable;
    if (pending.length > 0) {
      const keep = Math.floor(this.random.next() * (pending.length + 1));
      for (let i = 0; i < keep; i++) {
        const op = pending[i]!;
        if (i < keep - 1 || op.kind === 'truncate') {
          image = applyTo(image, op);
          continue;
        }
        image = applyTo(image, this.tear(op, image.length));
      }
    }
    node.durable = image;
    node.data = Buffer.from(image);
    node.pending = [];
  }

  /**
   * The last kept write as the disk may hold it: whole; cut at a random byte (only where the write
   * extended the file: the file then ends there — inside the file, a disk writes whole sectors);
   * cut at a 512-byte sector boundary of the file; or zeroed (never written).
   */
  private tear(op: Pending & { kind: 'write' }, imageSize: number): Pending {
    const r = this.random.next();
    const len = op.bytes.length;
    let kind: TearKind;
    let bytes: Buffer;
    if (r < 0.25 || len === 0) {
      kind = 'whole';
      bytes = op.bytes;
    } else if (r < 0.5 && op.pos + len > imageSize) {
      kind = 'byte';
      // The part inside the file is kept whole; the extension ends at a random byte.
      const inside = Math.max(0, imageSize - op.pos);
      bytes = op.bytes.subarray(0, inside + Math.floor(this.random.next() * (len - inside)));
    } else if (r < 0.75) {
      kind = 'sector';
      bytes = op.bytes.subarray(0, this.sectorCut(op.pos, len));
    } else {
      kind = 'zeroed';
      bytes = Buffer.alloc(len);
    }
    this.counters.tears[kind]++;
    return { kind: 'write', pos: op.pos, bytes };
  }

  /** How many of `len` bytes written at `pos` a cut at a random sector boundary of the file keeps. */
  private sectorCut(pos: number, len: number): number {
    const firstBoundary = Math.ceil(pos / SECTOR) * SECTOR;
    const sectors = Math.floor((pos + len - firstBoundary) / SECTOR);
    if (sectors < 0 || firstBoundary > pos + len) return 0;
    const cutAt = firstBoundary + SECTOR * Math.floor(this.random.next() * (sectors + 1));
    return Math.max(0, Math.min(len, cutAt - pos));
  }

  private lookup(path: string): Node | undefined {
    const parts = posix.resolve('/', path).split('/').filter(Boolean);
    let node: Node = this.root;
    for (const part of parts) {
      if (node.kind !== 'dir') return undefined;
      const next: Node | undefined = node.entries.get(part);
      if (!next) return undefined;
      node = next;
    }
    return node;
  }

  private dir(path: string, syscall: string): DirNode {
    const node = this.lookup(path);
    if (!node) throw fsError('ENOENT', syscall, path);
    if (node.kind !== 'dir') throw fsError('ENOTDIR', syscall, path);
    return node;
  }

  private file(path: string, syscall: string): FileNode {
    const node = this.lookup(path);
    if (!node) throw fsError('ENOENT', syscall, path);
    if (node.kind !== 'file') throw fsError('EISDIR', syscall, path);
    return node;
  }

  private link<N extends Node>(path: string, node: N, syscall: string): N {
    const parent = this.dir(posix.dirname(posix.resolve('/', path)), syscall);
    parent.entries.set(posix.basename(path), node);
    return node;
  }

  private unlink(path: string): void {
    const parent = this.dir(posix.dirname(posix.resolve('/', path)), 'unlink');
    parent.entries.delete(posix.basename(path));
  }

  private isUnder(path: string, dir: string): boolean {
    const p = posix.resolve('/', path);
    const d = posix.resolve('/', dir);
    return p === d || p.startsWith(`${d}/`);
  }
}

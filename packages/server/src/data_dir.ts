// The member's data directory: created 0700 like etcd's, and locked against a second process.
//
// Layout:
//   <data-dir>/member/          0700
//   <data-dir>/member/lock      pid of the process that owns the directory
//   <data-dir>/member/db/       the backend (LevelDB; its own LOCK file is a second, kernel-held guard)
//   <data-dir>/member/wal/      the write-ahead log (replicated cluster), unless --wal-dir names
//                               a dedicated directory for it (then member/wal is never created)
//   <data-dir>/member/snap/     raft snapshot files (replicated cluster)
import {
  chmodSync,
  closeSync,
  constants,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
import { dirname, join } from 'node:path';

export class DataDirError extends Error {
  override readonly name = 'DataDirError';
}

export interface DataDirLayout {
  root: string;
  member: string;
  db: string;
  /** The WAL directory: --wal-dir when given, else <data-dir>/member/wal. */
  wal: string;
  /** Whether `wal` is a dedicated directory (--wal-dir) rather than member/wal. */
  dedicatedWal: boolean;
  snap: string;
}

/** The data dir's parts; `walDir` (etcd's --wal-dir, '' or absent: none) moves the WAL out of it. */
export function layout(dataDir: string, walDir = ''): DataDirLayout {
  const member = join(dataDir, 'member');
  const dedicatedWal = walDir !== '';
  return {
    root: dataDir,
    member,
    db: join(member, 'db'),
    wal: dedicatedWal ? walDir : join(member, 'wal'),
    dedicatedWal,
    snap: join(member, 'snap'),
  };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  // A killed member whose parent has not reaped it yet (a zombie) still answers kill(pid, 0), but
  // holds nothing: its descriptors and kernel locks are gone.
  return !isZombie(pid);
}

/** Whether /proc says the process has exited and awaits its parent (Linux; false elsewhere). */
function isZombie(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) S ...": comm may hold spaces and parentheses, the state follows the last ')'
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) === 'Z';
  } catch {
    return false;
  }
}

/** A held lock on a data directory; `release()` removes it. */
export interface DataDirLock {
  readonly path: string;
  release(): void;
}

/** fsync of a directory on node's fs: open it read-only and sync the descriptor. */
export function fsyncDirSync(dir: string): void {
  const fd = openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * mkdir -p `dir` (mode 0700), then fsync the parent of every directory it created, deepest last,
 * so that the new names survive a power loss (etcd's fileutil.TouchDirAll followed by an fsync of
 * the parent).
 */
function mkdirDurable(dir: string, syncDir: (dir: string) => void): void {
  const first = mkdirSync(dir, { recursive: true, mode: 0o700 });
  if (first === undefined) return; // it existed: nothing new to make durable
  const created: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    created.unshift(d);
    if (d === first || dirname(d) === d) break;
  }
  // Invariant: a directory's own entry is synced before its child's, so when the sync of the
  // deepest parent returns, the whole new path is durable.
  for (const d of created) syncDir(dirname(d));
}

export interface OpenDataDirOptions {
  /** fsync of a directory (default fsyncDirSync; tests observe it). */
  syncDir?: (dir: string) => void;
  /** A dedicated WAL directory (--wal-dir), checked and tightened like the member dir. */
  walDir?: string;
}

/** Lock files held by this process (a second open from the same process is refused too). */
const heldHere = new Set<string>();

/**
 * Creates the directory tree (mode 0700, every new directory's name made durable) and takes its
 * lock: a `lock` file created exclusively that holds our pid. A lock left by a process that is
 * gone (a crash, SIGKILL) is taken over; a lock held by a live process is refused with an error
 * naming it. (wal/ and snap/ are created by @kv/wal, which syncs their parent through its
 * FileSystem.)
 */
export function openDataDir(dataDir: string, o: OpenDataDirOptions = {}): { dirs: DataDirLayout; lock: DataDirLock; notices: string[] } {
  const dirs = layout(dataDir, o.walDir);
  const syncDir = o.syncDir ?? fsyncDirSync;
  /** Repairs made on the way, for the caller to log at warn. */
  const notices: string[] = [];
  const tighten = (d: string) => {
    // etcd refuses group/world access too; tighten a directory created earlier by someone else.
    const mode = statSync(d).mode & 0o777;
    if ((mode & 0o077) !== 0) {
      chmodSync(d, 0o700);
      notices.push(`tightened the mode of ${d} from ${mode.toString(8)} to 700`);
    }
  };
  for (const d of [dirs.root, dirs.member]) {
    mkdirDurable(d, syncDir);
    tighten(d);
  }
  if (dirs.dedicatedWal) {
    // A dedicated WAL dir is made by @kv/wal (created whole under <dir>.tmp, then renamed); here
    // its parent is made durable and an existing one must be a directory, private to us.
    mkdirDurable(dirname(dirs.wal), syncDir);
    let st;
    try {
      st = statSync(dirs.wal);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    if (st && !st.isDirectory()) throw new DataDirError(`--wal-dir ${dirs.wal} exists and is not a directory`);
    if (st) tighten(dirs.wal);
  }
  const lockPath = join(dirs.member, 'lock');
  if (heldHere.has(lockPath)) {
    throw new DataDirError(`data dir ${dataDir} is in use by another process (pid ${process.pid}); lock file ${lockPath}`);
  }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      const fd = openSync(lockPath, 'wx', 0o600);
      writeSync(fd, `${process.pid}\n`);
      closeSync(fd);
      heldHere.add(lockPath);
      let released = false;
      return {
        dirs,
        notices,
        lock: {
          path: lockPath,
          release() {
            if (released) return;
            released = true;
            heldHere.delete(lockPath);
            rmSync(lockPath, { force: true });
          },
        },
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      let owner = NaN;
      try {
        owner = Number.parseInt(readFileSync(lockPath, 'utf8'), 10);
      } catch {
        // vanished between open and read: try again
      }
      if (Number.isInteger(owner) && owner !== process.pid && isAlive(owner)) {
        throw new DataDirError(`data dir ${dataDir} is in use by another process (pid ${owner}); lock file ${lockPath}`);
      }
      // Stale: its owner died without releasing it.
      notices.push(
        `took over the lock of ${Number.isInteger(owner) ? `pid ${owner}, which is gone` : 'a process that is gone'} (${lockPath})`,
      );
      rmSync(lockPath, { force: true });
    }
  }
  throw new DataDirError(`could not lock data dir ${dataDir}`);
}

/**
 * Takes group and world access away from everything under `dir` (directories 0700, files 0600),
 * as etcd keeps its data: LevelDB creates its directory and files with the process umask (0755,
 * 0644 under the usual 022). kvd also sets the umask to 077 so that files created later (new
 * table files, snapshot directories) are private from the start; this fixes what an earlier run
 * left. Symbolic links are not followed; entries that vanish meanwhile (a LevelDB compaction
 * removing a table) are skipped. Returns how many modes it changed.
 */
export function restrictModes(dir: string): number {
  let changed = 0;
  const visit = (path: string): void => {
    let st;
    try {
      st = lstatSync(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    if (st.isSymbolicLink()) return;
    const want = st.isDirectory() ? (st.mode & 0o700) | 0o700 : st.mode & 0o600;
    if ((st.mode & 0o777) !== want) {
      try {
        chmodSync(path, want);
        changed++;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    if (st.isDirectory()) {
      let names: string[] = [];
      try {
        names = readdirSync(path);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
      for (const n of names) visit(join(path, n));
    }
  };
  visit(dir);
  return changed;
}

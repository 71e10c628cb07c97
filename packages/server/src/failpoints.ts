// Failpoints: named points in the member's loops where a test can make it crash or stall, at the
// places etcd has them (server/etcdserver/raft.go, backend/batch_tx.go). Off in every normal run:
// `failpoint(name)` does nothing unless kvd was started with KVD_TEST_HOOKS=1 and KVD_FAILPOINTS,
// a comma list of name=action with action one of
//   panic        exit the process at once (SIGKILL to itself: nothing is flushed, like a crash)
//   sleep(ms)    stall this point for ms milliseconds (the rest of the process keeps running)
//   N%panic      panic with probability N/100 each time, from a seeded generator
//                (KVD_FAILPOINTS_SEED, default 1, so a run repeats)
//   N%sleep(ms)  the same for a stall
// e.g. KVD_FAILPOINTS=raftAfterSave=10%panic,beforeCommit=sleep(200).
// An unknown name or action stops kvd at start-up (exit code 2, with the reason on stderr).

/** The points, and where they are. */
export const FAILPOINTS = [
  'raftBeforeSave', // consensus: before the WAL save of hard state and entries
  'raftAfterSave', // consensus: after the WAL save, before applying snapshot/entries to raft's storage
  'beforeCommit', // apply group: before the backend batch of a commit group is committed
  'raftBeforeApply', // consensus: before committed entries are applied
  'raftBeforeApplySnap', // consensus: before a received snapshot is installed
  'raftBeforeLeaderSend', // consensus: before a leader sends its messages (before persisting)
  'raftBeforeFollowerSend', // consensus: before a follower sends its messages (after persisting)
] as const;
export type FailpointName = (typeof FAILPOINTS)[number];

export interface FailpointAction {
  kind: 'panic' | 'sleep';
  ms: number;
  /** Probability in (0, 1]. */
  probability: number;
}

/** Parses a KVD_FAILPOINTS value; throws Error with the offending part. */
export function parseFailpoints(spec: string): Map<FailpointName, FailpointAction> {
  const out = new Map<FailpointName, FailpointAction>();
  for (const part of spec
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s !== '')) {
    const m = /^([A-Za-z]+)=(?:(\d+(?:\.\d+)?)%)?(panic|sleep\((\d+)\))$/.exec(part);
    if (m === null) throw new Error(`KVD_FAILPOINTS: cannot parse ${JSON.stringify(part)} (want name=panic, name=sleep(ms), name=N%panic)`);
    const name = m[1] as FailpointName;
    if (!FAILPOINTS.includes(name))
      throw new Error(`KVD_FAILPOINTS: unknown failpoint ${JSON.stringify(name)} (known: ${FAILPOINTS.join(', ')})`);
    const pct = m[2] === undefined ? 100 : Number(m[2]);
    if (!(pct > 0 && pct <= 100)) throw new Error(`KVD_FAILPOINTS: probability of ${name} must be in (0, 100], got ${m[2]}`);
    out.set(name, { kind: m[3] === 'panic' ? 'panic' : 'sleep', ms: m[4] === undefined ? 0 : Number(m[4]), probability: pct / 100 });
  }
  return out;
}

let armed: Map<FailpointName, FailpointAction> = new Map();
let seed = 1;

/** mulberry32: the seeded generator of the N% actions. */
function nextRandom(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
}

/**
 * Arms the failpoints named in env.KVD_FAILPOINTS when env.KVD_TEST_HOOKS is "1" (kvd's start-up
 * calls it); returns the names armed. Throws on a malformed value.
 */
export function initFailpoints(env: NodeJS.ProcessEnv = process.env): FailpointName[] {
  armed = new Map();
  if (env.KVD_TEST_HOOKS !== '1' || !env.KVD_FAILPOINTS) return [];
  armed = parseFailpoints(env.KVD_FAILPOINTS);
  const s = Number(env.KVD_FAILPOINTS_SEED ?? '1');
  if (!Number.isInteger(s)) throw new Error(`KVD_FAILPOINTS_SEED must be an integer, got ${env.KVD_FAILPOINTS_SEED}`);
  seed = s;
  return [...armed.keys()];
}

/** Disarms every failpoint (tests). */
export function clearFailpoints(): void {
  armed = new Map();
}

/**
 * Whether any failpoint is armed: a synchronous guard for the hot paths, so that a normal run
 * (KVD_FAILPOINTS unset) never awaits at a point, `if (failpointsArmed()) await failpoint(name)`.
 */
export function failpointsArmed(): boolean {
  return armed.size > 0;
}

/**
 * The point `name` is reached: nothing (undefined, synchronously) unless armed; a panic never
 * returns; a sleep returns a promise to await.
 */
export function failpoint(name: FailpointName): Promise<void> | undefined {
  if (armed.size === 0) return undefined;
  const a = armed.get(name);
  if (a === undefined) return undefined;
  if (a.probability < 1 && nextRandom() >= a.probability) return undefined;
  if (a.kind === 'panic') {
    process.stderr.write(`kvd: failpoint ${name}: panic\n`);
    process.kill(process.pid, 'SIGKILL');
  }
  return new Promise((resolve) => setTimeout(resolve, a.ms));
}

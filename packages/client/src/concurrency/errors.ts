// The errors of etcd's clientv3/concurrency package, with its texts.

/** The session's lease is gone (expired or revoked) while waiting: etcd 3.5's ErrSessionExpired. */
export class SessionExpiredError extends Error {
  override readonly name = 'SessionExpiredError';
  constructor() {
    super('mutex: session is expired');
  }
}

/** Mutex.tryLock found the lock held by another session: etcd 3.5's ErrLocked. */
export class MutexLockedError extends Error {
  override readonly name = 'MutexLockedError';
  constructor() {
    super('mutex: Locked by another session');
  }
}

/** Proclaim (or campaign's value update) without holding the leadership: ErrElectionNotLeader. */
export class ElectionNotLeaderError extends Error {
  override readonly name = 'ElectionNotLeaderError';
  constructor() {
    super('election: not leader');
  }
}

/** Leader() on an election without candidates: ErrElectionNoLeader. */
export class ElectionNoLeaderError extends Error {
  override readonly name = 'ElectionNoLeaderError';
  constructor() {
    super('election: no leader');
  }
}

/** What a wait throws when its signal aborts: the signal's reason, or etcd's `context canceled`. */
export function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new Error('context canceled');
}

// Known bugs, fixed, that the simulation can put back (`pnpm sim --bug <name>`), to show that it
// finds them. Each is a member option; none changes anything when not asked for.
//
//   read-index-collision  ReadIndex contexts as they were before commit b28ae1f: an 8-byte
//                         sequence number per member, from 1 at every start, with no member id
//                         and no nonce. Two members' rounds collide at the leader (one waits for
//                         a retry), and a restarted member's round can be answered by the read
//                         state of its previous run's round with the same number, whose index
//                         was recorded before the new round began: a stale read.
import type { MemberOptions, ReadContextSource } from '@kv/server';

export type BugName = 'read-index-collision';
export const bugNames: readonly BugName[] = ['read-index-collision'];

/** The pre-b28ae1f contexts: 1, 2, 3, ... (8 bytes, big-endian), restarting at every start. */
export class PerStartCounter implements ReadContextSource {
  /** Contexts handed out by all instances (shows the hook is in use). */
  static issued = 0;
  private seq = 0n;
  next(): Buffer {
    PerStartCounter.issued++;
    this.seq += 1n;
    const ctx = Buffer.alloc(8);
    ctx.writeBigUInt64BE(this.seq);
    return ctx;
  }
}

/** The member options that put `bug` back (none: production behaviour). */
export function bugOptions(bug: BugName | undefined): Partial<MemberOptions> {
  switch (bug) {
    case 'read-index-collision':
      return { readContexts: () => new PerStartCounter() };
    case undefined:
      return {};
  }
}

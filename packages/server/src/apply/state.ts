// The parts of the state machine that live on one backend: opened together at start, and replaced
// together when a snapshot is installed.
import { KVStore, WatchableStore, type Backend, type MvccClock, type SyncScheduler } from '@kv/mvcc';
import type { Logger } from 'pino';
import { Membership } from '../cluster/membership.js';
import type { ServerConfig } from '../config.js';
import { Lessor, minLeaseTTL } from '../lease/lessor.js';
import type { Clock } from '../world/clock.js';
import type { MemberDisk } from '../world/disk.js';
import { AlarmStore } from './alarms.js';
import { AuthStore } from '../auth/store.js';

export interface StateParts {
  backend: Backend;
  store: KVStore;
  watchable: WatchableStore;
  lessor: Lessor;
  alarms: AlarmStore;
  membership: Membership;
  auth: AuthStore;
}

/** The member's clock as mvcc's (Backend, KVStore). */
export function mvccClock(clock: Clock): MvccClock {
  return { now: () => clock.now(), setTimeout: (fn, ms) => clock.setTimeout(fn, ms) };
}

/** The member's clock as the watchable store's catch-up scheduler (0 ms = setImmediate). */
export function watchScheduler(clock: Clock): SyncScheduler {
  return (task, delayMs) => {
    const t = delayMs <= 0 ? clock.setImmediate(task) : clock.setTimeout(task, delayMs);
    return () => t.clear();
  };
}

async function collect(it: AsyncIterable<[Buffer, Buffer]>, pick: 0 | 1): Promise<Buffer[]> {
  const out: Buffer[] = [];
  for await (const kv of it) out.push(kv[pick]);
  return out;
}

/** Opens the disk's backend and rebuilds everything kept in it. */
export async function openState(disk: MemberDisk, config: ServerConfig, clock: Clock, logger: Logger): Promise<StateParts> {
  const backend = await disk.openBackend({ onWarning: (m) => logger.warn({ db: disk.paths.db }, m), clock: mvccClock(clock) });
  try {
    const lessor = new Lessor({ now: () => clock.now(), minTTL: minLeaseTTL(config.electionTimeoutMs, config.heartbeatIntervalMs) });
    lessor.restore(await collect(backend.entries('lease'), 1));
    const alarms = new AlarmStore();
    alarms.restore(await collect(backend.entries('alarm'), 0));
    const membership = new Membership();
    membership.restore(await collect(backend.entries('members'), 1), await collect(backend.entries('membersRemoved'), 0));
    const auth = await AuthStore.open(backend);
    const store = await KVStore.open(backend, {
      leases: lessor,
      clock: mvccClock(clock),
      compactionBatchLimit: config.compactionBatchLimit,
    });
    const watchable = new WatchableStore(store, {
      scheduler: watchScheduler(clock),
      onError: (err) => logger.error({ err }, 'watch catch-up failed'),
    });
    return { backend, store, watchable, lessor, alarms, membership, auth };
  } catch (err) {
    await backend.close().catch(() => undefined);
    throw err;
  }
}

// alarm disarm, move-leader, defrag --data-dir (etcdctl 3.4's alarm_command.go,
// move_leader_command.go, defrag_command.go). alarm list and online defrag are in cluster.ts.
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { etcdserverpb } from '@kv/api';
import { Backend } from '@kv/mvcc';
import { CtlExit, ExitCode } from '../exit.js';
import { errText, orExit } from '../errtext.js';
import type { Ctx } from '../globals.js';
import { goParseUint16 } from './member.js';

export async function alarmDisarm(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 0) throw new CtlExit(ExitCode.BadArgs, 'alarm disarm command accepts no arguments');
  // etcdctl disarms with an empty AlarmMember, which clientv3 turns into: list the alarms, then
  // disarm each; the answer is the disarmed alarms, without a header.
  const client = ctx.client();
  const timeoutMs = ctx.commandTimeoutMs;
  const deadline = Date.now() + timeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  const listed = await orExit(client.maintenance.alarms({ timeoutMs }));
  const alarms: etcdserverpb.AlarmMember[] = [];
  for (const a of listed.alarms) {
    const r = await orExit(client.maintenance.disarm(a.alarm, a.memberID, { timeoutMs: left() }));
    alarms.push(...r.alarms);
  }
  const resp = etcdserverpb.AlarmResponse.fromPartial({ alarms });
  delete (resp as { header?: unknown }).header;
  ctx.display.alarm(resp);
}

/** Go's fmt %v of a []string. */
const goSlice = (xs: string[]) => `[${xs.join(' ')}]`;

export async function moveLeader(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 1) throw new CtlExit(ExitCode.BadArgs, 'move-leader command needs 1 argument');
  let target: bigint;
  try {
    target = goParseUint16(args[0]!);
  } catch (e) {
    throw new CtlExit(ExitCode.BadArgs, (e as Error).message);
  }
  const eps = ctx.globals.endpoints;
  // One command deadline for finding the leader and moving (etcdctl's single ctx).
  const deadline = Date.now() + ctx.commandTimeoutMs;
  const left = () => Math.max(1, deadline - Date.now());
  // The request must reach the leader: ask each endpoint in turn who it is.
  for (const ep of eps) {
    const c = ctx.client([ep]);
    let st: etcdserverpb.StatusResponse;
    try {
      st = await c.maintenance.status({ endpoint: ep, timeoutMs: left() });
    } catch (e) {
      throw new CtlExit(ExitCode.Error, errText(e));
    }
    const self = st.header?.memberId ?? 0n;
    if (self === st.leader) {
      const resp = await orExit(c.maintenance.moveLeader(target, { endpoint: ep, timeoutMs: left() }));
      ctx.display.moveLeader(st.leader, target, resp);
      return;
    }
  }
  throw new CtlExit(ExitCode.BadArgs, `no leader endpoint given at ${goSlice(eps)}`);
}

/**
 * defrag --data-dir: offline compaction of a stopped member's backend. kv's backend is LevelDB
 * (<data-dir>/member/db), compacted over its whole key range as the Defragment RPC does; an etcd
 * data dir (bbolt file <data-dir>/member/snap/db) is refused, kvctl does not rewrite bbolt.
 * Like etcdctl, it waits while the member still holds the database.
 */
export async function defragDataDir(ctx: Ctx, dataDir: string, opts: { retryMs?: number } = {}): Promise<void> {
  const fail = (why: string): never => {
    ctx.err.println(`Failed to defragment etcd data[${dataDir}] (${why})`);
    throw new CtlExit(ExitCode.Error, '', true);
  };
  const kvDb = join(dataDir, 'member', 'db');
  const etcdDb = join(dataDir, 'member', 'snap', 'db');
  if (!existsSync(kvDb) || !statSync(kvDb).isDirectory()) {
    if (existsSync(etcdDb) && statSync(etcdDb).isFile()) {
      fail(`${etcdDb} is an etcd (bbolt) backend: kvctl defragments kv data dirs only, use etcdctl for etcd's`);
    }
    fail(`no kv backend at ${kvDb}`);
  }
  const retryMs = opts.retryMs ?? 500;
  let warned = false;
  for (;;) {
    let be: Backend;
    try {
      be = await Backend.open(kvDb);
    } catch (e) {
      const msg = (e as Error).message;
      // LevelDB's LOCK: the member (or another tool) still has the database open.
      if (/LOCK|lock/.test(msg)) {
        if (!warned) {
          ctx.err.println(
            `waiting for etcd to close and release its lock on ${JSON.stringify(kvDb)}. To defrag a running etcd instance, omit --data-dir.`,
          );
          warned = true;
        }
        await new Promise((r) => setTimeout(r, retryMs));
        continue;
      }
      return fail(msg);
    }
    try {
      await be.defragment();
    } catch (e) {
      fail((e as Error).message);
    } finally {
      await be.close().catch(() => undefined);
    }
    return;
  }
}

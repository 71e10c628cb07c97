// compaction, member list, endpoint health|status|hashkv, alarm list, defrag, version
import type { etcdserverpb } from '@kv/api';
import { DeadlineExceededError, PermissionDeniedError } from '@kv/client';
import { CtlExit, ExitCode } from '../exit.js';
import { errText, orExit } from '../errtext.js';
import { formatGoDuration } from '../gofmt.js';
import { goParseInt } from '../goparse.js';
import type { Ctx } from '../globals.js';
import type { EpHashKV, EpHealth, EpStatus } from '../printers/index.js';

/** Our version and the etcd API version we speak. */
export const KVCTL_VERSION = '0.1.0';
export const API_VERSION = '3.4';

export async function compaction(ctx: Ctx, args: string[], physical: boolean): Promise<void> {
  if (args.length !== 1) throw new CtlExit(ExitCode.BadArgs, 'compaction command needs 1 argument');
  let rev: bigint;
  try {
    rev = goParseInt(args[0]!, 10);
  } catch (e) {
    throw new CtlExit(ExitCode.Error, (e as Error).message);
  }
  const client = ctx.client();
  await orExit(client.compact(rev, { physical, timeoutMs: ctx.commandTimeoutMs }));
  ctx.out.println('compacted revision', rev);
}

export async function memberList(ctx: Ctx): Promise<void> {
  const resp: etcdserverpb.MemberListResponse = await orExit(ctx.client().cluster.memberList({ timeoutMs: ctx.commandTimeoutMs }));
  ctx.display.memberList(resp);
}

/** --endpoints, or with --cluster every member's client URLs. */
async function endpointsFromCluster(ctx: Ctx, cluster: boolean): Promise<string[]> {
  if (!cluster) return ctx.globals.endpoints;
  const client = ctx.client();
  try {
    const m = await client.cluster.memberList({ timeoutMs: ctx.commandTimeoutMs });
    return m.members.flatMap((x) => x.clientURLs);
  } catch (e) {
    throw new CtlExit(ExitCode.Error, `failed to fetch endpoints from etcd cluster member list: ${errText(e)}`);
  }
}

export async function endpointHealth(ctx: Ctx, cluster: boolean): Promise<void> {
  void ctx.display;
  const eps = await endpointsFromCluster(ctx, cluster);
  const results = await Promise.all(
    eps.map(async (ep): Promise<EpHealth> => {
      const client = ctx.client([ep]);
      const start = process.hrtime.bigint();
      let error = '';
      let health = false;
      try {
        await client.get('health', { timeoutMs: ctx.commandTimeoutMs });
        health = true;
      } catch (e) {
        // Permission denied still proves the request went through consensus.
        if (e instanceof PermissionDeniedError) health = true;
        else error = e instanceof DeadlineExceededError ? 'context deadline exceeded' : errText(e);
      }
      const took = formatGoDuration(process.hrtime.bigint() - start);
      client.close();
      return { ep, health, took, error };
    }),
  );
  ctx.display.endpointHealth(results);
  if (results.some((h) => h.error !== '')) throw new CtlExit(ExitCode.Error, 'unhealthy cluster');
}

export async function endpointStatus(ctx: Ctx, cluster: boolean): Promise<void> {
  const client = ctx.client();
  const eps = await endpointsFromCluster(ctx, cluster);
  const list: EpStatus[] = [];
  let failed = false;
  for (const ep of eps) {
    try {
      list.push({ ep, resp: await client.maintenance.status({ endpoint: ep, timeoutMs: ctx.commandTimeoutMs }) });
    } catch (e) {
      failed = true;
      ctx.err.println(`Failed to get the status of endpoint ${ep} (${errText(e)})`);
    }
  }
  ctx.display.endpointStatus(list);
  if (failed) throw new CtlExit(ExitCode.Error, '', true);
}

export async function endpointHashKV(ctx: Ctx, cluster: boolean, rev: bigint): Promise<void> {
  const client = ctx.client();
  const eps = await endpointsFromCluster(ctx, cluster);
  const list: EpHashKV[] = [];
  let lastErr: unknown;
  for (const ep of eps) {
    try {
      list.push({ ep, resp: await client.maintenance.hashKV(rev, { endpoint: ep, timeoutMs: ctx.commandTimeoutMs }) });
    } catch (e) {
      lastErr = e;
      ctx.err.println(`Failed to get the hash of endpoint ${ep} (${errText(e)})`);
    }
  }
  ctx.display.endpointHashKV(list);
  if (lastErr !== undefined) throw new CtlExit(ExitCode.Error, errText(lastErr));
}

export async function alarmList(ctx: Ctx): Promise<void> {
  const resp: etcdserverpb.AlarmResponse = await orExit(ctx.client().maintenance.alarms({ timeoutMs: ctx.commandTimeoutMs }));
  ctx.display.alarm(resp);
}

export async function defrag(ctx: Ctx, cluster: boolean): Promise<void> {
  const client = ctx.client();
  const eps = await endpointsFromCluster(ctx, cluster);
  let failed = false;
  for (const ep of eps) {
    try {
      await client.maintenance.defragment({ endpoint: ep, timeoutMs: ctx.commandTimeoutMs });
      ctx.out.println(`Finished defragmenting etcd member[${ep}]`);
    } catch (e) {
      failed = true;
      ctx.err.println(`Failed to defragment etcd member[${ep}] (${errText(e)})`);
    }
  }
  if (failed) throw new CtlExit(ExitCode.Error, '', true);
}

export function version(ctx: Ctx): void {
  ctx.out.println('kvctl version:', KVCTL_VERSION);
  ctx.out.println('API version:', API_VERSION);
}

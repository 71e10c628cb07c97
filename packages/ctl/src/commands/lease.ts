// lease grant | revoke | timetolive | list | keep-alive
import type { etcdserverpb } from '@kv/api';
import { CtlExit, ExitCode } from '../exit.js';
import { errText } from '../errtext.js';
import { goHex } from '../gofmt.js';
import { goParseInt } from '../goparse.js';
import type { Ctx } from '../globals.js';
import { SimplePrinter } from '../printers/index.js';

const badArgs = (msg: string) => new CtlExit(ExitCode.BadArgs, msg);

function leaseFromArg(arg: string): bigint {
  try {
    return goParseInt(arg, 16);
  } catch (e) {
    throw badArgs(`bad lease ID arg (${(e as Error).message}), expecting ID in Hex`);
  }
}

export async function leaseGrant(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 1) throw badArgs('lease grant command needs TTL argument');
  let ttl: bigint;
  try {
    ttl = goParseInt(args[0]!, 10);
  } catch (e) {
    throw badArgs(`bad TTL (${(e as Error).message})`);
  }
  let resp: etcdserverpb.LeaseGrantResponse;
  try {
    resp = await ctx.client().lease.grant(ttl, { timeoutMs: ctx.commandTimeoutMs });
  } catch (e) {
    throw new CtlExit(ExitCode.Error, `failed to grant lease (${errText(e)})`);
  }
  ctx.display.grant(resp);
}

export async function leaseRevoke(ctx: Ctx, args: string[]): Promise<void> {
  if (args.length !== 1) throw badArgs('lease revoke command needs 1 argument');
  const id = leaseFromArg(args[0]!);
  let resp: etcdserverpb.LeaseRevokeResponse;
  try {
    resp = await ctx.client().lease.revoke(id, { timeoutMs: ctx.commandTimeoutMs });
  } catch (e) {
    throw new CtlExit(ExitCode.Error, `failed to revoke lease (${errText(e)})`);
  }
  ctx.display.revoke(id, resp);
}

export async function leaseTimeToLive(ctx: Ctx, args: string[], keys: boolean): Promise<void> {
  if (args.length !== 1) throw badArgs('lease timetolive command needs lease ID as argument');
  const client = ctx.client();
  let resp: etcdserverpb.LeaseTimeToLiveResponse;
  try {
    // etcdctl sends this one without a deadline.
    resp = await client.lease.timeToLive(leaseFromArg(args[0]!), { keys });
  } catch (e) {
    if (e instanceof CtlExit) throw e;
    throw new CtlExit(ExitCode.BadConnection, errText(e));
  }
  ctx.display.timeToLive(resp, keys);
}

export async function leaseList(ctx: Ctx): Promise<void> {
  let resp: etcdserverpb.LeaseLeasesResponse;
  try {
    resp = await ctx.client().lease.leases();
  } catch (e) {
    throw new CtlExit(ExitCode.BadConnection, errText(e));
  }
  ctx.display.leases(resp);
}

export async function leaseKeepAlive(ctx: Ctx, args: string[], once: boolean): Promise<void> {
  if (args.length !== 1) throw badArgs('lease keep-alive command needs lease ID as argument');
  const id = leaseFromArg(args[0]!);
  const client = ctx.client();
  if (once) {
    let resp: etcdserverpb.LeaseKeepAliveResponse;
    try {
      resp = await client.lease.keepAliveOnce(id);
    } catch (e) {
      throw new CtlExit(ExitCode.BadConnection, errText(e));
    }
    ctx.display.keepAlive(resp);
    return;
  }
  const ka = client.lease.keepAlive(id);
  try {
    for await (const r of ka) ctx.display.keepAlive(r);
  } catch (e) {
    if (e instanceof CtlExit) throw e;
    // etcdctl's keep-alive channel just closes on errors.
  }
  if (ctx.display instanceof SimplePrinter) ctx.out.println(`lease ${goHex(id, 16)} expired or revoked.`);
}

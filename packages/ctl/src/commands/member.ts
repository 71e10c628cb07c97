// member add | remove | update | promote (etcdctl 3.4's member_command.go; member list is in
// cluster.ts).
import type { etcdserverpb } from '@kv/api';
import { CtlExit, ExitCode } from '../exit.js';
import { orExit } from '../errtext.js';
import { goQuote } from '../gofmt.js';
import type { Ctx } from '../globals.js';
import { SimplePrinter } from '../printers/index.js';

const badArgs = (msg: string) => new CtlExit(ExitCode.BadArgs, msg);

/** strconv.ParseUint(s, 16, 64); throws Error with Go's message. */
export function goParseUint16(s: string): bigint {
  if (!/^[0-9a-fA-F]+$/.test(s)) throw new Error(`strconv.ParseUint: parsing ${goQuote(s)}: invalid syntax`);
  const v = BigInt('0x' + s);
  if (v > 0xffff_ffff_ffff_ffffn) throw new Error(`strconv.ParseUint: parsing ${goQuote(s)}: value out of range`);
  return v;
}

/** A member id argument in hex, or etcdctl's "bad member ID arg" (exit 128). */
export function memberIdArg(args: string[]): bigint {
  if (args.length !== 1) throw badArgs('member ID is not provided');
  try {
    return goParseUint16(args[0]!);
  } catch (e) {
    throw badArgs(`bad member ID arg (${(e as Error).message}), expecting ID in Hex`);
  }
}

export interface MemberAddFlags {
  peerUrls?: string;
  learner?: boolean;
}

export async function memberAdd(ctx: Ctx, args: string[], f: MemberAddFlags): Promise<void> {
  if (args.length < 1) throw badArgs('member name not provided');
  if (args.length > 1) {
    let ev = 'too many arguments';
    for (const s of args) if (s.toLowerCase().startsWith('http')) ev += `, did you mean --peer-urls=${s}`;
    throw badArgs(ev);
  }
  const name = args[0]!;
  const peerUrls = f.peerUrls ?? '';
  if (peerUrls.length === 0) throw badArgs('member peer urls not provided');
  const urls = peerUrls.split(',');
  const resp: etcdserverpb.MemberAddResponse = await orExit(
    ctx.client().cluster.memberAdd(urls, { isLearner: Boolean(f.learner), timeoutMs: ctx.commandTimeoutMs }),
  );
  ctx.display.memberAdd(resp);
  if (!(ctx.display instanceof SimplePrinter)) return;
  // The environment a new member starts with: every member's peer URLs under its name (the new
  // one under the name given here; members not started yet have none and are left out).
  const newId = resp.member?.ID ?? 0n;
  const conf: string[] = [];
  for (const m of resp.members) {
    for (const u of m.peerURLs) conf.push(`${m.ID === newId ? name : m.name}=${u}`);
  }
  ctx.out.print('\n');
  ctx.out.println(`ETCD_NAME=${goQuote(name)}`);
  ctx.out.println(`ETCD_INITIAL_CLUSTER=${goQuote(conf.join(','))}`);
  ctx.out.println(`ETCD_INITIAL_ADVERTISE_PEER_URLS=${goQuote(peerUrls)}`);
  ctx.out.println('ETCD_INITIAL_CLUSTER_STATE="existing"');
}

export async function memberRemove(ctx: Ctx, args: string[]): Promise<void> {
  const id = memberIdArg(args);
  const resp = await orExit(ctx.client().cluster.memberRemove(id, { timeoutMs: ctx.commandTimeoutMs }));
  ctx.display.memberRemove(id, resp);
}

export async function memberUpdate(ctx: Ctx, args: string[], f: { peerUrls?: string }): Promise<void> {
  const id = memberIdArg(args);
  const peerUrls = f.peerUrls ?? '';
  if (peerUrls.length === 0) throw badArgs('member peer urls not provided');
  const resp = await orExit(ctx.client().cluster.memberUpdate(id, peerUrls.split(','), { timeoutMs: ctx.commandTimeoutMs }));
  ctx.display.memberUpdate(id, resp);
}

export async function memberPromote(ctx: Ctx, args: string[]): Promise<void> {
  const id = memberIdArg(args);
  const resp = await orExit(ctx.client().cluster.memberPromote(id, { timeoutMs: ctx.commandTimeoutMs }));
  ctx.display.memberPromote(id, resp);
}

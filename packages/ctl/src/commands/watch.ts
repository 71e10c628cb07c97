// watch: print events until the server cancels the watch (exit 5) or the process is stopped.
// With `-- cmd args...` runs the command for every event; with -i reads "watch ..." and
// "progress" lines from standard input.
import { spawn } from 'node:child_process';
import { Command } from 'commander';
import type { Client, Watcher, WatchOptions } from '@kv/client';
import type { etcdserverpb } from '@kv/api';
import { CtlExit, ExitCode } from '../exit.js';
import { errText } from '../errtext.js';
import { argify } from '../goparse.js';
import { goQuote } from '../gofmt.js';
import { parseInt64Flag, type Ctx } from '../globals.js';
import { LineReader } from '../lines.js';
import { eventTypeName } from '../printers/simple.js';
import { rewriteBoolFlags } from '../argv.js';

export interface WatchFlags {
  interactive?: boolean;
  prefix?: boolean;
  rev: bigint;
  prevKv?: boolean;
  progressNotify?: boolean;
}

export function addWatchFlags(cmd: Command): Command {
  return cmd
    .option('-i, --interactive', 'Interactive mode')
    .option('--prefix', 'Watch on a prefix if prefix is set')
    .option('--rev <value>', 'Revision to start watching', parseInt64Flag('rev'), 0n)
    .option('--prev-kv', 'get the previous key-value pair before the event happens')
    .option('--progress-notify', 'get periodic watch progress notification from server');
}

export const watchEnv = new Set(['ETCDCTL_WATCH_KEY', 'ETCDCTL_WATCH_RANGE_END']);

const badArgs = (msg: string) => new CtlExit(ExitCode.BadArgs, msg);
const errBadArgsNum = 'bad number of arguments';
const errBadArgsNumConflictEnv = 'bad number of arguments (found conflicting environment key)';
const errBadArgsNumSeparator = 'bad number of arguments (found separator --, but no commands)';

/** Split `watch` arguments into the watch range and the command to run per event. */
export function splitWatchArgs(
  rawAfterWatch: string[],
  parsedArgs: string[],
  envKey: string,
  envRange: string,
): { watchArgs: string[]; execArgs: string[] } {
  const sep = rawAfterWatch.indexOf('--');
  if (sep >= 0 && sep === rawAfterWatch.length - 1) throw badArgs(errBadArgsNumSeparator);
  const execArgs = sep >= 0 ? rawAfterWatch.slice(sep + 1) : [];
  // commander hands over everything after "--" as arguments too; drop the command part.
  let watchArgs = execArgs.length > 0 ? parsedArgs.slice(0, parsedArgs.length - execArgs.length) : parsedArgs;
  if (sep < 0 && rawAfterWatch.length < 1 && envKey === '') throw badArgs(errBadArgsNum);
  if (envKey !== '' && watchArgs.length > 0) throw badArgs(errBadArgsNumConflictEnv);
  if (envKey !== '') watchArgs = envRange !== '' ? [envKey, envRange] : [envKey];
  return { watchArgs, execArgs };
}

function watchOptions(args: string[], f: WatchFlags): { key: string; opts: WatchOptions } {
  if (args.length < 1) throw badArgs(errBadArgsNum);
  const opts: WatchOptions = { startRevision: f.rev };
  if (args.length === 2) {
    if (f.prefix) throw badArgs('`range_end` and `--prefix` are mutually exclusive');
    opts.rangeEnd = args[1]!;
  }
  let key = args[0]!;
  if (f.prefix) {
    if (key.length === 0) {
      key = '\x00';
      opts.fromKey = true;
    } else opts.prefix = true;
  }
  if (f.prevKv) opts.prevKv = true;
  if (f.progressNotify) opts.progressNotify = true;
  return { key, opts };
}

function isProgressNotify(r: etcdserverpb.WatchResponse): boolean {
  return r.events.length === 0 && !r.canceled && !r.created && r.compactRevision === 0n && (r.header?.revision ?? 0n) !== 0n;
}

function runForEvent(
  execArgs: string[],
  r: etcdserverpb.WatchResponse,
  ev: etcdserverpb.WatchResponse['events'][number],
  ctx: Ctx,
): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = {
      ...process.env,
      ETCD_WATCH_REVISION: String(r.header?.revision ?? 0n),
      ETCD_WATCH_EVENT_TYPE: goQuote(eventTypeName(ev.type)),
      ETCD_WATCH_KEY: goQuote(ev.kv?.key ?? Buffer.alloc(0)),
      ETCD_WATCH_VALUE: goQuote(ev.kv?.value ?? Buffer.alloc(0)),
    };
    const child = spawn(execArgs[0]!, execArgs.slice(1), { env, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => ctx.out.print(d));
    child.stderr.on('data', (d: Buffer) => ctx.err.print(d));
    child.on('error', (e) => reject(e));
    child.on('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(signal ? `signal: ${signal}` : `exit status ${code}`));
    });
  });
}

/** Print a watcher's responses; returns when the server cancels it. */
async function printWatch(ctx: Ctx, w: Watcher, execArgs: string[]): Promise<void> {
  const onResp = async (r: etcdserverpb.WatchResponse) => {
    if (isProgressNotify(r)) ctx.out.println(`progress notify: ${r.header?.revision ?? 0n}`);
    ctx.display.watch(r);
    if (execArgs.length > 0) {
      for (const ev of r.events) {
        try {
          await runForEvent(execArgs, r, ev, ctx);
        } catch (e) {
          ctx.err.println(`command [${execArgs.map((a) => goQuote(a)).join(' ')}] error (${(e as Error).message})`);
          throw new CtlExit(ExitCode.Error, '', true);
        }
      }
    }
  };
  try {
    for await (const r of w) await onResp(r);
  } catch (e) {
    if (e instanceof CtlExit) throw e;
    ctx.err.println(`watch was canceled (${errText(e)})`);
    const resp = (e as { watchResponse?: etcdserverpb.WatchResponse }).watchResponse;
    if (resp) ctx.display.watch(resp);
  }
}

export async function watchCommand(ctx: Ctx, args: string[], f: WatchFlags): Promise<void> {
  const envKey = ctx.io.env.ETCDCTL_WATCH_KEY ?? '';
  const envRange = ctx.io.env.ETCDCTL_WATCH_RANGE_END ?? '';
  if (envKey === '' && envRange !== '') {
    throw badArgs(`ETCDCTL_WATCH_KEY is empty but got ETCDCTL_WATCH_RANGE_END=${JSON.stringify(envRange)}`);
  }
  if (f.interactive) return watchInteractive(ctx, envKey, envRange);

  const raw = ctx.io.argv;
  const at = raw.indexOf('watch');
  const { watchArgs, execArgs } = splitWatchArgs(at >= 0 ? raw.slice(at + 1) : args, args, envKey, envRange);
  const client = ctx.client();
  const { key, opts } = watchOptions(watchArgs, f);
  await printWatch(ctx, client.watch(key, opts), execArgs);
  throw new CtlExit(ExitCode.Interrupted, 'watch is canceled by the server');
}

async function watchInteractive(ctx: Ctx, envKey: string, envRange: string): Promise<void> {
  const client: Client = ctx.client();
  const reader = new LineReader(ctx.io.stdin);
  const running: Promise<void>[] = [];
  let failure: unknown;
  for (;;) {
    const raw = await reader.next();
    if (failure) throw failure;
    if (raw === null) throw new CtlExit(ExitCode.InvalidInput, 'Error reading watch request line: EOF');
    const l = raw.replace(/\n$/, '');
    const args = argify(l);
    if (args.length < 1) {
      ctx.err.println(`Invalid command: ${l} (watch and progress supported)`);
      continue;
    }
    if (args[0] === 'watch') {
      if (args.length < 2 && envKey === '') {
        ctx.err.println(`Invalid command ${l} (command type or key is not provided)`);
        continue;
      }
      const parsed = await parseInteractiveWatch(args.slice(1));
      const execArgs = parsed.execArgs;
      let watchArgs = parsed.args;
      if (envKey !== '') watchArgs = [envKey, ...(envRange !== '' ? [envRange] : []), ...watchArgs];
      let spec: { key: string; opts: WatchOptions };
      try {
        spec = watchOptions(watchArgs, parsed.flags);
      } catch (e) {
        ctx.err.println(`Invalid command ${l} (${(e as Error).message})`);
        continue;
      }
      running.push(
        printWatch(ctx, client.watch(spec.key, spec.opts), execArgs).catch((e) => {
          failure = e;
        }),
      );
    } else if (args[0] === 'progress') {
      client.requestProgress();
    } else {
      ctx.err.println(`Invalid command ${l} (only support watch)`);
    }
  }
}

async function parseInteractiveWatch(args: string[]): Promise<{ args: string[]; flags: WatchFlags; execArgs: string[] }> {
  const sep = args.indexOf('--');
  if (sep >= 0 && sep === args.length - 1) throw badArgs(errBadArgsNumSeparator);
  const execArgs = sep >= 0 ? args.slice(sep + 1) : [];
  const before = sep >= 0 ? args.slice(0, sep) : args;
  let result: { args: string[]; flags: WatchFlags } | undefined;
  const prog = new Command('watch').exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  addWatchFlags(prog)
    .argument('[args...]')
    .allowExcessArguments()
    .action((a: string[], f: WatchFlags) => {
      result = { args: a, flags: f };
    });
  try {
    await prog.parseAsync(rewriteBoolFlags(before), { from: 'user' });
  } catch (e) {
    throw badArgs((e as Error).message.replace(/^error: /, ''));
  }
  if (!result) throw badArgs(errBadArgsNum);
  return { ...result, execArgs };
}

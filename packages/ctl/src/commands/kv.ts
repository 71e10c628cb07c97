// get, put, del: argument handling shared by the commands and by txn's operation lines.
import type { Command } from 'commander';
import { Op, type DeleteOptions, type GetOptions, type PutOptions } from '@kv/client';
import type { etcdserverpb } from '@kv/api';
import { CtlExit, ExitCode } from '../exit.js';
import { orExit } from '../errtext.js';
import { goParseInt } from '../goparse.js';
import { parseInt64Flag, type Ctx } from '../globals.js';
import { SimplePrinter } from '../printers/index.js';
import { FieldsPrinter } from '../printers/fields.js';

const badArgs = (msg: string) => new CtlExit(ExitCode.BadArgs, msg);

// ---- get ----

export interface GetFlags {
  consistency: string;
  order: string;
  sortBy: string;
  limit: bigint;
  prefix?: boolean;
  fromKey?: boolean;
  rev: bigint;
  keysOnly?: boolean;
  countOnly?: boolean;
  printValueOnly?: boolean;
}

export function addGetFlags(cmd: Command): Command {
  return cmd
    .option('--consistency <value>', 'Linearizable(l) or Serializable(s)', 'l')
    .option('--order <value>', 'Order of results; ASCEND or DESCEND (ASCEND by default)', '')
    .option('--sort-by <value>', 'Sort target; CREATE, KEY, MODIFY, VALUE, or VERSION', '')
    .option('--limit <value>', 'Maximum number of results', parseInt64Flag('limit'), 0n)
    .option('--prefix', 'Get keys with matching prefix')
    .option('--from-key', 'Get keys that are greater than or equal to the given key using byte compare')
    .option('--rev <value>', 'Specify the kv revision', parseInt64Flag('rev'), 0n)
    .option('--keys-only', 'Get only the keys')
    .option('--count-only', 'Get only the count')
    .option('--print-value-only', 'Only write values when using the "simple" output format');
}

/** etcdctl's getGetOp: key and options, or exit. */
export function getOp(args: string[], f: GetFlags): { key: string; opts: GetOptions } {
  if (args.length === 0) throw badArgs('get command needs one argument as key and an optional argument as range_end');
  if (f.prefix && f.fromKey) throw badArgs('`--prefix` and `--from-key` cannot be set at the same time, choose one');
  const opts: GetOptions = {};
  switch (f.consistency) {
    case 's':
      opts.serializable = true;
      break;
    case 'l':
      break;
    default:
      throw new CtlExit(ExitCode.BadFeature, `unknown consistency flag ${JSON.stringify(f.consistency)}`);
  }
  let key = args[0]!;
  if (args.length > 1) {
    if (f.prefix || f.fromKey) throw badArgs('too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
    opts.rangeEnd = args[1]!;
  }
  opts.limit = f.limit;
  if (f.rev > 0n) opts.revision = f.rev;
  const order = f.order.toUpperCase();
  if (order === 'ASCEND') opts.sortOrder = 'ascend';
  else if (order === 'DESCEND') opts.sortOrder = 'descend';
  else if (order !== '') throw new CtlExit(ExitCode.BadFeature, `bad sort order ${f.order}`);
  const target = f.sortBy.toUpperCase();
  const targets: Record<string, GetOptions['sortTarget']> = {
    CREATE: 'create',
    KEY: 'key',
    MODIFY: 'mod',
    VALUE: 'value',
    VERSION: 'version',
  };
  if (target !== '') {
    const t = targets[target];
    if (!t) throw new CtlExit(ExitCode.BadFeature, `bad sort target ${f.sortBy}`);
    opts.sortTarget = t;
  }
  if (f.prefix) {
    if (key.length === 0) {
      key = '\x00';
      opts.fromKey = true;
    } else {
      opts.prefix = true;
    }
  }
  if (f.fromKey) {
    if (key.length === 0) key = '\x00';
    delete opts.rangeEnd;
    opts.fromKey = true;
  }
  if (f.keysOnly) opts.keysOnly = true;
  if (f.countOnly) opts.countOnly = true;
  return { key, opts };
}

export async function getCommand(ctx: Ctx, args: string[], f: GetFlags): Promise<void> {
  const { key, opts } = getOp(args, f);
  const client = ctx.client();
  const resp: etcdserverpb.RangeResponse = await orExit(client.get(key, { ...opts, timeoutMs: ctx.commandTimeoutMs }));
  if (f.countOnly && !(ctx.display instanceof FieldsPrinter)) {
    throw badArgs('--count-only is only for `--write-out=fields`');
  }
  if (f.printValueOnly) {
    const d = ctx.display;
    if (!(d instanceof SimplePrinter)) throw badArgs('print-value-only is only for `--write-out=simple`');
    d.valueOnly = true;
  }
  ctx.display.get(resp);
}

// ---- put ----

export interface PutFlags {
  lease: string;
  prevKv?: boolean;
  ignoreValue?: boolean;
  ignoreLease?: boolean;
}

export function addPutFlags(cmd: Command): Command {
  return cmd
    .option('--lease <value>', 'lease ID (in hexadecimal) to attach to the key', '0')
    .option('--prev-kv', 'return the previous key-value pair before modification')
    .option('--ignore-value', 'updates the key using its current value')
    .option('--ignore-lease', 'updates the key using its current lease');
}

/**
 * etcdctl's getPutOp. `stdin` supplies the value when it is not an argument (etcdctl reads all
 * of standard input; inside txn that is already consumed, so it is empty there).
 */
export function putOp(args: string[], f: PutFlags, stdin: () => string): { key: string; value: string; opts: PutOptions } {
  if (args.length === 0) throw badArgs('put command needs 1 argument and input from stdin or 2 arguments');
  const key = args[0]!;
  if (f.ignoreValue && args.length > 1) throw badArgs("put command needs only 1 argument when 'ignore-value' is set");
  let value = '';
  if (!f.ignoreValue) {
    if (args.length > 1) value = args[1]!;
    else {
      value = stdin();
      if (value === '') throw badArgs('put command needs 1 argument and input from stdin or 2 arguments');
    }
  }
  let id: bigint;
  try {
    id = goParseInt(f.lease, 16);
  } catch (e) {
    throw badArgs(`bad lease ID (${(e as Error).message}), expecting ID in Hex`);
  }
  const opts: PutOptions = {};
  if (id !== 0n) opts.lease = id;
  if (f.prevKv) opts.prevKv = true;
  if (f.ignoreValue) opts.ignoreValue = true;
  if (f.ignoreLease) opts.ignoreLease = true;
  return { key, value, opts };
}

export async function putCommand(ctx: Ctx, args: string[], f: PutFlags, readStdin: () => string): Promise<void> {
  const { key, value, opts } = putOp(args, f, readStdin);
  const client = ctx.client();
  const resp: etcdserverpb.PutResponse = await orExit(client.put(key, value, { ...opts, timeoutMs: ctx.commandTimeoutMs }));
  ctx.display.put(resp);
}

// ---- del ----

export interface DelFlags {
  prefix?: boolean;
  prevKv?: boolean;
  fromKey?: boolean;
}

export function addDelFlags(cmd: Command): Command {
  return cmd
    .option('--prefix', 'delete keys with matching prefix')
    .option('--prev-kv', 'return deleted key-value pairs')
    .option('--from-key', 'delete keys that are greater than or equal to the given key using byte compare');
}

export function delOp(args: string[], f: DelFlags): { key: string; opts: DeleteOptions } {
  if (args.length === 0 || args.length > 2) throw badArgs('del command needs one argument as key and an optional argument as range_end');
  if (f.prefix && f.fromKey) throw badArgs('`--prefix` and `--from-key` cannot be set at the same time, choose one');
  const opts: DeleteOptions = {};
  let key = args[0]!;
  if (args.length > 1) {
    if (f.prefix || f.fromKey) throw badArgs('too many arguments, only accept one argument when `--prefix` or `--from-key` is set');
    opts.rangeEnd = args[1]!;
  }
  if (f.prefix) {
    if (key.length === 0) {
      key = '\x00';
      opts.fromKey = true;
    } else {
      opts.prefix = true;
    }
  }
  if (f.prevKv) opts.prevKv = true;
  if (f.fromKey) {
    if (key.length === 0) key = '\x00';
    delete opts.rangeEnd;
    opts.fromKey = true;
  }
  return { key, opts };
}

export async function delCommand(ctx: Ctx, args: string[], f: DelFlags): Promise<void> {
  const { key, opts } = delOp(args, f);
  const client = ctx.client();
  const resp: etcdserverpb.DeleteRangeResponse = await orExit(client.delete(key, { ...opts, timeoutMs: ctx.commandTimeoutMs }));
  ctx.display.del(resp);
}

/** Request operations for txn lines. */
export const ops = {
  get: (args: string[], f: GetFlags) => {
    const { key, opts } = getOp(args, f);
    return Op.get(key, opts);
  },
  put: (args: string[], f: PutFlags) => {
    const { key, value, opts } = putOp(args, f, () => '');
    return Op.put(key, value, opts);
  },
  del: (args: string[], f: DelFlags) => {
    const { key, opts } = delOp(args, f);
    return Op.delete(key, opts);
  },
};

// txn: compares, a blank line, success operations, a blank line, failure operations, a blank
// line, read from standard input exactly as etcdctl 3.4 parses them.
import { Command, CommanderError } from 'commander';
import { compare, type CompareOp } from '@kv/client';
import type { etcdserverpb } from '@kv/api';
import { CtlExit, ExitCode } from '../exit.js';
import { orExit } from '../errtext.js';
import { argify, goParseInt, scanCompareTail } from '../goparse.js';
import { goQuote } from '../gofmt.js';
import type { Ctx } from '../globals.js';
import { LineReader } from '../lines.js';
import { rewriteBoolFlags } from '../argv.js';
import { addDelFlags, addGetFlags, addPutFlags, ops, type DelFlags, type GetFlags, type PutFlags } from './kv.js';

const invalidInput = (msg: string) => new CtlExit(ExitCode.InvalidInput, msg);

/** One compare line, e.g. `mod("k") > "3"` or `value("k") = "v"`. */
export function parseCompare(line: string): etcdserverpb.Compare {
  const paren = line.indexOf('(');
  if (paren < 0) throw invalidInput(`malformed comparison: ${line}`);
  const target = line.slice(0, paren);
  const { n, key, op, val } = scanCompareTail(line.slice(paren + 1));
  if (n !== 3) {
    throw invalidInput(`malformed comparison: ${line}; got ${target}(${goQuote(key)}) ${op} ${goQuote(val)}`);
  }
  const checkOp = () => {
    if (!['=', '!=', '>', '<'].includes(op)) throw new CtlExit(2, 'panic: Unknown result op');
  };
  const numeric = (t: 'version' | 'create' | 'mod') => {
    let v: bigint;
    try {
      v = goParseInt(val.toString('utf8'), 10);
    } catch {
      throw invalidInput(`invalid txn compare request: ${line}`);
    }
    checkOp();
    return compare(key, t, op as CompareOp, v);
  };
  switch (target) {
    case 'ver':
    case 'version':
      return numeric('version');
    case 'c':
    case 'create':
      return numeric('create');
    case 'm':
    case 'mod':
      return numeric('mod');
    case 'val':
    case 'value':
      checkOp();
      return compare(key, 'value', op as CompareOp, val);
    case 'lease':
      // etcdctl 3.4 hands the text to a compare that wants an integer and panics.
      checkOp();
      throw new CtlExit(2, 'panic: bad compare value');
    default:
      throw invalidInput(`malformed comparison: ${line} (unknown target ${target})`);
  }
}

const names = ['put', 'get', 'del'] as const;

/** One operation line: `put k v`, `get k --prefix`, `del k`, parsed with those commands' flags. */
export async function parseRequestOp(line: string): Promise<etcdserverpb.RequestOp> {
  const args = argify(line);
  if (args.length < 2) throw invalidInput(`invalid txn compare request: ${line}`);
  // cobra matches unambiguous command prefixes.
  const matches = names.filter((n) => n.startsWith(args[0]!));
  if (matches.length === 1) args[0] = matches[0]!;
  let op: etcdserverpb.RequestOp | undefined;
  const prog = new Command('txn-op').exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  prog.allowExcessArguments(false);
  const sub = (name: string) => prog.command(name).argument('[args...]').allowExcessArguments();
  addPutFlags(sub('put')).action((a: string[], f: PutFlags) => {
    op = ops.put(a, f);
  });
  addGetFlags(sub('get')).action((a: string[], f: GetFlags) => {
    op = ops.get(a, f);
  });
  addDelFlags(sub('del')).action((a: string[], f: DelFlags) => {
    op = ops.del(a, f);
  });
  try {
    await prog.parseAsync(rewriteBoolFlags(args), { from: 'user' });
  } catch (e) {
    if (e instanceof CtlExit) throw e;
    if (e instanceof CommanderError || e instanceof Error) throw invalidInput(`invalid txn request: ${line}`);
    throw e;
  }
  if (!op) throw invalidInput(`invalid txn request: ${line}`);
  return op;
}

async function readCompares(r: LineReader): Promise<etcdserverpb.Compare[]> {
  const out: etcdserverpb.Compare[] = [];
  for (;;) {
    const raw = await r.next();
    if (raw === null) throw invalidInput('EOF');
    const line = raw.trim();
    if (line.length === 0) return out;
    out.push(parseCompare(line));
  }
}

async function readOps(r: LineReader): Promise<etcdserverpb.RequestOp[]> {
  const out: etcdserverpb.RequestOp[] = [];
  for (;;) {
    const raw = await r.next();
    if (raw === null) throw invalidInput('EOF');
    const line = raw.trim();
    if (line.length === 0) return out;
    out.push(await parseRequestOp(line));
  }
}

export async function txnCommand(ctx: Ctx, args: string[], interactive: boolean): Promise<void> {
  if (args.length !== 0) throw new CtlExit(ExitCode.BadArgs, 'txn command does not accept argument');
  const client = ctx.client();
  const reader = new LineReader(ctx.io.stdin);
  const prompt = (s: string) => {
    if (interactive) ctx.out.println(s);
  };
  let req: etcdserverpb.TxnRequest;
  try {
    prompt('compares:');
    const compare = await readCompares(reader);
    prompt('success requests (get, put, del):');
    const success = await readOps(reader);
    prompt('failure requests (get, put, del):');
    const failure = await readOps(reader);
    req = { compare, success, failure };
  } finally {
    reader.close();
  }
  // etcdctl sends the txn without a deadline.
  const resp: etcdserverpb.TxnResponse = await orExit(client.txnRequest(req));
  ctx.display.txn(resp);
}

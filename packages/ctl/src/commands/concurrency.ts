// lock <lockname> [exec-command arg1 arg2 ...] and elect <election-name> [proposal] (etcdctl 3.4's
// lock_command.go and elect_command.go), on @kv/client's Session, Mutex and Election recipes.
// SIGINT/SIGTERM end a wait (error "context canceled"), release a held lock or resign.
import { spawn } from 'node:child_process';
import { Election, Mutex, Session, type Client } from '@kv/client';
import type { Command } from 'commander';
import { CtlExit, ExitCode } from '../exit.js';
import { errText } from '../errtext.js';
import type { Ctx } from '../globals.js';

export interface LockFlags {
  ttl: number;
}

export interface ElectFlags {
  listen?: boolean;
}

/** etcdctl's `var lockTTL = 10`. */
const defaultLockTtl = 10;

export function addLockFlags(cmd: Command): Command {
  return cmd.option(
    '--ttl <value>',
    'timeout for session',
    (v: string) => {
      const n = Number(v);
      if (!/^[+-]?\d+$/.test(v) || !Number.isSafeInteger(n))
        throw new CtlExit(ExitCode.BadArgs, `invalid argument "${v}" for "--ttl" flag: strconv.ParseInt: parsing "${v}": invalid syntax`);
      return n;
    },
    defaultLockTtl,
  );
}

export function addElectFlags(cmd: Command): Command {
  return cmd.option('-l, --listen', 'observation mode');
}

const fail = (e: unknown) => new CtlExit(ExitCode.Error, errText(e));

/**
 * An AbortSignal fired by the first SIGINT or SIGTERM (etcdctl's signal.Notify). Node's default
 * of exiting on SIGINT is replaced while the command runs; `release()` restores it.
 */
function interrupts(): { signal: AbortSignal; release: () => void } {
  const ac = new AbortController();
  const on = () => ac.abort(new Error('context canceled'));
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    signal: ac.signal,
    release: () => {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

const aborted = (signal: AbortSignal) =>
  new Promise<'signal'>((resolve) => {
    if (signal.aborted) resolve('signal');
    else signal.addEventListener('abort', () => resolve('signal'), { once: true });
  });

async function newSession(client: Client, ttl?: number): Promise<Session> {
  try {
    return await Session.create(client, { ttl });
  } catch (e) {
    throw fail(e);
  }
}

/** Runs the command with ETCD_LOCK_KEY/ETCD_LOCK_REV (etcdctl puts them before os.Environ()). */
function runLocked(ctx: Ctx, argv: string[], m: Mutex): Promise<void> {
  return new Promise((resolve, reject) => {
    const env = { ETCD_LOCK_KEY: m.key, ETCD_LOCK_REV: String(m.header?.revision ?? 0n), ...process.env };
    const child = spawn(argv[0]!, argv.slice(1), { env, stdio: ['inherit', 'pipe', 'pipe'] });
    child.stdout.on('data', (d: Buffer) => ctx.out.print(d));
    child.stderr.on('data', (d: Buffer) => ctx.err.print(d));
    child.on('error', (e: NodeJS.ErrnoException) =>
      reject(new Error(e.code === 'ENOENT' ? `exec: "${argv[0]}": executable file not found in $PATH` : e.message)),
    );
    child.on('close', (code, sig) => {
      if (code === 0) resolve();
      else
        reject(
          new Error(
            sig
              ? `signal: ${sig === 'SIGINT' ? 'interrupt' : sig === 'SIGTERM' ? 'terminated' : sig.toLowerCase()}`
              : `exit status ${code}`,
          ),
        );
    });
  });
}

export async function lockCommand(ctx: Ctx, args: string[], f: LockFlags): Promise<void> {
  if (args.length === 0) throw new CtlExit(ExitCode.BadArgs, 'lock takes a lock name argument and an optional command to execute');
  const client = ctx.client();
  const s = await newSession(client, f.ttl);
  const m = new Mutex(s, args[0]!);
  const sig = interrupts();
  try {
    try {
      await m.lock({ signal: sig.signal });
    } catch (e) {
      throw fail(e);
    }
    if (args.length > 1) {
      let runErr: unknown;
      await runLocked(ctx, args.slice(1), m).catch((e) => {
        runErr = e;
      });
      const unlockErr = await m.unlock().then(
        () => undefined,
        (e: unknown) => e,
      );
      if (runErr) throw fail(runErr);
      if (unlockErr) throw fail(unlockErr);
      return;
    }
    let k: Awaited<ReturnType<Client['get']>>;
    try {
      k = await client.get(m.key, { signal: sig.signal });
    } catch (e) {
      throw fail(e);
    }
    if (k.kvs.length === 0) throw new CtlExit(ExitCode.Error, 'lock lost on init');
    ctx.display.get(k);
    const why = await Promise.race([aborted(sig.signal), s.done.then(() => 'expired' as const)]);
    if (why === 'signal') {
      await m.unlock().catch((e: unknown) => {
        throw fail(e);
      });
      return;
    }
    throw new CtlExit(ExitCode.Error, 'session expired');
  } finally {
    sig.release();
    s.orphan();
  }
}

export async function electCommand(ctx: Ctx, args: string[], f: ElectFlags): Promise<void> {
  if (args.length !== 1 && args.length !== 2)
    throw new CtlExit(ExitCode.BadArgs, 'elect takes one election name argument and an optional proposal argument');
  if (args.length === 1 && !f.listen) throw new CtlExit(ExitCode.BadArgs, 'no proposal argument but -l not set');
  if (args.length === 2 && f.listen) throw new CtlExit(ExitCode.BadArgs, 'proposal given but -l is set');
  const client = ctx.client();
  const s = await newSession(client);
  const e = new Election(s, args[0]!);
  const sig = interrupts();
  try {
    if (args.length === 1) {
      try {
        for await (const r of e.observe({ signal: sig.signal })) ctx.display.get(r);
      } catch {
        // etcd's observe channel just closes on errors
      }
      if (!sig.signal.aborted) throw new CtlExit(ExitCode.Error, 'elect: observer lost');
      return;
    }
    try {
      await e.campaign(args[1]!, { signal: sig.signal });
      ctx.display.get(await client.get(e.key!, { signal: sig.signal }));
    } catch (err) {
      throw fail(err);
    }
    const why = await Promise.race([aborted(sig.signal), s.done.then(() => 'expired' as const)]);
    if (why === 'expired') throw new CtlExit(ExitCode.Error, 'elect: session expired');
    await e.resign().catch((err: unknown) => {
      throw fail(err);
    });
  } finally {
    sig.release();
    s.orphan();
  }
}

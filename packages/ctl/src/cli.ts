// The kvctl command tree (etcdctl 3.4's commands and flags) and the runner that turns failures
// into "Error: ..." on stderr and etcdctl's exit codes.
import { Command, CommanderError, Option } from 'commander';
import { rewriteBoolFlags } from './argv.js';
import { CtlExit, ExitCode, FlagError } from './exit.js';
import { addGlobalFlags, Ctx, parseInt64Flag, resolveGlobals, type EnvWhitelist } from './globals.js';
import { Out, type CtlIO } from './io.js';
import { readAll } from './lines.js';
import {
  addDelFlags,
  addGetFlags,
  addPutFlags,
  delCommand,
  getCommand,
  putCommand,
  type DelFlags,
  type GetFlags,
  type PutFlags,
} from './commands/kv.js';
import { txnCommand } from './commands/txn.js';
import { addWatchFlags, watchCommand, watchEnv, type WatchFlags } from './commands/watch.js';
import { leaseGrant, leaseKeepAlive, leaseList, leaseRevoke, leaseTimeToLive } from './commands/lease.js';
import { addElectFlags, addLockFlags, electCommand, lockCommand, type ElectFlags, type LockFlags } from './commands/concurrency.js';
import { registerMaintenanceCommands } from './commands/register.js';
import { printCompletion } from './commands/completion.js';
import { discoverEndpoints } from './discovery.js';
import { alarmList, compaction, endpointHashKV, endpointHealth, endpointStatus, memberList, version } from './commands/cluster.js';
import { addSnapshotCommands } from './commands/snapshot.js';
import { registerAuthCommands } from './commands/auth.js';

export const PROGRAM = 'kvctl';

export type Body = (ctx: Ctx, args: string[], opts: Record<string, unknown>, cmd: Command) => Promise<void> | void;

function buildProgram(io: CtlIO, onCtx: (ctx: Ctx) => void): Command {
  const program = new Command(PROGRAM)
    .description('A simple command line client for etcd3.')
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: () => undefined,
    });
  addGlobalFlags(program);
  program.addOption(new Option('--no-insecure-transport').hideHelp());
  program.addOption(new Option('--no-insecure-discovery').hideHelp());

  /** Attach a body to a command: positional args + options, a Ctx made from the globals. */
  const act = (cmd: Command, body: Body, env: EnvWhitelist = new Set()): Command =>
    cmd
      .argument('[args...]')
      .allowExcessArguments()
      .action(async (args: string[], opts: Record<string, unknown>, self: Command) => {
        const globals = resolveGlobals(self, io, env);
        if (globals.discoverySrv !== '') globals.endpoints = await discoverEndpoints(globals, new Out(io.stderr));
        const ctx = new Ctx(io, globals);
        onCtx(ctx);
        await body(ctx, args, opts, self);
      });

  act(addGetFlags(program.command('get').description('Gets the key or a range of keys')), (ctx, args, o) =>
    getCommand(ctx, args, o as unknown as GetFlags),
  );
  act(addPutFlags(program.command('put').description('Puts the given key into the store')), async (ctx, args, o) => {
    const f = o as unknown as PutFlags;
    const fromStdin = args.length === 1 && !f.ignoreValue;
    const text = fromStdin ? (await readAll(io.stdin)).toString('utf8') : '';
    await putCommand(ctx, args, f, () => text);
  });
  act(addDelFlags(program.command('del').description('Removes the specified key or range of keys [key, range_end)')), (ctx, args, o) =>
    delCommand(ctx, args, o as unknown as DelFlags),
  );
  act(
    program
      .command('txn')
      .description('Txn processes all the requests in one transaction')
      .option('-i, --interactive', 'Input transaction in interactive mode')
      .addOption(new Option('--no-interactive').hideHelp()),
    (ctx, args, o) => txnCommand(ctx, args, Boolean(o.interactive)),
  );
  act(
    program
      .command('compaction')
      .description('Compacts the event history in etcd')
      .option('--physical', "'true' to wait for compaction to physically remove all old revisions"),
    (ctx, args, o) => compaction(ctx, args, Boolean(o.physical)),
  );
  act(
    addWatchFlags(program.command('watch').description('Watches events stream on keys or prefixes')),
    (ctx, args, o) => watchCommand(ctx, args, o as unknown as WatchFlags),
    watchEnv,
  );
  act(program.command('version').description('Prints the version of kvctl'), (ctx) => version(ctx));
  act(addLockFlags(program.command('lock').description('Acquires a named lock')), (ctx, args, o) =>
    lockCommand(ctx, args, o as unknown as LockFlags),
  );
  act(addElectFlags(program.command('elect').description('Observes and participates in leader election')), (ctx, args, o) =>
    electCommand(ctx, args, o as unknown as ElectFlags),
  );

  const lease = program.command('lease').description('Lease related commands');
  act(lease.command('grant').description('Creates leases'), (ctx, args) => leaseGrant(ctx, args));
  act(lease.command('revoke').description('Revokes leases'), (ctx, args) => leaseRevoke(ctx, args));
  act(
    lease.command('timetolive').description('Get lease information').option('--keys', 'Get keys attached to this lease'),
    (ctx, args, o) => leaseTimeToLive(ctx, args, Boolean(o.keys)),
  );
  act(lease.command('list').description('List all active leases'), (ctx) => leaseList(ctx));
  act(
    lease
      .command('keep-alive')
      .description('Keeps leases alive (renew)')
      .option('--once', 'Resets the keep-alive time to its original value and exits immediately'),
    (ctx, args, o) => leaseKeepAlive(ctx, args, Boolean(o.once)),
  );

  const member = program.command('member').description('Membership related commands');
  act(member.command('list').description('Lists all members in the cluster'), (ctx) => memberList(ctx));

  const endpoint = program.command('endpoint').description('Endpoint related commands');
  endpoint.option('--cluster', 'use all endpoints from the cluster member list');
  const cluster = (self: Command) => Boolean(self.optsWithGlobals().cluster);
  const clusterEnv = new Set(['ETCDCTL_CLUSTER']);
  act(
    endpoint.command('health').description('Checks the healthiness of endpoints specified in `--endpoints` flag'),
    (ctx, _a, _o, self) => endpointHealth(ctx, cluster(self) || ctx.io.env.ETCDCTL_CLUSTER === 'true'),
    clusterEnv,
  );
  act(
    endpoint.command('status').description('Prints out the status of endpoints specified in `--endpoints` flag'),
    (ctx, _a, _o, self) => endpointStatus(ctx, cluster(self) || ctx.io.env.ETCDCTL_CLUSTER === 'true'),
    clusterEnv,
  );
  act(
    endpoint
      .command('hashkv')
      .description('Prints the KV history hash for each endpoint in --endpoints')
      .option('--rev <value>', 'maximum revision to hash (default: all revisions)', parseInt64Flag('rev'), 0n),
    (ctx, _a, o, self) => endpointHashKV(ctx, cluster(self), o.rev as bigint),
    clusterEnv,
  );

  const alarm = program.command('alarm').description('Alarm related commands');
  act(alarm.command('list').description('Lists all alarms'), async (ctx, args) => {
    if (args.length !== 0) throw new CtlExit(ExitCode.BadArgs, 'alarm list command accepts no arguments');
    await alarmList(ctx);
  });
  // member add/remove/update/promote, alarm disarm, defrag, move-leader, make-mirror, check, completion
  registerMaintenanceCommands({ program, member, alarm, prog: PROGRAM }, (cmd, body) => act(cmd, body));
  addSnapshotCommands(program, act);
  registerAuthCommands(program, (cmd, body) => act(cmd, body));
  return program;
}

/** Translate commander's parse errors into pflag/cobra wording. */
function commanderMessage(e: CommanderError): string {
  const m = e.message.replace(/^error: /, '');
  let r: RegExpExecArray | null;
  if ((r = /^unknown option '(-[^-])'/.exec(m))) return `unknown shorthand flag: '${r[1]!.slice(1)}' in ${r[1]}`;
  if ((r = /^unknown option '([^']+)'/.exec(m))) return `unknown flag: ${r[1]}`;
  if ((r = /^unknown command '([^']+)'/.exec(m))) return `unknown command ${JSON.stringify(r[1])} for ${JSON.stringify(PROGRAM)}`;
  if ((r = /^option '(?:-\w, )?(--[\w-]+)(?: <\w+>)?' argument missing/.exec(m))) return `flag needs an argument: ${r[1]}`;
  return m;
}

/** Run kvctl with `args` (without the program name); resolves with the exit code. */
export async function run(args: string[], io: CtlIO): Promise<number> {
  const err = new Out(io.stderr);
  let ctx: Ctx | undefined;
  const program = buildProgram(io, (c) => {
    ctx = c;
  });
  try {
    if (args.length === 0) {
      program.outputHelp();
      return ExitCode.Success;
    }
    // Shell completion's query (see commands/completion.ts): the words are not parsed as flags.
    if (args[0] === '__complete' || args[0] === '__completeNoDesc') {
      printCompletion(program, args.slice(1), new Out(io.stdout), err, args[0] === '__complete');
      return ExitCode.Success;
    }
    await program.parseAsync(rewriteBoolFlags(args), { from: 'user' });
    return ExitCode.Success;
  } catch (e) {
    if (e instanceof FlagError) {
      err.println('Error:', e.message);
      err.println('Error:', e.message);
      return e.code;
    }
    if (e instanceof CtlExit) {
      if (!e.silent) err.println('Error:', e.message);
      return e.code;
    }
    if (e instanceof CommanderError) {
      if (e.code === 'commander.helpDisplayed' || e.code === 'commander.help' || e.code === 'commander.version') return ExitCode.Success;
      // cobra reports a parse error (followed by the command's usage, which kvctl does not
      // print), then etcdctl's ExitWithError reports it again.
      const msg = commanderMessage(e);
      err.println('Error:', msg);
      if (e.code === 'commander.unknownCommand') err.println(`Run '${PROGRAM} --help' for usage.`);
      err.println('Error:', msg);
      return ExitCode.Error;
    }
    err.println('Error:', e instanceof Error ? e.message : String(e));
    return ExitCode.Error;
  } finally {
    ctx?.close();
  }
}

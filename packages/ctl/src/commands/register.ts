// Registration of member add/remove/update/promote, alarm disarm, defrag (--cluster,
// --data-dir), move-leader, make-mirror, check perf|datascale and completion in the command tree
// (kept out of cli.ts, which other commands are registered in too).
import { Option, type Command } from 'commander';
import type { Ctx } from '../globals.js';
import { CtlExit, ExitCode } from '../exit.js';
import { defrag } from './cluster.js';
import { checkDatascale, checkPerf, type CheckFlags } from './check.js';
import { completionCommand } from './completion.js';
import { alarmDisarm, defragDataDir, moveLeader } from './maintenance.js';
import { memberAdd, memberPromote, memberRemove, memberUpdate, type MemberAddFlags } from './member.js';
import { makeMirror, type MirrorFlags } from './mirror.js';

export type Body = (ctx: Ctx, args: string[], opts: Record<string, unknown>, cmd: Command) => Promise<void> | void;
export type Act = (cmd: Command, body: Body) => Command;

export interface Parents {
  program: Command;
  member: Command;
  alarm: Command;
  /** The program's name as printed in scripts (kvctl). */
  prog: string;
}

export function registerMaintenanceCommands({ program, member, alarm, prog }: Parents, act: Act): void {
  act(
    member
      .command('add')
      .description('Adds a member into the cluster')
      .option('--peer-urls <value>', 'comma separated peer URLs for the new member.')
      .option('--learner', 'indicates if the new member is raft learner'),
    (ctx, args, o) => memberAdd(ctx, args, o as MemberAddFlags),
  );
  act(member.command('remove').description('Removes a member from the cluster'), (ctx, args) => memberRemove(ctx, args));
  act(
    member
      .command('update')
      .description('Updates a member in the cluster')
      .option('--peer-urls <value>', 'comma separated peer URLs for the updated member.'),
    (ctx, args, o) => memberUpdate(ctx, args, o as { peerUrls?: string }),
  );
  act(member.command('promote').description('Promotes a non-voting member in the cluster'), (ctx, args) => memberPromote(ctx, args));

  act(alarm.command('disarm').description('Disarms all alarms'), (ctx, args) => alarmDisarm(ctx, args));

  act(
    program
      .command('defrag')
      .description('Defragments the storage of the etcd members with given endpoints')
      .option('--cluster', 'use all endpoints from the cluster member list')
      .option('--data-dir <value>', 'Optional. If present, defragments a data directory not in use by etcd.', ''),
    async (ctx, _a, o) => {
      if ((o.dataDir as string) !== '') return defragDataDir(ctx, o.dataDir as string);
      return defrag(ctx, Boolean(o.cluster));
    },
  );

  act(program.command('move-leader').description('Transfers leadership to another etcd cluster member.'), (ctx, args) =>
    moveLeader(ctx, args),
  );

  act(
    program
      .command('make-mirror')
      .description('Makes a mirror at the destination etcd cluster')
      .option('--prefix <value>', 'Key-value prefix to mirror', '')
      .option('--dest-prefix <value>', 'destination prefix to mirror a prefix to a different prefix in the destination cluster', '')
      .option('--no-dest-prefix', 'mirror key-values to the root of the destination cluster')
      .option('--dest-cert <value>', 'Identify secure client using this TLS certificate file for the destination cluster', '')
      .option('--dest-key <value>', 'Identify secure client using this TLS key file', '')
      .option('--dest-cacert <value>', 'Verify certificates of TLS enabled secure servers using this CA bundle', '')
      .option('--dest-insecure-transport', 'Disable transport security for client connections')
      .addOption(new Option('--no-dest-insecure-transport').hideHelp()),
    (ctx, args, o) => {
      // commander reads --no-dest-prefix as the negation of --dest-prefix (destPrefix = false);
      // etcdctl refuses the two together, so look for both among the raw arguments.
      const raw = ctx.io.argv;
      const both =
        raw.some((a) => a === '--dest-prefix' || a.startsWith('--dest-prefix=')) && raw.some((a) => a.startsWith('--no-dest-prefix'));
      const noDest = o.destPrefix === false;
      return makeMirror(ctx, args, {
        prefix: o.prefix as string,
        destPrefix: noDest ? (both ? '(set)' : '') : (o.destPrefix as string),
        noDestPrefix: noDest || both,
        destCert: o.destCert as string,
        destKey: o.destKey as string,
        destCacert: o.destCacert as string,
        destInsecureTransport: o.destInsecureTransport !== false,
      } satisfies MirrorFlags);
    },
  );

  const check = program.command('check').description('commands for checking properties of the etcd cluster');
  const checkFlags = (cmd: Command, what: string, prefix: string) =>
    cmd
      .option('--load <value>', `The ${what} check's workload model. Accepted workloads: s(small), m(medium), l(large), xl(xLarge)`, 's')
      .option('--prefix <value>', `The prefix for writing the ${what} check's keys.`, prefix)
      .option('--auto-compact', 'Compact storage with last revision after test is finished.')
      .option('--auto-defrag', 'Defragment storage after test is finished.');
  act(
    checkFlags(check.command('perf').description('Check the performance of the etcd cluster'), 'performance', '/etcdctl-check-perf/'),
    (ctx, _a, o) => checkPerf(ctx, o as unknown as CheckFlags),
  );
  act(
    checkFlags(
      check.command('datascale').description('Check the memory usage of holding data for different workloads on a given server endpoint.'),
      'datascale',
      '/etcdctl-check-datascale/',
    ),
    (ctx, _a, o) => checkDatascale(ctx, o as unknown as CheckFlags),
  );

  // migrate (v2 store → mvcc) has nothing to work on: kv never had etcd's v2 store.
  act(
    program
      .command('migrate')
      .description('Migrates keys in a v2 store to a mvcc store')
      .option('--data-dir <value>', 'Path to the data directory', '')
      .option('--wal-dir <value>', 'Path to the WAL directory', '')
      .option('--no-ttl', 'Do not convert TTL keys')
      .option('--transformer <value>', 'Path to the user-provided transformer program', ''),
    () => {
      throw new CtlExit(ExitCode.Error, 'migrate is not supported: kv has no v2 store to migrate from (it serves the v3 API only)');
    },
  );

  const completion = program.command('completion').description('Generate the autocompletion script for the specified shell');
  for (const shell of ['bash', 'fish', 'powershell', 'zsh'] as const) {
    act(completion.command(shell).description(`Generate the autocompletion script for ${shell}`), (ctx, args) => {
      if (args.length !== 0)
        throw new CtlExit(ExitCode.Error, `unknown command ${JSON.stringify(args[0])} for "${prog} completion ${shell}"`);
      completionCommand(prog, shell, ctx.out);
    });
  }
}

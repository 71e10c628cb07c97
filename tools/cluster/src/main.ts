#!/usr/bin/env node
// kv-cluster: run a local cluster in the foreground until SIGINT/SIGTERM (see cli.ts for flags).
// stdout carries only the endpoints (scriptable); progress and member events go to stderr.
import { startCluster, type Cluster } from './cluster.js';
import { formatEndpoints, parseCli, USAGE, UsageError, type CliCommand } from './cli.js';
import { describeExit } from './member.js';

async function run(argv: string[]): Promise<number> {
  let cmd: CliCommand;
  try {
    cmd = parseCli(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`kv-cluster: ${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  if (cmd.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const { options } = cmd;

  // A signal during start-up aborts it; afterwards it stops the cluster. A second one forces exit
  // (the process 'exit' hook SIGKILLs members still running).
  let cluster: Cluster | undefined;
  let signalled = false;
  let stopRequested: (() => void) | undefined;
  const stopped = new Promise<void>((r) => (stopRequested = r));
  const onSignal = (sig: NodeJS.Signals) => {
    if (signalled) {
      process.stderr.write(`kv-cluster: second ${sig}; killing members\n`);
      process.exit(130);
    }
    signalled = true;
    process.stderr.write(`kv-cluster: ${sig}; stopping members\n`);
    stopRequested?.();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  const started = Date.now();
  const starting = startCluster({
    ...options,
    onLaunch: (members) => {
      process.stdout.write(formatEndpoints(members.map((m) => m.clientUrl)));
      process.stderr.write(`kv-cluster: ${members.length} ${options.server} member(s) started; waiting for /health\n`);
    },
  });
  try {
    cluster = await Promise.race([starting, stopped.then(() => undefined)]);
  } catch (e) {
    process.stderr.write(`kv-cluster: ${(e as Error).message}\n`);
    return 1;
  }
  if (!cluster) {
    // Signalled while starting: let start-up finish or fail, then stop what it started.
    await starting.then(
      (c) => c.stop(),
      () => undefined,
    );
    return 0;
  }
  process.stderr.write(
    `kv-cluster: all ${cluster.members.length} members healthy after ${Date.now() - started} ms; data in ${cluster.baseDir}; Ctrl-C to stop\n`,
  );
  for (const m of cluster.members) {
    void m.exited().then((s) => {
      if (!signalled) process.stderr.write(`kv-cluster: member ${m.name} (pid ${m.pid}) ${describeExit(s)}; log: ${m.logFile}\n`);
    });
  }
  await stopped;
  await cluster.stop();
  process.stderr.write('kv-cluster: stopped\n');
  return 0;
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`kv-cluster: ${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  },
);

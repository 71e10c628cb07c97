// @kv/ctl: etcdctl 3.4's commands, flags and output formats over @kv/client (behind kvctl).
import { run } from './cli.js';
import { spawnSync } from 'node:child_process';
import type { CtlIO } from './io.js';

export { run, PROGRAM } from './cli.js';
export type { CtlIO, Sink } from './io.js';
export { ExitCode, CtlExit } from './exit.js';
export { KVCTL_VERSION, API_VERSION } from './commands/cluster.js';
export { newPrinter, renderTable } from './printers/index.js';
export type { Printer, PrinterContext, EpHealth, EpStatus, EpHashKV } from './printers/index.js';
export { goQuote, goJsonString, formatGoDuration, parseGoDuration, humanizeBytes } from './gofmt.js';
export { argify } from './goparse.js';
export { parseCompare, parseRequestOp } from './commands/txn.js';

/** Entry point of the kvctl binary: `argv` is process.argv. Exits the process. */
export async function main(argv: string[]): Promise<void> {
  const args = argv.slice(2);
  const io: CtlIO = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env, argv: args, setEcho: stty };
  // etcdctl ignores ETCDCTL_API (it only selects the v3 API, the only one here).
  const code = await run(args, io);
  await new Promise<void>((resolve) => process.stdout.write('', () => resolve()));
  process.exit(code);
}

/** speakeasy's echoOff/echoOn: `/bin/stty -echo|echo` on our stdin, stdout and stderr (it complains on stderr when stdin is no terminal). */
function stty(on: boolean): void {
  const r = spawnSync('/bin/stty', [on ? 'echo' : '-echo'], { stdio: 'inherit', argv0: 'stty' });
  if (r.error) throw r.error;
}

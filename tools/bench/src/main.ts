#!/usr/bin/env node
// kv-bench: run one workload against running servers and print throughput and latency.
import { parseBenchArgs, USAGE, UsageError, type BenchCommand } from './options.js';
import { formatResult } from './report.js';
import { runBenchmark } from './runner.js';

async function run(argv: string[]): Promise<number> {
  let cmd: BenchCommand;
  try {
    cmd = parseBenchArgs(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`kv-bench: ${e.message}\n${USAGE}`);
      return 2;
    }
    throw e;
  }
  if (cmd.kind === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const result = await runBenchmark(cmd.options);
  process.stdout.write(cmd.json ? JSON.stringify(result, null, 2) + '\n' : formatResult(result));
  return result.aborted === undefined && result.errors === 0 ? 0 : 1;
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`kv-bench: ${(err as Error)?.stack ?? err}\n`);
    process.exit(1);
  },
);

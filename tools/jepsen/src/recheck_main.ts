// pnpm jepsen:recheck <run dir or history.json>: re-runs the history-only checkers on a saved run
// and prints each checker's time, counters and notes; exit 0 only when all are valid.
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { HistoryEvent } from '@kv/check';
import { recheck } from './recheck.js';

async function main(): Promise<void> {
  const arg = process.argv[2];
  if (arg === undefined) {
    process.stderr.write('usage: pnpm jepsen:recheck <run dir or history.json>\n');
    process.exit(2);
  }
  const path = (await stat(arg)).isDirectory() ? join(arg, 'history.json') : arg;
  const saved = JSON.parse(await readFile(path, 'utf8')) as { events?: HistoryEvent[] };
  if (!Array.isArray(saved.events)) throw new Error(`${path}: no "events" array (not a run's history.json)`);
  const { result, ms } = recheck(saved.events);
  for (const [name, t] of Object.entries(ms)) {
    const stats = Object.entries(result.stats)
      .filter(([k]) => k.startsWith(`${name}.`))
      .map(([k, v]) => `${k.slice(name.length + 1)}=${v}`)
      .join(' ');
    process.stdout.write(`${name}: ${t.toFixed(0)} ms  ${stats}\n`);
  }
  const real = result.anomalies.filter((a) => !a.expected);
  for (const a of real.slice(0, 20)) process.stdout.write(`  ${a.checker}/${a.type}: ${a.message} (ops ${a.ops.join(',')})\n`);
  for (const n of result.notes ?? []) process.stdout.write(`  note: ${n}\n`);
  const verdict = result.valid === true ? 'valid' : result.valid === false ? 'INVALID' : 'unknown';
  process.stdout.write(`${verdict}: ${real.length} anomalies, ${result.anomalies.length - real.length} expected\n`);
  process.exitCode = result.valid === true ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`${String((err as Error)?.stack ?? err)}\n`);
  process.exit(2);
});

// pnpm jepsen: one harness run; exit 0 only when it found no anomaly and lost nothing.
import { parseArgs, UsageError } from './cli.js';
import { runJepsen } from './run.js';

async function main(): Promise<void> {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2), () => Math.floor(Math.random() * 1_000_000));
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const r = await runJepsen(opts);
  const f = r.figures;
  const real = r.anomalies.filter((a) => !a.expected);
  process.stdout.write(
    `${f.server} ×${f.members} seed ${f.seed}: ${f.ops} ops (${f.ok} ok, ${f.fail} fail, ${f.info} info), ` +
      `faults ${JSON.stringify(f.faults)}, ${real.length} anomalies, ${r.anomalies.length - real.length} expected, ${r.lost} lost; ` +
      `${r.result.valid === true ? 'valid' : r.result.valid === false ? 'INVALID' : 'unknown'}\n`,
  );
  for (const a of real.slice(0, 20)) process.stdout.write(`  ${a.checker}/${a.type}: ${a.message}\n`);
  for (const n of f.notes) process.stdout.write(`  note: ${n}\n`);
  process.stdout.write(`${r.reportPath}\n`);
  process.exitCode = r.ok ? 0 : 1;
}

main().catch((err) => {
  process.stderr.write(`jepsen: ${(err as Error)?.stack ?? String(err)}\n`);
  process.exit(1);
});

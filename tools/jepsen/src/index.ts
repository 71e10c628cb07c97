// @kv/jepsen: the Jepsen-style harness on real processes.
export { runJepsen, WORKLOADS } from './run.js';
export type { JepsenOptions, JepsenResult, WorkloadKind } from './run.js';
export { NEMESES, Nemesis } from './nemesis.js';
export type { NemesisKind } from './nemesis.js';
export { parseArgs, USAGE, UsageError } from './cli.js';
export { renderReport, figuresOf } from './report.js';
export type { Figures } from './report.js';
export { recheck } from './recheck.js';
export type { Recheck } from './recheck.js';
export { leaderWindows } from './leader_windows.js';

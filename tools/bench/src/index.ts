// @kv/bench: load generation over @kv/client and etcd's Go client, and the kvd-vs-etcd comparisons.
export { runBenchmark, openConnections, workloadLabel } from './runner.js';
export type { BenchResult, WatchStats } from './runner.js';
export { parseBenchArgs, parseDuration, parseConsistency, commonOptions, DEFAULTS, WORKLOADS, USAGE, UsageError } from './options.js';
export type { BenchOptions, BenchCommand, Workload, Consistency } from './options.js';
export { LatencyRecorder } from './latency.js';
export type { LatencySummary } from './latency.js';
export { formatResult, formatComparison, ratio, median, figures } from './report.js';
export type { ComparisonRow, Figures } from './report.js';
export { runCompare, parseCompareArgs, benchFor, COMPARE_WORKLOADS, COMPARE_USAGE } from './compare.js';
export type { CompareOptions, CompareCommand, CompareWorkload } from './compare.js';
export { makeKey, makeValue, prng } from './keys.js';
export { runSuite, parseSuiteArgs, formatSuite, formatSuiteTable, checkPerfLines, CHECK_PERF_LOADS, SUITE_USAGE } from './suite.js';
export type { SuiteOptions, SuiteCommand, SuiteResult, RunRecord, CheckPerfRecord, CheckPerfLoad } from './suite.js';
export { SCENARIO, DEFAULT_ROWS, SUITE_WORKLOADS, DRIVERS, goArgs, nodeOptions } from './scenario.js';
export type { ScenarioRow, SuiteWorkload, Driver } from './scenario.js';
export { buildGoDriver, goUnavailableReason, runGoDriver, parseGoOutput, GO_BIN } from './godriver.js';
export type { GoResult, GoLatency } from './godriver.js';

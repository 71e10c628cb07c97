// @kv/bench: load generation over @kv/client and the kvd-vs-etcd comparison.
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

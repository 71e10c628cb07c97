export {
  compatRoot,
  etcdBin,
  etcdctlBin,
  kvdAvailability,
  kvdBin,
  outDir,
  repoRoot,
  scriptsDir,
  serverSpec,
  type ServerSpec,
} from './config.js';
export { Member, StartError, type MemberOptions } from './cluster.js';
export { etcdctlEnv, runEtcdctl, startEtcdctl } from './etcdctl.js';
export { Normalizer, type RawOutput } from './normalize.js';
export { freePort, freePorts } from '@kv/testkit';
export {
  killAndWait,
  runProcess,
  sleep,
  startBackground,
  type BackgroundProcess,
  type RunOptions,
  type RunResult,
} from './proc.js';
export {
  DEFAULT_COMMAND_TIMEOUT_MS,
  DEFAULT_SETTLE_MS,
  listScripts,
  loadScript,
  runScript,
  saveOutcome,
  StepError,
  type RunOutcome,
} from './runner.js';
export {
  parseDuration,
  parseScript,
  producesOutput,
  ScriptError,
  serializeScript,
  SEP,
  splitWords,
  type FileOptions,
  type Script,
  type Step,
  type StepCommand,
  type StepOptions,
} from './script.js';

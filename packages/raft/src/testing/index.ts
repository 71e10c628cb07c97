// Test support for @kv/raft (not part of the public package surface).
export {
  argBigint,
  argBool,
  argNumber,
  argString1,
  type CmdArg,
  type DataDrivenResult,
  findArg,
  hasArg,
  parseLine,
  rewriteEnabled,
  runDataDriven,
  runDataDrivenFile,
  type TestData,
  testdataFiles,
} from './datadriven.js';
export { Rand } from './rand.js';
export { alternativeMajorityCommittedIndex } from './quorum.js';

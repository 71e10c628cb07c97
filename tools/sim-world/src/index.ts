// Public surface of @kv/sim-world: the simulated disk of the whole-cluster simulation.
export { SimFs, SECTOR } from './sim_fs.js';
export type { SimFsOptions, SimFsStats, SimRandom, Schedule, FsyncFault, TearKind } from './sim_fs.js';
export { SimEngine } from './sim_engine.js';
export type { SimEngineOptions } from './sim_engine.js';

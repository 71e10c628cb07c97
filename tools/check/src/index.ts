// @kv/check: the history model and the checkers. Pure functions over histories, no I/O.
export * from './history.js';
export { pairOps, opsOf, mergeResults } from './pairs.js';
export { checkRegister, DEFAULT_MAX_STEPS } from './register.js';
export { checkAppend } from './append.js';
export { checkWatch, inRange } from './watch.js';
export { checkLeases } from './lease.js';
export { checkLost, parseList } from './lost.js';
export { checkLock } from './lock.js';

// @kv/check: the history model and the checkers. Pure functions over histories, no I/O.
export * from './history.js';

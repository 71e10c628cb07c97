// Test support shared with the packages above the WAL (@kv/wal/testing): small file systems
// for disk-full tests.
export { fillUp, mountSmallFs } from './small_fs.js';
export type { SmallFs } from './small_fs.js';

// Test support: a brute-force definition of the committed index to check the real one against.

import { type MajorityConfig } from '../quorum/majority.js';
import { type AckedIndexer, type Index, MaxIndex } from '../quorum/quorum.js';

/**
 * The largest index i such that at least a majority of the members acked an index >= i (0 if
 * none; MaxIndex for the empty config), computed by counting for every candidate index.
 */
export function alternativeMajorityCommittedIndex(c: MajorityConfig, l: AckedIndexer): Index {
  if (c.size === 0) return MaxIndex;
  const acked: bigint[] = [];
  for (const id of c) {
    const v = l.ackedIndex(id);
    if (v !== undefined) acked.push(v);
  }
  const q = Math.floor(c.size / 2) + 1;
  let best = 0n;
  for (const candidate of acked) {
    const n = acked.filter((a) => a >= candidate).length;
    if (n >= q && candidate > best) best = candidate;
  }
  return best;
}

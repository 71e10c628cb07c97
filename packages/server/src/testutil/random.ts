// A seeded Random (world/clock.ts) for tests: same seed, same numbers and bytes.
import { seededRandom } from '@kv/raft';
import type { Random } from '../world/clock.js';

export function seededWorldRandom(seed: number): Random {
  const src = seededRandom(seed);
  return {
    next: () => src(0x1_0000_0000) / 0x1_0000_0000,
    bytes: (n) => Buffer.from(Array.from({ length: n }, () => src(256))),
  };
}

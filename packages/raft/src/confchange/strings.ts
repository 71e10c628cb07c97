// The compact textual form of configuration changes used by data-driven tests:
// "v1 l2 r3 u4" = make 1 a voter, make 2 a learner, remove 3, update 4.

import { raftpb } from '@kv/api';

const letters: ReadonlyMap<string, raftpb.ConfChangeType> = new Map([
  ['v', raftpb.ConfChangeType.ConfChangeAddNode],
  ['l', raftpb.ConfChangeType.ConfChangeAddLearnerNode],
  ['r', raftpb.ConfChangeType.ConfChangeRemoveNode],
  ['u', raftpb.ConfChangeType.ConfChangeUpdateNode],
]);

/** Parses space-separated tokens like "v1 l2 r3 u4"; throws on malformed tokens. */
export function confChangesFromString(s: string): raftpb.ConfChangeSingle[] {
  const toks = s.trim().split(' ');
  if (toks[0] === '') return [];
  return toks.map((tok) => {
    if (tok.length < 2) throw new Error(`unknown token ${tok}`);
    const type = letters.get(tok[0]);
    if (type === undefined) throw new Error(`unknown input: ${tok}`);
    const digits = tok.slice(1);
    if (!/^[0-9]+$/.test(digits) || BigInt(digits) >= 1n << 64n) {
      throw new Error(`strconv.ParseUint: parsing "${digits}": invalid syntax`);
    }
    return { type, nodeId: BigInt(digits) };
  });
}

/** The inverse of confChangesFromString (unknown types print as "unknown<id>"). */
export function confChangesToString(ccs: readonly raftpb.ConfChangeSingle[]): string {
  return ccs
    .map((cc) => {
      let letter = 'unknown';
      for (const [l, t] of letters) if (t === cc.type) letter = l;
      return `${letter}${cc.nodeId}`;
    })
    .join(' ');
}

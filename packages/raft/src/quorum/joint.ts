// JointConfig: two majority configs that must both agree (joint consensus, Raft thesis §4.3).

import { MajorityConfig } from './majority.js';
import { type AckedIndexer, type Index, VoteResult } from './quorum.js';

/**
 * The voters of a (possibly joint) configuration: `incoming` is the active/new majority config,
 * `outgoing` the old one during a joint transition. A config is joint iff outgoing is non-empty;
 * outside a transition outgoing is empty and the config behaves exactly like `incoming`.
 */
export class JointConfig {
  constructor(
    public incoming: MajorityConfig = new MajorityConfig(),
    public outgoing: MajorityConfig = new MajorityConfig(),
  ) {}

  /** True iff the outgoing half is non-empty. */
  isJoint(): boolean {
    return this.outgoing.size > 0;
  }

  /** The union of both halves. */
  ids(): Set<bigint> {
    return new Set([...this.incoming, ...this.outgoing]);
  }

  clone(): JointConfig {
    return new JointConfig(this.incoming.clone(), this.outgoing.clone());
  }

  /** "(1 2 3)" or, when joint, "(1 2 3)&&(1 2)". */
  toString(): string {
    return this.outgoing.size > 0 ? `${this.incoming.toString()}&&${this.outgoing.toString()}` : this.incoming.toString();
  }

  /** Like MajorityConfig.describe over the union of both halves. */
  describe(l: AckedIndexer): string {
    return new MajorityConfig(this.ids()).describe(l);
  }

  /** The largest index committed in both halves (the minimum of the two halves' results). */
  committedIndex(l: AckedIndexer): Index {
    const a = this.incoming.committedIndex(l);
    const b = this.outgoing.committedIndex(l);
    // biome-ignore lint/complexity/useMathMinMax: indexes are bigints, which Math.min does not take
    return a < b ? a : b;
  }

  /** Won only if both halves won; lost if either half lost; otherwise pending. */
  voteResult(votes: ReadonlyMap<bigint, boolean>): VoteResult {
    const r1 = this.incoming.voteResult(votes);
    const r2 = this.outgoing.voteResult(votes);
    if (r1 === r2) return r1;
    if (r1 === VoteResult.VoteLost || r2 === VoteResult.VoteLost) return VoteResult.VoteLost;
    return VoteResult.VotePending;
  }
}

// Request and lease ids as etcd's idutil.Generator makes them: the member id's low 16 bits on top,
// then 40 bits of the start time in ms, then an 8-bit counter that carries into the time part.
// Unique across members (different prefix) and across restarts (time moves on).
const suffixBits = 48n;
const suffixMask = (1n << suffixBits) - 1n;

export class IdGenerator {
  private readonly prefix: bigint;
  private suffix: bigint;

  constructor(memberId: bigint, nowMs: number) {
    this.prefix = (memberId & 0xffffn) << suffixBits;
    this.suffix = (BigInt(Math.floor(nowMs)) & ((1n << 40n) - 1n)) << 8n;
  }

  next(): bigint {
    this.suffix += 1n;
    return this.prefix | (this.suffix & suffixMask);
  }
}

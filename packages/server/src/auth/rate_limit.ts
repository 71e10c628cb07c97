// A token bucket over an injected clock: `capacity` tokens, refilled at `perSecond`, never above
// capacity. The Auth service holds one per member to bound failed Authenticate calls (password
// guessing): each attempt takes a token before its bcrypt comparison and a successful one gives
// it back, so only failures cost, yet a burst of concurrent guesses cannot all pass the check
// before the first of them fails. Beyond it: `etcdserver: too many requests`.
//
// Invariant: 0 <= tokens <= capacity, at every call.
import type { Clock } from '../world/clock.js';

/** Failed Authenticate calls a member takes in a burst, and per second after it. */
export const AuthenticateBurst = 64;
export const AuthenticatePerSecond = 10;

export class TokenBucket {
  private tokens: number;
  private at: number;

  constructor(
    private readonly clock: Clock,
    readonly capacity: number,
    readonly perSecond: number,
  ) {
    if (!(capacity >= 1) || !(perSecond > 0))
      throw new Error(`token bucket needs capacity >= 1 and a positive rate (got ${capacity}, ${perSecond})`);
    this.tokens = capacity;
    this.at = clock.now();
  }

  /** Takes one token if there is one. */
  take(): boolean {
    this.refill();
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Gives back a token taken by take() (the attempt turned out not to count). */
  refund(): void {
    this.refill();
    this.tokens = Math.min(this.capacity, this.tokens + 1);
  }

  /** Whole tokens available now. */
  available(): number {
    this.refill();
    return Math.floor(this.tokens);
  }

  private refill(): void {
    const now = this.clock.now();
    // A clock that went backwards (it should not: now() is monotonic) adds nothing.
    const elapsed = Math.max(0, now - this.at);
    this.at = now;
    this.tokens = Math.min(this.capacity, this.tokens + (elapsed / 1000) * this.perSecond);
  }
}

// Inflights: the sliding window of append messages sent to a follower but not yet acknowledged.

/**
 * A bounded FIFO of the last log index carried by each in-flight MsgApp. The leader adds an
 * index per message sent (indexes are added in increasing order) and frees everything up to an
 * acknowledged index when the follower replies. When full, no further MsgApp may be sent.
 *
 * Implemented as a ring buffer that grows lazily up to `size` slots.
 * Invariant: 0 <= count <= size, and the `count` entries starting at `start` (wrapping) are
 * non-decreasing.
 */
export class Inflights {
  private start = 0;
  private cnt = 0;
  private buffer: bigint[] = [];

  /** @param size the maximum number of in-flight messages */
  constructor(readonly size: number) {}

  /** A copy with its own buffer. */
  clone(): Inflights {
    const c = new Inflights(this.size);
    c.start = this.start;
    c.cnt = this.cnt;
    c.buffer = this.buffer.slice();
    return c;
  }

  /** Records a message whose last entry has index `inflight`. Throws when full. */
  add(inflight: bigint): void {
    if (this.full()) throw new Error('cannot add into a Full inflights');
    let next = this.start + this.cnt;
    if (next >= this.size) next -= this.size;
    if (next >= this.buffer.length) this.grow();
    this.buffer[next] = inflight;
    this.cnt++;
  }

  /** Doubles the buffer (at least 1, at most `size` slots), keeping slot positions. */
  private grow(): void {
    let newSize = this.buffer.length * 2;
    if (newSize === 0) newSize = 1;
    else if (newSize > this.size) newSize = this.size;
    const b = new Array<bigint>(newSize).fill(0n);
    for (let i = 0; i < this.buffer.length; i++) b[i] = this.buffer[i];
    this.buffer = b;
  }

  /** Frees every in-flight message whose index is <= `to` (an acknowledgement up to `to`). */
  freeLE(to: bigint): void {
    if (this.cnt === 0 || to < this.buffer[this.start]) return; // left of the window
    let idx = this.start;
    let i = 0;
    for (; i < this.cnt; i++) {
      if (to < this.buffer[idx]) break; // first message still in flight
      idx++;
      if (idx >= this.size) idx -= this.size;
    }
    this.cnt -= i;
    this.start = idx;
    // When empty, restart at slot 0 so the buffer doesn't grow needlessly.
    if (this.cnt === 0) this.start = 0;
  }

  /** Alias of freeLE. */
  freeTo(to: bigint): void {
    this.freeLE(to);
  }

  /** Frees the oldest in-flight message (and any others with the same index). */
  freeFirstOne(): void {
    if (this.cnt === 0) return;
    this.freeLE(this.buffer[this.start]);
  }

  full(): boolean {
    return this.cnt === this.size;
  }

  count(): number {
    return this.cnt;
  }

  /** Forgets all in-flight messages. */
  reset(): void {
    this.cnt = 0;
    this.start = 0;
  }

  /** Test helper: the in-flight indexes, oldest first. */
  toArray(): bigint[] {
    const out: bigint[] = [];
    for (let i = 0, idx = this.start; i < this.cnt; i++) {
      out.push(this.buffer[idx]);
      idx++;
      if (idx >= this.size) idx -= this.size;
    }
    return out;
  }

  /** Test helper: the internal layout, for comparisons against etcd's unit tests. */
  debugState(): { start: number; count: number; size: number; buffer: bigint[] } {
    return { start: this.start, count: this.cnt, size: this.size, buffer: this.buffer.slice() };
  }
}

// The catch-up tail: the revisions the store has published since catch-up began, kept in memory
// so that a lagging watcher can be brought all the way to the current revision synchronously at
// the end of a catch-up round (see the header of watchable_store.ts for how it is used).
//
// Invariant: every revision published at or after `start` is held, in order, once; nothing below
// `start` is held. Revisions need not be contiguous (a write that changed nothing publishes none).
import type { mvccpb } from '@kv/api';

export interface TailChange {
  readonly rev: bigint;
  readonly events: mvccpb.Event[];
}

export class CatchUpTail {
  private items: TailChange[] = [];
  private head = 0;

  /** @param start The first revision that will be published from now on (currentRev + 1). */
  constructor(private first: bigint) {}

  /** Every published revision >= start is held. */
  get start(): bigint {
    return this.first;
  }

  get length(): number {
    return this.items.length - this.head;
  }

  /** Records published revisions (the store publishes them in increasing order). */
  append(changes: readonly TailChange[]): void {
    for (const c of changes) {
      // a revision at or below the newest held one cannot be new: ignore rather than break order
      const last = this.items.length > this.head ? this.items[this.items.length - 1].rev : this.first - 1n;
      if (c.rev > last) this.items.push(c);
    }
  }

  /** Forgets every revision below `rev` (start becomes at least `rev`). */
  dropBelow(rev: bigint): void {
    if (rev <= this.first) return;
    while (this.head < this.items.length && this.items[this.head].rev < rev) this.head++;
    this.first = rev;
    this.compact();
  }

  /** Forgets the oldest revisions until at most `n` are held. */
  keepAtMost(n: number): void {
    if (this.length <= n) return;
    const drop = this.length - n;
    this.first = this.items[this.head + drop - 1].rev + 1n;
    this.head += drop;
    this.compact();
  }

  /**
   * The held revisions >= rev, in order (complete only if rev >= start). Do not drop revisions
   * while iterating.
   */
  *from(rev: bigint): IterableIterator<TailChange> {
    let lo = this.head;
    let hi = this.items.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.items[mid].rev < rev) lo = mid + 1;
      else hi = mid;
    }
    // snapshot of the end: entries appended meanwhile (a re-entrant publish) are not visited
    const end = this.items.length;
    for (let i = lo; i < end; i++) yield this.items[i];
  }

  private compact(): void {
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

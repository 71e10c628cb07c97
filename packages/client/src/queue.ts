// A push-based async queue: producers push values, end it or fail it; one consumer iterates.
// Backs the AsyncIterables of watchers, keep-alives and snapshots.

export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  private readonly items: T[] = [];
  private waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined;
  private done = false;
  private error: unknown = undefined;
  private failed = false;

  /** Called once when the consumer stops early (break / return()). */
  constructor(private readonly onReturn?: () => void) {}

  push(v: T): void {
    if (this.done) return;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: v, done: false });
    } else {
      this.items.push(v);
    }
  }

  /** No more values; the consumer sees the end after draining what was pushed. */
  end(): void {
    if (this.done) return;
    this.done = true;
    // A waiting consumer implies an empty buffer.
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
  }

  /** The consumer gets `err` (once) after draining what was pushed. */
  fail(err: unknown): void {
    if (this.done) return;
    this.done = true;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.reject(err);
    } else {
      this.failed = true;
      this.error = err;
    }
  }

  get ended(): boolean {
    return this.done;
  }

  next(): Promise<IteratorResult<T>> {
    if (this.items.length > 0) return Promise.resolve({ value: this.items.shift()!, done: false });
    if (this.done) {
      if (this.failed) {
        // Report the error once; afterwards the iterator is simply finished.
        this.failed = false;
        return Promise.reject(this.error);
      }
      return Promise.resolve({ value: undefined, done: true });
    }
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
    });
  }

  return(): Promise<IteratorResult<T>> {
    const wasDone = this.done;
    this.items.length = 0;
    this.done = true;
    this.failed = false;
    if (this.waiter) {
      const w = this.waiter;
      this.waiter = undefined;
      w.resolve({ value: undefined, done: true });
    }
    if (!wasDone) this.onReturn?.();
    return Promise.resolve({ value: undefined, done: true });
  }

  [Symbol.asyncIterator](): AsyncIterableIterator<T> {
    return this;
  }
}

// A set of watchers indexed by what they watch, so that "which watchers care about this key?" is
// cheap. Used twice by the watchable store: once for synced watchers (fed by published revisions)
// and once for unsynced ones (fed by history catch-up).
//
// A watcher watches one of:
//   - a single key            (end undefined or empty)
//   - a range [key, end)      (end > key, byte order)
//   - every key >= key        (end = "\0", etcd's from-key convention)
//
// Keys are compared as latin1 strings: each byte becomes one UTF-16 code unit in 0..255, so JS
// string order equals byte order. Single-key watchers sit in a Map (O(1) lookup); range watchers
// are grouped by identical interval and matched by a linear scan over the distinct intervals.
// That is O(distinct ranges) per event, fine for the few range/prefix watchers a store usually
// has; an interval tree (as etcd uses) would be the next step if that ever shows in profiles.

/** What a watcher watches. `end`: undefined/empty = single key, `\0` = from key, else [key, end). */
export interface WatchTarget {
  readonly key: Buffer;
  readonly end: Buffer | undefined;
}

/** True when `end` is etcd's from-key marker (a single zero byte). */
export function isFromKeyEnd(end: Buffer | undefined): boolean {
  return end !== undefined && end.length === 1 && end[0] === 0;
}

/** True when the target watches one key (no range end). */
export function isSingleKey(t: WatchTarget): boolean {
  return t.end === undefined || t.end.length === 0;
}

/** Whether `key` falls inside what `t` watches. */
export function targetContains(t: WatchTarget, key: Buffer): boolean {
  if (isSingleKey(t)) return t.key.equals(key);
  if (Buffer.compare(key, t.key) < 0) return false;
  if (isFromKeyEnd(t.end)) return true;
  return Buffer.compare(key, t.end!) < 0;
}

const bin = (b: Buffer): string => b.toString('latin1');

interface Interval<W> {
  readonly lo: string;
  /** Exclusive upper bound; null = unbounded (from-key). */
  readonly hi: string | null;
  readonly members: Set<W>;
}

// \u0100 cannot occur in a latin1 string, so it separates lo and hi unambiguously.
function intervalId(lo: string, hi: string | null): string {
  return hi === null ? `${lo}\u0100*` : `${lo}\u0100${hi}`;
}

export class WatcherGroup<W extends WatchTarget> {
  // Invariant: every watcher in `all` is in exactly one of `single` / `ranges`, and vice versa.
  private readonly all = new Set<W>();
  private readonly single = new Map<string, Set<W>>();
  private readonly ranges = new Map<string, Interval<W>>();

  constructor(initial?: Iterable<W>) {
    if (initial) for (const w of initial) this.add(w);
  }

  get size(): number {
    return this.all.size;
  }

  has(w: W): boolean {
    return this.all.has(w);
  }

  values(): IterableIterator<W> {
    return this.all.values();
  }

  [Symbol.iterator](): IterableIterator<W> {
    return this.all.values();
  }

  /** Adds a watcher; adding one twice is a programming error. */
  add(w: W): void {
    if (this.all.has(w)) throw new Error('watcher group: watcher added twice');
    this.all.add(w);
    if (isSingleKey(w)) {
      const k = bin(w.key);
      let set = this.single.get(k);
      if (!set) this.single.set(k, (set = new Set()));
      set.add(w);
      return;
    }
    const lo = bin(w.key);
    const hi = isFromKeyEnd(w.end) ? null : bin(w.end!);
    const id = intervalId(lo, hi);
    let iv = this.ranges.get(id);
    if (!iv) this.ranges.set(id, (iv = { lo, hi, members: new Set() }));
    iv.members.add(w);
  }

  /** Removes a watcher; returns false when it was not in the group. */
  delete(w: W): boolean {
    if (!this.all.delete(w)) return false;
    if (isSingleKey(w)) {
      const k = bin(w.key);
      const set = this.single.get(k)!;
      set.delete(w);
      if (set.size === 0) this.single.delete(k);
      return true;
    }
    const id = intervalId(bin(w.key), isFromKeyEnd(w.end) ? null : bin(w.end!));
    const iv = this.ranges.get(id)!;
    iv.members.delete(w);
    if (iv.members.size === 0) this.ranges.delete(id);
    return true;
  }

  /** Whether any watcher in the group watches `key`. */
  contains(key: Buffer): boolean {
    if (this.all.size === 0) return false;
    const k = bin(key);
    if (this.single.has(k)) return true;
    for (const iv of this.ranges.values()) if (inInterval(k, iv)) return true;
    return false;
  }

  /** Every watcher that watches `key`, each once, in no particular order. */
  match(key: Buffer): W[] {
    if (this.all.size === 0) return [];
    const k = bin(key);
    const out: W[] = [];
    const set = this.single.get(k);
    if (set) for (const w of set) out.push(w);
    // A watcher is either single-key or in exactly one interval, so no duplicates arise.
    for (const iv of this.ranges.values()) {
      if (inInterval(k, iv)) for (const w of iv.members) out.push(w);
    }
    return out;
  }
}

function inInterval<W>(k: string, iv: Interval<W>): boolean {
  return k >= iv.lo && (iv.hi === null || k < iv.hi);
}

// Key-range permissions as interval sets (etcd's auth/range_perm_cache.go): each user's READ and
// WRITE permissions, merged over its roles, are a union of half-open byte intervals [start, end)
// where `end === undefined` means "to the end of the key space" (a from-key permission, range
// end "\0"). A single-key permission is the point interval [key, key + "\0").
//
// Invariant: an IntervalSet's intervals are sorted by start, pairwise disjoint and not adjacent
// (merged on insert), so "is [a, b) covered" is one binary search.
import { authpb } from '@kv/api';

export interface Interval {
  start: Buffer;
  /** Exclusive; undefined = +infinity. */
  end?: Buffer;
}

const Zero = Buffer.from([0]);

/** [key, key+"\0"): the single key `key`. */
export function pointInterval(key: Buffer): Interval {
  return { start: key, end: Buffer.concat([key, Zero]) };
}

/**
 * The interval a request's (key, range_end) names, as etcd reads it: empty range_end = the key
 * alone, "\0" = every key >= key. Returns undefined for an empty interval (end <= key).
 */
export function requestInterval(key: Buffer, rangeEnd: Buffer): Interval | undefined {
  if (rangeEnd.length === 0) return pointInterval(key);
  if (rangeEnd.length === 1 && rangeEnd[0] === 0) return { start: key };
  if (Buffer.compare(rangeEnd, key) <= 0) return undefined;
  return { start: key, end: rangeEnd };
}

/** end a < end b, with undefined as +infinity. */
function endLess(a: Buffer | undefined, b: Buffer | undefined): boolean {
  if (a === undefined) return false;
  if (b === undefined) return true;
  return Buffer.compare(a, b) < 0;
}

export class IntervalSet {
  private ivs: Interval[] = [];

  /** Adds an interval, merging it with those it overlaps or touches. */
  add(iv: Interval): void {
    const out: Interval[] = [];
    let cur: Interval = { start: iv.start, end: iv.end };
    let placed = false;
    for (const x of this.ivs) {
      // x entirely before cur (and not touching): x.end < cur.start
      if (x.end !== undefined && Buffer.compare(x.end, cur.start) < 0) {
        out.push(x);
        continue;
      }
      // x entirely after cur: cur.end < x.start
      if (cur.end !== undefined && Buffer.compare(cur.end, x.start) < 0) {
        if (!placed) {
          out.push(cur);
          placed = true;
        }
        out.push(x);
        continue;
      }
      // overlap or touch: merge
      cur = {
        start: Buffer.compare(x.start, cur.start) < 0 ? x.start : cur.start,
        end: endLess(x.end, cur.end) ? cur.end : x.end,
      };
    }
    if (!placed) out.push(cur);
    this.ivs = out;
  }

  /** Whether every key of `iv` is inside the set. */
  covers(iv: Interval): boolean {
    // The last interval starting at or before iv.start is the only candidate (disjoint, sorted).
    let lo = 0;
    let hi = this.ivs.length - 1;
    let found = -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      if (Buffer.compare(this.ivs[mid].start, iv.start) <= 0) {
        found = mid;
        lo = mid + 1;
      } else hi = mid - 1;
    }
    if (found < 0) return false;
    const c = this.ivs[found];
    return !endLess(c.end, iv.end);
  }

  get size(): number {
    return this.ivs.length;
  }
}

export interface UserPerms {
  read: IntervalSet;
  write: IntervalSet;
}

/** A role's permission as an interval (etcd: range end "\0" is open-ended, empty is one key). */
export function permInterval(p: authpb.Permission): Interval | undefined {
  return requestInterval(p.key, p.rangeEnd);
}

/** Merges the permissions of a user's roles into its READ and WRITE sets. */
export function mergePerms(roles: Iterable<authpb.Role | undefined>): UserPerms {
  const read = new IntervalSet();
  const write = new IntervalSet();
  for (const role of roles) {
    if (!role) continue;
    for (const p of role.keyPermission) {
      const iv = permInterval(p);
      if (!iv) continue;
      if (p.permType === authpb.Permission_Type.READ || p.permType === authpb.Permission_Type.READWRITE) read.add(iv);
      if (p.permType === authpb.Permission_Type.WRITE || p.permType === authpb.Permission_Type.READWRITE) write.add(iv);
    }
  }
  return { read, write };
}

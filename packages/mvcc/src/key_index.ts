/**
 * The revision history of one key, in etcd's "generations" model.
 *
 * A generation is one life of the key: it starts with the put that creates
 * the key, continues with every later put, and ends with a tombstone
 * (deletion). After a tombstone a new, empty generation is opened, so the last
 * generation is the live one (empty when the key does not currently exist).
 *
 * Example: put@1, put@2, del@3, put@4, del@5 gives
 *   [ {1, 2, 3t}, {4, 5t}, {} ]
 *
 * Compaction at revision R drops, per key, every revision <= R except the
 * newest one (which still answers reads at R), and drops that one too if it
 * is a tombstone. Generations that become empty disappear; a key whose only
 * generation is the empty live one is removed from the index by the caller.
 *
 * Invariants:
 * - revisions within and across generations are strictly increasing;
 * - every generation but the last is non-empty and ends with its tombstone;
 * - `modified` is the newest revision ever recorded.
 */
import { type Revision, compareRev, revGreaterThan, revKey } from './revision.js';

export class RevisionNotFoundError extends Error {
  constructor() {
    super('mvcc: revision not found');
    this.name = 'RevisionNotFoundError';
  }
}

export class Generation {
  /** Number of versions of the key in this generation (may exceed revs.length after compaction). */
  ver = 0n;
  /** Revision of the put that created this generation. */
  created: Revision = { main: 0n, sub: 0n };
  revs: Revision[] = [];

  isEmpty(): boolean {
    return this.revs.length === 0;
  }

  /** Index of the newest revision whose main is <= atRev, or -1. */
  latestAtOrBefore(atRev: bigint): number {
    for (let i = this.revs.length - 1; i >= 0; i--) {
      if (this.revs[i].main <= atRev) return i;
    }
    return -1;
  }
}

export interface KeyAt {
  /** Revision of the version visible at the asked revision. */
  modified: Revision;
  /** Revision that created the key's current generation. */
  created: Revision;
  /** Version number of that version (1 = the creating put). */
  version: bigint;
}

export class KeyIndex {
  /**
   * The key as a latin1 string (one char per byte): the same string the TreeIndex orders by, so a
   * key costs one string and no Buffer. A Buffer per key would also pin the 8 KiB allocation slab
   * it was cut from (shared with short-lived request buffers): 300,000 keys held 140 MiB that way.
   */
  readonly ks: string;
  modified: Revision = { main: 0n, sub: 0n };
  // Arrays here are allocated at their exact length ([x], not [] then push: V8 grows an empty
  // array to 17 slots on its first push), which is most of the index's memory for keys written once.
  generations: Generation[] = [];

  constructor(key: Buffer | string) {
    this.ks = typeof key === 'string' ? key : key.toString('latin1');
  }

  /** The key's bytes (a fresh Buffer each call). */
  get key(): Buffer {
    return Buffer.from(this.ks, 'latin1');
  }

  /** Records a put at (main, sub). */
  put(main: bigint, sub: bigint): void {
    const r = { main, sub };
    if (!revGreaterThan(r, this.modified)) {
      throw new Error(`mvcc: put with unexpected smaller revision ${main}.${sub} <= ${this.modified.main}.${this.modified.sub}`);
    }
    if (this.generations.length === 0) this.generations = [new Generation()];
    const g = this.generations[this.generations.length - 1];
    if (g.isEmpty()) {
      g.created = r;
      g.revs = [r];
    } else {
      g.revs.push(r);
    }
    g.ver++;
    this.modified = r;
  }

  /**
   * Seeds an empty index from the first entry of the key found on disk: the
   * generation was created at `created`, its newest revision is `modified`
   * and it has `ver` versions.
   */
  restore(created: Revision, modified: Revision, ver: bigint): void {
    if (this.generations.length !== 0) throw new Error('mvcc: cannot restore a non-empty keyIndex');
    this.modified = modified;
    const g = new Generation();
    g.created = created;
    g.ver = ver;
    g.revs = [modified];
    this.generations = [g];
  }

  /** Records a deletion at (main, sub) and opens a new empty generation. */
  tombstone(main: bigint, sub: bigint): void {
    if (this.isEmpty()) throw new Error(`mvcc: unexpected tombstone on empty keyIndex ${this.key.toString()}`);
    if (this.generations[this.generations.length - 1].isEmpty()) throw new RevisionNotFoundError();
    this.put(main, sub);
    this.generations = [...this.generations, new Generation()];
  }

  /** The version of the key visible at atRev, or undefined if it did not exist then. */
  get(atRev: bigint): KeyAt | undefined {
    if (this.isEmpty()) throw new Error(`mvcc: unexpected get on empty keyIndex ${this.key.toString()}`);
    const g = this.findGeneration(atRev);
    if (g === undefined || g.isEmpty()) return undefined;
    const n = g.latestAtOrBefore(atRev);
    if (n === -1) return undefined;
    return { modified: g.revs[n], created: g.created, version: g.ver - BigInt(g.revs.length - n - 1) };
  }

  /**
   * Revisions at or after `since` (main), oldest first; of several changes of
   * this key in the same main revision only the last is returned.
   */
  since(since: bigint): Revision[] {
    if (this.isEmpty()) throw new Error(`mvcc: unexpected since on empty keyIndex ${this.key.toString()}`);
    const sinceRev = { main: since, sub: 0n };
    // start at the newest generation created before `since`
    let gi = this.generations.length - 1;
    for (; gi > 0; gi--) {
      const g = this.generations[gi];
      if (g.isEmpty()) continue;
      if (revGreaterThan(sinceRev, g.created)) break;
    }
    const out: Revision[] = [];
    let last = 0n;
    for (; gi < this.generations.length; gi++) {
      for (const r of this.generations[gi].revs) {
        if (revGreaterThan(sinceRev, r)) continue;
        if (r.main === last) {
          out[out.length - 1] = r;
          continue;
        }
        out.push(r);
        last = r.main;
      }
    }
    return out;
  }

  /**
   * Compacts at atRev: removes revisions <= atRev except the newest one, and
   * that one too when it is a tombstone. Revisions that survive and are
   * <= atRev are added to `keep` (by `revKey`).
   */
  compact(atRev: bigint, keep: Set<string>): void {
    if (this.isEmpty()) throw new Error(`mvcc: unexpected compact on empty keyIndex ${this.key.toString()}`);
    let { genIdx, revIdx } = this.locateCompaction(atRev, keep);
    const g = this.generations[genIdx];
    if (!g.isEmpty()) {
      if (revIdx !== -1) g.revs = g.revs.slice(revIdx);
      // a generation reduced to its tombstone is over: drop it entirely
      if (g.revs.length === 1 && genIdx !== this.generations.length - 1) {
        keep.delete(revKey(g.revs[0]));
        genIdx++;
      }
    }
    if (genIdx > 0) this.generations = this.generations.slice(genIdx);
  }

  /** Adds to `keep` the revisions a compaction at atRev would keep, changing nothing. */
  keep(atRev: bigint, keep: Set<string>): void {
    if (this.isEmpty()) return;
    const { genIdx, revIdx } = this.locateCompaction(atRev, keep);
    const g = this.generations[genIdx];
    if (!g.isEmpty() && revIdx === g.revs.length - 1 && genIdx !== this.generations.length - 1) {
      keep.delete(revKey(g.revs[revIdx]));
    }
  }

  /**
   * Finds the first generation that is still alive after atRev (its tombstone,
   * if any, is newer than atRev; the last generation otherwise), and in it the
   * newest revision <= atRev, which is added to `keep`.
   */
  private locateCompaction(atRev: bigint, keep: Set<string>): { genIdx: number; revIdx: number } {
    let genIdx = 0;
    while (genIdx < this.generations.length - 1) {
      const g = this.generations[genIdx];
      if (g.revs[g.revs.length - 1].main > atRev) break;
      genIdx++;
    }
    const g = this.generations[genIdx];
    const revIdx = g.latestAtOrBefore(atRev);
    if (revIdx !== -1) keep.add(revKey(g.revs[revIdx]));
    return { genIdx, revIdx };
  }

  /** True when the only generation left is the empty live one. */
  isEmpty(): boolean {
    return this.generations.length === 1 && this.generations[0].isEmpty();
  }

  /**
   * The generation that holds the key's state at `rev`, or undefined when the
   * key was deleted at or before `rev` (in a gap between generations) or was
   * not yet created.
   */
  findGeneration(rev: bigint): Generation | undefined {
    const last = this.generations.length - 1;
    for (let i = last; i >= 0; i--) {
      const g = this.generations[i];
      if (g.revs.length === 0) continue;
      if (i !== last && g.revs[g.revs.length - 1].main <= rev) return undefined;
      if (g.revs[0].main <= rev) return g;
    }
    return undefined;
  }

  equals(o: KeyIndex): boolean {
    if (!this.key.equals(o.key) || compareRev(this.modified, o.modified) !== 0) return false;
    if (this.generations.length !== o.generations.length) return false;
    for (let i = 0; i < this.generations.length; i++) {
      const a = this.generations[i];
      const b = o.generations[i];
      if (a.ver !== b.ver || a.revs.length !== b.revs.length) return false;
      for (let j = 0; j < a.revs.length; j++) if (compareRev(a.revs[j], b.revs[j]) !== 0) return false;
    }
    return true;
  }
}

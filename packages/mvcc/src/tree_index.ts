/**
 * The in-memory index: key -> KeyIndex, ordered by key bytes.
 *
 * Keys are stored in the B-tree as latin1 strings of their bytes: latin1 maps
 * each byte to one UTF-16 code unit of the same value, so JS string order is
 * byte order (shorter prefix first), exactly like bytes.Compare.
 *
 * Range convention (after the caller normalised it):
 * - end === undefined: the single key `key`;
 * - end.length === 0: every key >= key;
 * - otherwise: keys in [key, end).
 */
import { BTree } from './btree.js';
import { KeyIndex, type KeyAt } from './key_index.js';
import { type Revision, compareRev } from './revision.js';

export function keyString(key: Buffer): string {
  return key.toString('latin1');
}

export class TreeIndex {
  private tree = new BTree<string, KeyIndex>();

  get size(): number {
    return this.tree.size;
  }

  /** Records a put of `key` at `r`, creating the key's index on first sight. */
  put(key: Buffer, r: Revision): void {
    const ks = keyString(key);
    let ki = this.tree.get(ks);
    if (ki === undefined) {
      ki = new KeyIndex(ks);
      this.tree.set(ks, ki);
    }
    ki.put(r.main, r.sub);
  }

  /** Records a deletion at `r` of a key index found in this tree (by visit or liveAt); false if the key is not alive. */
  tombstoneIndex(ki: KeyIndex, r: Revision): boolean {
    const last = ki.generations[ki.generations.length - 1];
    if (last === undefined || last.isEmpty()) return false;
    ki.tombstone(r.main, r.sub);
    return true;
  }

  /** The key's version visible at atRev. One tree lookup. */
  get(key: Buffer, atRev: bigint): KeyAt | undefined {
    const ki = this.tree.get(keyString(key));
    return ki === undefined ? undefined : ki.get(atRev);
  }

  /** keyIndex by the key's latin1 string (keyString). */
  keyIndexByString(ks: string): KeyIndex | undefined {
    return this.tree.get(ks);
  }

  insert(ki: KeyIndex): void {
    this.tree.set(ki.ks, ki);
  }

  /** Calls f for every key index in the range, in key order; stop by returning false. */
  visit(key: Buffer, end: Buffer | undefined, f: (ki: KeyIndex) => boolean | void): void {
    if (end === undefined) {
      const ki = this.tree.get(keyString(key));
      if (ki !== undefined) f(ki);
      return;
    }
    const lo = keyString(key);
    const hi = end.length === 0 ? undefined : keyString(end);
    if (hi !== undefined && hi <= lo) return;
    for (const [k, ki] of this.tree.entries(lo)) {
      if (hi !== undefined && k >= hi) break;
      if (f(ki) === false) break;
    }
  }

  /** Revisions of the keys alive at atRev within the range, in key order. */
  revisions(key: Buffer, end: Buffer | undefined, atRev: bigint): Revision[] {
    const out: Revision[] = [];
    this.visit(key, end, (ki) => {
      const at = ki.get(atRev);
      if (at !== undefined) out.push(at.modified);
    });
    return out;
  }

  /** Key indexes of the keys alive at atRev within the range, in key order. */
  liveAt(key: Buffer, end: Buffer | undefined, atRev: bigint): KeyIndex[] {
    const out: KeyIndex[] = [];
    this.visit(key, end, (ki) => {
      if (ki.get(atRev) !== undefined) out.push(ki);
    });
    return out;
  }

  /** Number of keys alive at atRev within the range. */
  count(key: Buffer, end: Buffer | undefined, atRev: bigint): number {
    let n = 0;
    this.visit(key, end, (ki) => {
      if (ki.get(atRev) !== undefined) n++;
    });
    return n;
  }

  /** All revisions since `since` (main) of the keys in the range, in revision order. */
  rangeSince(key: Buffer, end: Buffer | undefined, since: bigint): Revision[] {
    const out: Revision[] = [];
    this.visit(key, end, (ki) => {
      for (const r of ki.since(since)) out.push(r);
    });
    if (end !== undefined) out.sort(compareRev);
    return out;
  }

  /**
   * Compacts every key at `rev` and removes keys left without history.
   * Returns the revisions (as revKey strings) <= rev that must be kept on disk.
   */
  compact(rev: bigint): Set<string> {
    const keep = new Set<string>();
    const emptied: string[] = [];
    this.tree.forEachPair((k, ki) => {
      ki.compact(rev, keep);
      if (ki.isEmpty()) emptied.push(k);
    });
    for (const k of emptied) this.tree.delete(k);
    return keep;
  }

  /** The revisions a compaction at `rev` would keep, without compacting. */
  keep(rev: bigint): Set<string> {
    const keep = new Set<string>();
    this.tree.forEachPair((_k, ki) => {
      ki.keep(rev, keep);
    });
    return keep;
  }

  equals(o: TreeIndex): boolean {
    if (this.tree.size !== o.tree.size) return false;
    for (const [k, ki] of this.tree.entries()) {
      const other = o.tree.get(k);
      if (other === undefined || !ki.equals(other)) return false;
    }
    return true;
  }
}

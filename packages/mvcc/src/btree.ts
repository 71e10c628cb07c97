/**
 * sorted-btree is a CommonJS package whose class is its `exports.default`;
 * from ESM (NodeNext) the default import is the whole `module.exports`.
 * This module hides that interop detail.
 */
import sortedBtree from 'sorted-btree';

type BTreeCtor = typeof sortedBtree.default;
export const BTree: BTreeCtor = (sortedBtree as unknown as { default?: BTreeCtor }).default ?? (sortedBtree as unknown as BTreeCtor);
export type BTree<K, V> = InstanceType<typeof sortedBtree.default<K, V>>;

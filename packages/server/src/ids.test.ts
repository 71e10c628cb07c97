import { describe, expect, it } from 'vitest';
import { computeClusterId, computeMemberId, idHex } from './ids.js';

describe('ids', () => {
  // Figures from a real etcd 3.4 started with --name default and no other flags: its member
  // id is 8e9e05c52164694d and its cluster id cdf818194e3a8c32.
  it('derives etcd default member and cluster ids', () => {
    const m = computeMemberId(['http://localhost:2380'], 'etcd-cluster');
    expect(idHex(m)).toBe('8e9e05c52164694d');
    expect(idHex(computeClusterId([m]))).toBe('cdf818194e3a8c32');
  });
  it('ignores peer URL order', () => {
    expect(computeMemberId(['http://b:1', 'http://a:1'], 't')).toBe(computeMemberId(['http://a:1', 'http://b:1'], 't'));
  });
});

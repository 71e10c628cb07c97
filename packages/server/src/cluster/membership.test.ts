// Membership from applied conf changes: adds (voters, learners), promotion, URL updates,
// attributes, removal into the removed ids — and the same state restored from what was persisted.
import { raftpb } from '@kv/api';
import { describe, expect, it } from 'vitest';
import { decodeMember, encodeMember, Membership, type MembersBucket, type MemberRecord } from './membership.js';

class MapBucket implements MembersBucket {
  readonly data = { members: new Map<string, Buffer>(), membersRemoved: new Map<string, Buffer>() };
  put(bucket: 'members' | 'membersRemoved', key: Buffer, value: Buffer): void {
    this.data[bucket].set(key.toString(), value);
  }
  del(bucket: 'members' | 'membersRemoved', key: Buffer): void {
    this.data[bucket].delete(key.toString());
  }
}

const T = raftpb.ConfChangeType;
const rec = (id: bigint, peer: string, o: Partial<MemberRecord> = {}): MemberRecord => ({
  id,
  name: '',
  peerURLs: [peer],
  clientURLs: [],
  isLearner: false,
  ...o,
});
const cc = (type: raftpb.ConfChangeType, nodeId: bigint, m?: MemberRecord): raftpb.ConfChange => ({
  id: 0n,
  type,
  nodeId,
  context: m ? encodeMember(m) : Buffer.alloc(0),
});

describe('Membership', () => {
  it('keeps a uint64 id exact through etcd’s member JSON', () => {
    const m = rec(0xfedc_ba98_7654_3210n, 'http://127.0.0.1:2380', { name: 'a', clientURLs: ['http://127.0.0.1:2379'] });
    expect(decodeMember(encodeMember(m))).toEqual(m);
  });

  it('writes the bytes of Go’s json.Marshal of etcd’s Member (field order, omitempty, escapes)', () => {
    const full = rec(2n, 'http://127.0.0.1:2380', { name: 'a<&>', clientURLs: ['http://127.0.0.1:2379'], isLearner: true });
    expect(encodeMember(full).toString()).toBe(
      '{"id":2,"peerURLs":["http://127.0.0.1:2380"],"isLearner":true,"name":"a\\u003c\\u0026\\u003e","clientURLs":["http://127.0.0.1:2379"]}',
    );
    // What etcd 3.4 wrote in its members bucket (testdata/etcd-3.4.snapshot.db).
    const etcd = rec(13668033151171901709n, 'http://127.0.0.1:23801', { name: 's1', clientURLs: ['http://127.0.0.1:23791'] });
    expect(encodeMember(etcd).toString()).toBe(
      '{"id":13668033151171901709,"peerURLs":["http://127.0.0.1:23801"],"name":"s1","clientURLs":["http://127.0.0.1:23791"]}',
    );
    expect(encodeMember(rec(3n, 'http://x:1')).toString()).toBe('{"id":3,"peerURLs":["http://x:1"]}');
    expect(decodeMember(encodeMember(full))).toEqual(full);
  });

  it('applies adds, a learner’s promotion, URL updates, attributes and removals', () => {
    const ms = new Membership();
    const bucket = new MapBucket();
    ms.applyConfChange(cc(T.ConfChangeAddNode, 1n, rec(1n, 'http://127.0.0.1:1', { name: 'one' })), bucket);
    ms.applyConfChange(cc(T.ConfChangeAddLearnerNode, 2n, rec(2n, 'http://127.0.0.1:2', { isLearner: true })), bucket);
    expect(ms.list().map((m) => [m.id, m.name, m.isLearner])).toEqual([
      [1n, 'one', false],
      [2n, '', true],
    ]);
    ms.setAttributes(2n, 'two', ['http://127.0.0.1:12'], bucket);
    // Promotion: an add of an existing learner keeps its name and client URLs.
    ms.applyConfChange(cc(T.ConfChangeAddNode, 2n, rec(2n, 'http://127.0.0.1:2')), bucket);
    expect(ms.get(2n)).toEqual(rec(2n, 'http://127.0.0.1:2', { name: 'two', clientURLs: ['http://127.0.0.1:12'] }));
    ms.applyConfChange(cc(T.ConfChangeUpdateNode, 2n, rec(2n, 'http://127.0.0.1:22')), bucket);
    expect(ms.get(2n)?.peerURLs).toEqual(['http://127.0.0.1:22']);
    // Updates and attributes of an unknown member change nothing.
    ms.applyConfChange(cc(T.ConfChangeUpdateNode, 9n, rec(9n, 'http://127.0.0.1:9')), bucket);
    ms.setAttributes(9n, 'nine', [], bucket);
    expect(ms.get(9n)).toBeUndefined();
    ms.applyConfChange(cc(T.ConfChangeRemoveNode, 1n), bucket);
    expect(ms.get(1n)).toBeUndefined();
    expect(ms.isRemoved(1n)).toBe(true);
    expect(ms.isRemoved(2n)).toBe(false);

    // What was persisted restores the same membership (a restart).
    const again = new Membership();
    again.restore(
      bucket.data.members.values(),
      [...bucket.data.membersRemoved.keys()].map((k) => Buffer.from(k)),
    );
    expect(again.list()).toEqual(ms.list());
    expect(again.isRemoved(1n)).toBe(true);
  });
});

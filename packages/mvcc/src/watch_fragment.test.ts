import { describe, expect, it } from 'vitest';
import { etcdserverpb, mvccpb } from '@kv/api';
import { fragmentResponse } from './watch_fragment.js';

const size = (r: etcdserverpb.WatchResponse) => etcdserverpb.WatchResponse.encode(r).finish().length;

function ev(i: number, valueBytes: number): mvccpb.Event {
  return mvccpb.Event.fromPartial({
    type: mvccpb.Event_EventType.PUT,
    kv: { key: Buffer.from(`key-${i}`), value: Buffer.alloc(valueBytes, 97), createRevision: 2n, modRevision: BigInt(2 + i), version: 1n },
  });
}

function resp(events: mvccpb.Event[]): etcdserverpb.WatchResponse {
  return etcdserverpb.WatchResponse.fromPartial({
    header: { clusterId: 1n, memberId: 2n, revision: 99n, raftTerm: 3n },
    watchId: 7n,
    events,
  });
}

/** etcd's sendFragments loop, re-encoding every candidate (the reference for the fast version). */
function naive(wr: etcdserverpb.WatchResponse, max: number): etcdserverpb.WatchResponse[] {
  if (size(wr) < max || wr.events.length < 2) return [wr];
  const out: etcdserverpb.WatchResponse[] = [];
  let idx = 0;
  for (;;) {
    const cur = { ...wr, events: [] as mvccpb.Event[], fragment: true };
    for (const e of wr.events.slice(idx)) {
      cur.events.push(e);
      if (cur.events.length > 1 && size(cur) >= max) {
        cur.events.pop();
        break;
      }
      idx++;
    }
    if (idx === wr.events.length) cur.fragment = false;
    out.push(cur);
    if (!cur.fragment) return out;
  }
}

describe('fragmentResponse', () => {
  it('leaves small responses and single events alone', () => {
    const small = resp([ev(1, 10), ev(2, 10)]);
    expect(fragmentResponse(small, 1024)).toEqual([small]);
    const one = resp([ev(1, 5000)]);
    expect(fragmentResponse(one, 100)).toEqual([one]);
    const none = resp([]);
    expect(fragmentResponse(none, 1)).toEqual([none]);
  });

  it('splits in order, each part under the limit, fragment set on all but the last', () => {
    const r = resp(Array.from({ length: 40 }, (_, i) => ev(i, 100 + i * 7)));
    const max = 1000;
    const parts = fragmentResponse(r, max);
    expect(parts.length).toBeGreaterThan(3);
    expect(parts.flatMap((p) => p.events)).toEqual(r.events);
    parts.forEach((p, i) => {
      expect(p.fragment).toBe(i < parts.length - 1);
      expect(p.watchId).toBe(7n);
      expect(p.header).toEqual(r.header);
      expect(size({ ...p, fragment: true })).toBeLessThan(max);
    });
    expect(parts).toEqual(naive(r, max));
  });

  it('an oversized event travels alone', () => {
    const r = resp([ev(0, 10), ev(1, 5000), ev(2, 10), ev(3, 10)]);
    const parts = fragmentResponse(r, 1000);
    expect(parts.map((p) => p.events.length)).toEqual([1, 1, 2]);
    expect(parts).toEqual(naive(r, 1000));
  });

  it('matches etcd’s loop on many sizes (incl. multi-byte length prefixes)', () => {
    for (const max of [50, 200, 300, 1000, 20_000]) {
      for (const n of [2, 3, 17]) {
        const r = resp(Array.from({ length: n }, (_, i) => ev(i, (i * 131) % 400)));
        expect(fragmentResponse(r, max)).toEqual(naive(r, max));
      }
    }
  });
});

import { describe, expect, it } from 'vitest';
import type { RevisionEvents, WatchEvent, WatchResponse, WatchStream } from './history.js';
import { History } from './history.js';
import { checkWatch } from './watch.js';

// The truth: rev 2 put a=1 (create), rev 3 txn put a=2 + put b=1, rev 4 delete a, rev 5 put a=3.
const put = (key: string, value: string, mod: number, create: number, version: number): WatchEvent => ({
  type: 'put',
  kv: { key, value, modRevision: mod, createRevision: create, version },
});
const del = (key: string, mod: number): WatchEvent => ({
  type: 'delete',
  kv: { key, value: null, modRevision: mod, createRevision: 0, version: 0 },
});
const revisions: RevisionEvents[] = [
  { revision: 2, events: [put('a', '1', 2, 2, 1)] },
  { revision: 3, events: [put('a', '2', 3, 2, 2), put('b', '1', 3, 3, 1)] },
  { revision: 4, events: [del('a', 4)] },
  { revision: 5, events: [put('a', '3', 5, 5, 1)] },
];
const ev = (rev: number, key: string): WatchEvent => revisions.find((r) => r.revision === rev)!.events.find((e) => e.kv.key === key)!;
const resp = (events: WatchEvent[], extra: Partial<WatchResponse> = {}): WatchResponse => ({ time: 0, revision: 5, events, ...extra });
const all = (responses: WatchResponse[], extra: Partial<WatchStream['request']> = {}): WatchStream => ({
  watcher: 1,
  openedAt: 0,
  request: { key: 'a', rangeEnd: '\0', startRevision: 2, ...extra },
  responses,
});
const types = (streams: WatchStream[]): string[] => checkWatch({ revisions, lastRevision: 5, streams }).anomalies.map((a) => a.type);
const good = [resp([ev(2, 'a')]), resp([ev(3, 'a'), ev(3, 'b')]), resp([ev(4, 'a')]), resp([ev(5, 'a')])];

describe('checkWatch', () => {
  it('passes complete, ordered streams (also resumed from a later revision, with a bookmark)', () => {
    const resumed: WatchStream = {
      ...all([resp([ev(4, 'a')]), resp([], { progressNotify: true, revision: 4 }), resp([ev(5, 'a')])]),
      watcher: 2,
    };
    resumed.request = { key: 'a', startRevision: 4 };
    expect(checkWatch({ revisions, lastRevision: 5, streams: [all(good), resumed] }).anomalies).toEqual([]);
  });
  it('finds a gap (reliable), a duplicate (unique), disorder (ordered), a split revision (atomic)', () => {
    expect(types([all([good[0]!, good[1]!, good[3]!])])).toContain('reliable');
    expect(types([all([...good.slice(0, 3), good[2]!, good[3]!])])).toContain('unique');
    expect(types([all([good[0]!, good[2]!, good[1]!, good[3]!])])).toContain('ordered');
    expect(types([all([good[0]!, resp([ev(3, 'a')]), resp([ev(3, 'b')]), good[2]!, good[3]!])])).toContain('atomic');
  });
  it('finds a late start (resumable), an event after its bookmark, one outside the filter', () => {
    expect(types([all([good[1]!, good[2]!, good[3]!])])).toContain('resumable');
    expect(types([all([good[0]!, good[1]!, resp([], { progressNotify: true, revision: 4 }), good[2]!, good[3]!])])).toContain(
      'bookmarkable',
    );
    expect(
      types([
        all([good[0]!, resp([ev(3, 'a')]), good[2]!, good[3]!], { rangeEnd: undefined }),
        all([good[0]!, good[1]!, good[2]!, good[3]!], { rangeEnd: undefined }),
      ]),
    ).toContain('filter');
    expect(types([all([good[0]!, good[1]!, good[3]!], { filters: ['nodelete'] })])).toEqual([]);
  });
  it('checks is-create and prev-kv against the replayed history', () => {
    const wrongCreate: WatchEvent = { type: 'put', kv: { ...ev(5, 'a').kv, createRevision: 2, version: 2 } };
    expect(types([all([good[0]!, good[1]!, good[2]!, resp([wrongCreate])])])).toEqual(expect.arrayContaining(['is-create']));
    const withPrev = (e: WatchEvent, prevKv?: WatchEvent['kv']): WatchEvent => (prevKv ? { ...e, prevKv } : { ...e });
    const okPrev = [
      resp([withPrev(ev(2, 'a'))]),
      resp([withPrev(ev(3, 'a'), ev(2, 'a').kv), withPrev(ev(3, 'b'))]),
      resp([withPrev(ev(4, 'a'), ev(3, 'a').kv)]),
      resp([withPrev(ev(5, 'a'))]),
    ];
    expect(types([all(okPrev, { prevKv: true })])).toEqual([]);
    const badPrev = [...okPrev];
    badPrev[2] = resp([withPrev(ev(4, 'a'), ev(2, 'a').kv)]);
    expect(types([all(badPrev, { prevKv: true })])).toContain('prev-kv');
  });
  it('finds an acknowledged write missing from the history and a history gap', () => {
    let now = 0;
    const h = new History(() => now++);
    h.ok(h.invoke(1, 'write', { key: 'a', value: '2' }), { revision: 3 });
    h.ok(h.invoke(1, 'write', { key: 'a', value: '9' }), { revision: 5 });
    const res = checkWatch({ revisions, lastRevision: 5, streams: [], history: h.events });
    expect(res.anomalies.map((a) => a.type)).toEqual(['ack-not-in-history']);
    expect(
      checkWatch({ revisions: revisions.filter((r) => r.revision !== 3), lastRevision: 5, streams: [] }).anomalies.map((a) => a.type),
    ).toEqual(['truth-gap']);
  });
});

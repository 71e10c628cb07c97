import { describe, expect, it } from 'vitest';
import { WatcherGroup, isFromKeyEnd, targetContains, type WatchTarget } from './watcher_group.js';
import { prng } from './testdata/watch_mem_source.js';

const b = (s: string) => Buffer.from(s, 'latin1');
const t = (key: string, end?: string): WatchTarget => ({ key: b(key), end: end === undefined ? undefined : b(end) });

describe('WatcherGroup', () => {
  it('matches single keys, ranges and from-key by byte order', () => {
    const single = t('ab');
    const range = t('b', 'd');
    const fromKey = t('c', '\0');
    const highBytes = t('\x7f', '\xff');
    const g = new WatcherGroup([single, range, fromKey, highBytes]);
    expect(g.size).toBe(4);
    expect(g.match(b('ab'))).toEqual([single]);
    expect(g.match(b('a'))).toEqual([]);
    expect(g.match(b('b'))).toEqual([range]);
    expect(new Set(g.match(b('c')))).toEqual(new Set([range, fromKey]));
    expect(g.match(b('d'))).toEqual([fromKey, highBytes].filter((w) => targetContains(w, b('d'))));
    expect(new Set(g.match(b('\x80')))).toEqual(new Set([fromKey, highBytes]));
    expect(g.match(b('\xff'))).toEqual([fromKey]); // end is exclusive
    expect(g.contains(b('a'))).toBe(false);
    expect(g.contains(b('zz'))).toBe(true);
  });

  it('keeps watchers with identical targets apart and deletes exactly', () => {
    const a1 = t('a', 'b');
    const a2 = t('a', 'b');
    const k1 = t('k');
    const k2 = t('k');
    const g = new WatcherGroup<WatchTarget>();
    for (const w of [a1, a2, k1, k2]) g.add(w);
    expect(() => g.add(a1)).toThrow();
    expect(g.match(b('a')).length).toBe(2);
    expect(g.delete(a1)).toBe(true);
    expect(g.delete(a1)).toBe(false);
    expect(g.match(b('a'))).toEqual([a2]);
    expect(g.delete(k2)).toBe(true);
    expect(g.match(b('k'))).toEqual([k1]);
    g.delete(a2);
    g.delete(k1);
    expect(g.size).toBe(0);
    expect(g.contains(b('a'))).toBe(false);
    expect([...g]).toEqual([]);
  });

  it('agrees with a brute-force check on random targets (seeded)', () => {
    const rnd = prng(7);
    const key = () => Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => Math.floor(rnd() * 4) * 64 + 1));
    const ws: WatchTarget[] = [];
    const g = new WatcherGroup<WatchTarget>();
    for (let i = 0; i < 300; i++) {
      const k = key();
      const x = rnd();
      const w: WatchTarget =
        x < 0.4 ? { key: k, end: undefined } : x < 0.6 ? { key: k, end: Buffer.from([0]) } : { key: k, end: Buffer.concat([k, key()]) };
      ws.push(w);
      g.add(w);
      if (rnd() < 0.2) {
        const victim = ws.splice(Math.floor(rnd() * ws.length), 1)[0];
        g.delete(victim);
      }
      const probe = key();
      expect(new Set(g.match(probe))).toEqual(new Set(ws.filter((w2) => targetContains(w2, probe))));
    }
  });

  it('isFromKeyEnd', () => {
    expect(isFromKeyEnd(b('\0'))).toBe(true);
    expect(isFromKeyEnd(b('\0\0'))).toBe(false);
    expect(isFromKeyEnd(undefined)).toBe(false);
  });
});

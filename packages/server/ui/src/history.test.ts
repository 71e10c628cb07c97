// The history walk against a real member through its JSON gateway (the page's own Api class,
// run in node): versions back to the creation, the bound, compaction, and a key recreated
// after a delete (its history starts again at version 1).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startMember, type EmbeddedMember } from '../../src/embed.js';
import { Api, type KeyValue } from './api.js';
import { showB64, strToB64 } from './bytes.js';
import { walkHistory, type RangeAt } from './history.js';

let m: EmbeddedMember;
let api: Api;
const rangeAt: RangeAt = (key, revision) => api.range({ key, revision });
const put = (k: string, v: string) => api.post('/v3/kv/put', { key: strToB64(k), value: strToB64(v) });
const current = async (k: string): Promise<KeyValue> => (await api.range({ key: strToB64(k) })).kvs![0]!;
const values = (vs: KeyValue[]) => vs.map((v) => showB64(v.value).text);

beforeAll(async () => {
  m = await startMember({ name: 'hist' });
  await m.ready;
  api = new Api(m.clientUrls[0]!);
}, 60_000);
afterAll(async () => {
  await m?.stop();
});

describe('revision history over the gateway', () => {
  it('walks back to version 1', async () => {
    for (const v of ['one', 'two', 'three']) await put('h/a', v);
    await put('h/other', 'x'); // another key's revisions in between change nothing
    await put('h/a', 'four');
    const h = await walkHistory(rangeAt, await current('h/a'));
    expect(h.end).toBe('created');
    expect(values(h.versions)).toEqual(['four', 'three', 'two', 'one']);
    expect(h.versions.map((v) => v.version)).toEqual(['4', '3', '2', '1']);
  });
  it('stops at the bound', async () => {
    for (let i = 0; i < 8; i++) await put('h/b', `v${i}`);
    const h = await walkHistory(rangeAt, await current('h/b'), 5);
    expect(h.end).toBe('bound');
    expect(values(h.versions)).toEqual(['v7', 'v6', 'v5', 'v4', 'v3']);
  });
  it('restarts at a recreated key', async () => {
    await put('h/c', 'old1');
    await put('h/c', 'old2');
    await api.post('/v3/kv/deleterange', { key: strToB64('h/c') });
    await put('h/c', 'new1');
    await put('h/c', 'new2');
    const h = await walkHistory(rangeAt, await current('h/c'));
    expect(h.end).toBe('created');
    expect(values(h.versions)).toEqual(['new2', 'new1']);
  });
  it('says compacted when the older revisions are gone', async () => {
    await put('h/d', 'd1');
    await put('h/d', 'd2');
    const mid = (await api.post<{ header: { revision: string } }>('/v3/kv/put', { key: strToB64('h/d'), value: strToB64('d3') })).header
      .revision;
    await put('h/d', 'd4');
    await api.post('/v3/kv/compaction', { revision: mid, physical: true });
    const h = await walkHistory(rangeAt, await current('h/d'));
    expect(h.end).toBe('compacted');
    expect(values(h.versions)).toEqual(['d4', 'd3']);
  });
});

// The key browser: a prefix listing (keys only, `limit` at a time, the next page from the key
// after the last one shown), a key's value and metadata, and its revision history (history.ts).
import type { Api, KeyValue } from './api.js';
import { b64ToBytes, bytesToB64, keyAfter, prefixRangeEnd, showB64, utf8ToBytes } from './bytes.js';
import { el, errorText, fill } from './dom.js';
import { walkHistory } from './history.js';

/** Versions of a key read back at most (each is one Range). */
export const historyBound = 20;

function shown(b64: string | undefined, cls: string): HTMLElement {
  const s = showB64(b64);
  return el('span', { class: `${cls} ${s.kind}`, title: s.kind }, s.kind === 'text' ? s.text : `${s.kind}: ${s.text}`);
}

export class KeysPane {
  readonly root = el('section', { id: 'keys', class: 'pane' });
  private readonly prefix = el('input', {
    id: 'prefix',
    type: 'text',
    placeholder: 'key prefix (empty: all keys)',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  private readonly limit = el('input', { id: 'limit', type: 'number', min: '1', max: '1000', value: '50' });
  private readonly list = el('ol', { class: 'keylist' });
  private readonly more = el('button', { id: 'next-page', type: 'button', hidden: '' }, 'Next page');
  private readonly info = el('p', { class: 'summary' });
  private readonly detail = el('div', { class: 'detail' });
  private readonly err = el('p', { class: 'error', role: 'alert' });
  /** Where the next page starts (base64), or undefined when the listing is complete. */
  private nextFrom: string | undefined;
  private shownCount = 0;

  constructor(private readonly api: Api) {
    const form = el(
      'form',
      { class: 'row' },
      el('label', {}, 'Prefix ', this.prefix),
      el('label', {}, 'Page size ', this.limit),
      el('button', { type: 'submit' }, 'List'),
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.listFrom(undefined);
    });
    this.more.addEventListener('click', () => void this.listFrom(this.nextFrom));
    this.root.append(
      el('h2', {}, 'Keys'),
      form,
      this.err,
      el('div', { class: 'split' }, el('div', { class: 'listing' }, this.info, this.list, this.more), this.detail),
    );
  }

  /** Lists a page of the prefix from `from` (base64; undefined: the prefix itself, a fresh listing). */
  async listFrom(from: string | undefined): Promise<void> {
    const prefix = utf8ToBytes(this.prefix.value);
    const limit = Math.max(1, Math.min(1000, Number(this.limit.value) || 50));
    try {
      const r = await this.api.range({
        key: from ?? bytesToB64(prefix.length === 0 ? new Uint8Array([0]) : prefix),
        range_end: bytesToB64(prefixRangeEnd(prefix)),
        limit: String(limit),
        keys_only: true,
      });
      this.err.textContent = '';
      if (from === undefined) {
        this.list.replaceChildren();
        this.shownCount = 0;
      }
      const kvs = r.kvs ?? [];
      for (const kv of kvs) {
        const b = el('button', { type: 'button', class: 'key' }, shown(kv.key, 'k'));
        b.addEventListener('click', () => void this.select(kv.key ?? ''));
        this.list.append(el('li', {}, b));
      }
      this.shownCount += kvs.length;
      const last = kvs[kvs.length - 1]?.key;
      this.nextFrom = r.more && last !== undefined ? bytesToB64(keyAfter(b64ToBytes(last))) : undefined;
      this.more.hidden = this.nextFrom === undefined;
      this.info.textContent = `${this.shownCount} key${this.shownCount === 1 ? '' : 's'} shown${r.more ? ', more to list' : ''} · at revision ${r.header?.revision ?? '—'}`;
    } catch (err) {
      this.err.textContent = errorText(err);
    }
  }

  /** Shows one key (base64): value, metadata, then its history as it is read back. */
  async select(key: string): Promise<void> {
    try {
      const r = await this.api.range({ key });
      const kv = r.kvs?.[0];
      if (!kv) {
        fill(this.detail, el('p', {}, 'The key no longer exists (deleted since the listing).'));
        return;
      }
      const histBox = el('div', { class: 'history' }, 'Reading history…');
      fill(
        this.detail,
        el('h3', {}, shown(kv.key, 'k')),
        this.meta(kv),
        el('h4', {}, 'Value'),
        el('pre', { class: 'value' }, shown(kv.value, 'v')),
        el('h4', {}, 'History'),
        histBox,
      );
      const h = await walkHistory((k, rev) => this.api.range({ key: k, revision: rev }), kv, historyBound);
      const rows = h.versions.map((v) =>
        el(
          'tr',
          {},
          el('td', {}, v.version ?? '—'),
          el('td', {}, v.mod_revision ?? '—'),
          el('td', {}, v.lease && v.lease !== '0' ? v.lease : '—'),
          el('td', {}, shown(v.value, 'v')),
        ),
      );
      const end =
        h.end === 'created'
          ? 'Back to version 1 (created).'
          : h.end === 'compacted'
            ? 'compacted: older revisions have been compacted away.'
            : `Stopped after ${historyBound} versions.`;
      fill(
        histBox,
        el(
          'table',
          { class: 'hist' },
          el(
            'thead',
            {},
            el('tr', {}, el('th', {}, 'Version'), el('th', {}, 'Mod revision'), el('th', {}, 'Lease'), el('th', {}, 'Value')),
          ),
          el('tbody', {}, ...rows),
        ),
        el('p', { class: `end ${h.end}` }, end),
      );
    } catch (err) {
      this.err.textContent = errorText(err);
    }
  }

  private meta(kv: KeyValue): HTMLElement {
    const item = (k: string, v: string | undefined) => [el('dt', {}, k), el('dd', {}, v ?? '0')];
    return el(
      'dl',
      { class: 'meta' },
      ...item('create revision', kv.create_revision),
      ...item('mod revision', kv.mod_revision),
      ...item('version', kv.version),
      ...item('lease', kv.lease && kv.lease !== '0' ? `${kv.lease} (${BigInt(kv.lease).toString(16)})` : 'none'),
      ...item('value size', `${b64ToBytes(kv.value ?? '').length} bytes`),
    );
  }
}

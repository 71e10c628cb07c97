// The live watch pane: POST /v3/watch with one create_request as the body, read back as a
// stream (fetch + ReadableStream), one `{"result": WatchResponse}` line per message; events are
// shown as they arrive. Stop aborts the request, which cancels the watch on the member.
import type { Api, KeyValue } from './api.js';
import { bytesToB64, prefixRangeEnd, showB64, utf8ToBytes } from './bytes.js';
import { el, errorText } from './dom.js';
import { LineSplitter } from './ndjson.js';

/** Events kept on screen; older ones are dropped. */
export const maxEvents = 500;

interface WatchLine {
  result?: {
    created?: boolean;
    canceled?: boolean;
    cancel_reason?: string;
    compact_revision?: string;
    events?: { type?: string; kv?: KeyValue }[];
  };
  error?: { message?: string };
}

export class WatchPane {
  readonly root = el('section', { id: 'watch', class: 'pane' });
  private readonly key = el('input', {
    id: 'watch-key',
    type: 'text',
    placeholder: 'key or prefix',
    autocomplete: 'off',
    spellcheck: 'false',
  });
  private readonly isPrefix = el('input', { id: 'watch-prefix', type: 'checkbox', checked: '' });
  private readonly start = el('button', { id: 'watch-start', type: 'submit' }, 'Start');
  private readonly stop = el('button', { id: 'watch-stop', type: 'button', disabled: '' }, 'Stop');
  private readonly state = el('p', { class: 'summary', id: 'watch-state' }, 'Not watching.');
  private readonly events = el('tbody', { id: 'watch-events' });
  private abort: AbortController | undefined;

  constructor(private readonly api: Api) {
    const form = el(
      'form',
      { class: 'row' },
      el('label', {}, 'Key ', this.key),
      el('label', {}, this.isPrefix, ' prefix'),
      this.start,
      this.stop,
    );
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.run();
    });
    this.stop.addEventListener('click', () => this.halt('Stopped.'));
    const head = el('tr', {}, ...['Type', 'Key', 'Value', 'Mod revision', 'Version'].map((h) => el('th', {}, h)));
    this.root.append(el('h2', {}, 'Watch'), form, this.state, el('table', { class: 'events' }, el('thead', {}, head), this.events));
  }

  halt(why: string): void {
    this.abort?.abort();
    this.abort = undefined;
    this.start.disabled = false;
    this.stop.disabled = true;
    this.state.textContent = why;
  }

  private async run(): Promise<void> {
    this.halt('Starting…');
    const ac = new AbortController();
    this.abort = ac;
    this.start.disabled = true;
    this.stop.disabled = false;
    const k = utf8ToBytes(this.key.value);
    const create: Record<string, unknown> = { key: bytesToB64(k.length === 0 ? new Uint8Array([0]) : k) };
    if (this.isPrefix.checked || k.length === 0) create.range_end = bytesToB64(prefixRangeEnd(k));
    const what = `${this.isPrefix.checked || k.length === 0 ? 'prefix' : 'key'} ${JSON.stringify(this.key.value)}`;
    try {
      const res = await fetch(`${this.api.base}/v3/watch`, {
        method: 'POST',
        headers: this.api.headers(),
        body: JSON.stringify({ create_request: create }),
        signal: ac.signal,
      });
      if (!res.ok || !res.body) throw new Error(`watch answered HTTP ${res.status}`);
      const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
      const split = new LineSplitter();
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        for (const line of split.push(value)) this.onLine(JSON.parse(line) as WatchLine, what);
      }
      if (this.abort === ac) this.halt('The member ended the watch.');
    } catch (err) {
      if (ac.signal.aborted) return;
      if (this.abort === ac) this.halt(`Watch failed: ${errorText(err)}`);
    }
  }

  private onLine(line: WatchLine, what: string): void {
    if (line.error) {
      this.halt(`Watch failed: ${line.error.message ?? 'error'}`);
      return;
    }
    const r = line.result ?? {};
    if (r.created) this.state.textContent = `Watching ${what}: events appear below as they happen.`;
    if (r.canceled)
      this.halt(
        `The member canceled the watch${r.cancel_reason ? `: ${r.cancel_reason}` : ''}${r.compact_revision ? ` (compacted at ${r.compact_revision})` : ''}.`,
      );
    for (const ev of r.events ?? []) {
      const type = ev.type ?? 'PUT';
      const kv = ev.kv ?? {};
      const cell = (b64: string | undefined) => {
        const s = showB64(b64);
        return el('td', { class: s.kind }, s.kind === 'text' ? s.text : `${s.kind}: ${s.text}`);
      };
      const row = el(
        'tr',
        { class: type.toLowerCase() },
        el('td', {}, type),
        cell(kv.key),
        type === 'DELETE' ? el('td', {}, '') : cell(kv.value),
        el('td', {}, kv.mod_revision ?? '—'),
        el('td', {}, kv.version ?? '0'),
      );
      this.events.prepend(row);
      while (this.events.childElementCount > maxEvents) this.events.lastElementChild?.remove();
    }
  }
}

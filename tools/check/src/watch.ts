// etcd's watch guarantees, as its robustness tests check them (tests/robustness/validate/watch.go),
// over each client's watch stream against the truth: the events of every revision.
//   ordered       event revisions never go down along a stream
//   unique        an event (revision, key) is delivered at most once
//   atomic        all matching events of a revision come in one response
//   bookmarkable  after a progress notification at R, no event at or below R
//   resumable     a watch from revision S starts at the first matching event at or after S
//   reliable      no matching event is skipped up to the last revision the stream has seen
//   filter        only events of the watched key range and of the requested types
//   is-create     a put is a create (create revision = mod revision, version 1) iff the key was absent
//   prev-kv       with prev_kv, each event carries the key's previous state exactly
// Also: a delivered event equals the truth's event; every acknowledged write (an ok op with a
// revision) is in the truth at that revision; the truth has no revision gap.
import type {
  Anomaly,
  CheckResult,
  Op,
  RevisionEvents,
  WatchCheckInput,
  WatchEvent,
  WatchKv,
  WatchRequest,
  WatchStream,
} from './history.js';
import { pairOps, resultOf } from './pairs.js';

/** Does `key` fall in the watched range? */
export function inRange(req: Pick<WatchRequest, 'key' | 'rangeEnd'>, key: string): boolean {
  if (req.rangeEnd === undefined || req.rangeEnd === '') return key === req.key;
  if (req.rangeEnd === '\0') return key >= req.key;
  return key >= req.key && key < req.rangeEnd;
}

function passes(req: WatchRequest, ev: WatchEvent): boolean {
  if (!inRange(req, ev.kv.key)) return false;
  if (ev.type === 'put' && req.filters?.includes('noput')) return false;
  if (ev.type === 'delete' && req.filters?.includes('nodelete')) return false;
  return true;
}

const sameKv = (a: WatchKv | undefined, b: WatchKv | undefined): boolean =>
  a === undefined || b === undefined
    ? a === b
    : a.key === b.key &&
      (a.value ?? null) === (b.value ?? null) &&
      a.modRevision === b.modRevision &&
      a.createRevision === b.createRevision &&
      a.version === b.version;

const show = (e: WatchEvent): string => `${e.type} ${JSON.stringify(e.kv.key)}@${e.kv.modRevision}`;

/** A put is a create iff the key was absent before: create revision = mod revision, version 1;
 *  otherwise the create revision is kept and the version grows by one. */
function createProblem(ev: WatchEvent, before: WatchKv | undefined): string | undefined {
  if (ev.type !== 'put') return undefined;
  const expectCreate = before === undefined;
  const isCreate = ev.kv.createRevision === ev.kv.modRevision;
  const okVersion = expectCreate
    ? ev.kv.version === 1
    : ev.kv.version === before.version + 1 && ev.kv.createRevision === before.createRevision;
  if (isCreate === expectCreate && okVersion) return undefined;
  return `${show(ev)} create revision ${ev.kv.createRevision} version ${ev.kv.version}, but the key ${expectCreate ? 'was absent' : `existed (created ${before.createRevision}, version ${before.version})`} before`;
}

/** The truth replayed: for each (revision, key), the event and the key's state before it. */
interface Replayed {
  event: WatchEvent;
  before: WatchKv | undefined;
}

function replay(revisions: readonly RevisionEvents[]): Map<string, Replayed> {
  const state = new Map<string, WatchKv>();
  const out = new Map<string, Replayed>();
  const sorted = [...revisions].sort((a, b) => a.revision - b.revision);
  for (const r of sorted) {
    for (const ev of r.events) {
      out.set(`${r.revision}\u0000${ev.kv.key}`, { event: ev, before: state.get(ev.kv.key) });
      if (ev.type === 'put') state.set(ev.kv.key, ev.kv);
      else state.delete(ev.kv.key);
    }
  }
  return out;
}

export function checkWatch(input: WatchCheckInput): CheckResult {
  const anomalies: Anomaly[] = [];
  // At most 5 anomalies per (stream, type) are listed; the rest are counted in stats.suppressed.
  const perStreamType = new Map<string, number>();
  let suppressed = 0;
  const add = (type: string, stream: WatchStream | undefined, message: string, key?: string, ops: number[] = []): void => {
    const slot = `${stream?.watcher ?? -1}/${type}`;
    const n = (perStreamType.get(slot) ?? 0) + 1;
    perStreamType.set(slot, n);
    if (n > 5) {
      suppressed++;
      return;
    }
    const a: Anomaly = { checker: 'watch', type, message: stream ? `watcher ${stream.watcher}: ${message}` : message, ops };
    if (key !== undefined) a.key = key;
    anomalies.push(a);
  };
  const revs = [...input.revisions].sort((a, b) => a.revision - b.revision);
  const byRev = new Map<number, WatchEvent[]>();
  for (const r of revs) byRev.set(r.revision, r.events);
  const truth = replay(revs);
  for (const t of truth.values()) {
    const c = createProblem(t.event, t.before);
    if (c !== undefined) add('is-create', undefined, `history: ${c}`, t.event.kv.key);
  }

  // The truth has no gaps (every write bumps the revision by one and produces events).
  for (let i = 1; i < revs.length; i++) {
    if (revs[i]!.revision !== revs[i - 1]!.revision + 1) {
      add('truth-gap', undefined, `revisions ${revs[i - 1]!.revision + 1}..${revs[i]!.revision - 1} have no events`);
    }
  }
  // Every acknowledged write is in the truth at its revision.
  let acked = 0;
  if (input.history !== undefined) {
    for (const p of pairOps(input.history)) {
      if (p.type !== 'ok') continue;
      const c = p.completion as Op;
      const f = p.invoke.f;
      if ((f !== 'write' && f !== 'cas' && f !== 'put') || c.revision === undefined || p.invoke.key === undefined) continue;
      const value = f === 'cas' ? (p.invoke.value as [unknown, unknown])[1] : p.invoke.value;
      const ev = byRev.get(c.revision)?.find((e) => e.kv.key === p.invoke.key);
      acked++;
      if (ev === undefined || ev.type !== 'put' || ev.kv.value !== value) {
        add(
          'ack-not-in-history',
          undefined,
          `acknowledged ${f} ${JSON.stringify(p.invoke.key)}=${JSON.stringify(value)} at revision ${c.revision} is not among that revision's events ` +
            `(${(byRev.get(c.revision) ?? []).map(show).join(', ') || 'none'})`,
          p.invoke.key,
          [p.invoke.index, c.index],
        );
      }
    }
  }

  let delivered = 0;
  for (const s of input.streams) {
    const req = s.request;
    let lastRev = 0; // highest event revision delivered
    let progress = 0; // highest revision the stream is known to have seen (events or bookmarks)
    let bookmark = 0;
    const seen = new Set<string>();
    const revResponse = new Map<number, number>(); // revision → the response that carried it
    const deliveredKeys = new Set<string>();
    let first: WatchEvent | undefined;
    for (let ri = 0; ri < s.responses.length; ri++) {
      const r = s.responses[ri]!;
      if (r.compactRevision !== undefined && r.compactRevision > 0) break;
      if (r.progressNotify && r.events.length === 0) {
        if (r.revision < lastRev) add('bookmarkable', s, `progress notification at ${r.revision} after an event at ${lastRev}`);
        bookmark = Math.max(bookmark, r.revision);
        progress = Math.max(progress, r.revision);
        continue;
      }
      for (const ev of r.events) {
        delivered++;
        const rev = ev.kv.modRevision;
        const id = `${rev}\u0000${ev.kv.key}`;
        first ??= ev;
        if (rev < lastRev) add('ordered', s, `${show(ev)} after an event at revision ${lastRev}`, ev.kv.key);
        if (rev <= bookmark) add('bookmarkable', s, `${show(ev)} after a progress notification at ${bookmark}`, ev.kv.key);
        if (seen.has(id)) add('unique', s, `${show(ev)} delivered twice`, ev.kv.key);
        seen.add(id);
        const prevResp = revResponse.get(rev);
        if (prevResp !== undefined && prevResp !== ri)
          add('atomic', s, `revision ${rev} split over responses ${prevResp} and ${ri}`, ev.kv.key);
        revResponse.set(rev, ri);
        if (!passes(req, ev))
          add(
            'filter',
            s,
            `${show(ev)} does not match the watch (${JSON.stringify(req.key)}..${JSON.stringify(req.rangeEnd ?? '')}, filters ${req.filters ?? []})`,
            ev.kv.key,
          );
        const t = truth.get(id);
        if (t === undefined || t.event.type !== ev.type || (t.event.kv.value ?? null) !== (ev.kv.value ?? null)) {
          add(
            'event-mismatch',
            s,
            `${show(ev)} ${JSON.stringify(ev.kv.value)} is not the history's event at that revision` +
              (t ? ` (${show(t.event)} ${JSON.stringify(t.event.kv.value)})` : ''),
            ev.kv.key,
          );
        } else {
          deliveredKeys.add(id);
          const c = createProblem(ev, t.before);
          if (c !== undefined) add('is-create', s, c, ev.kv.key);
          if (req.prevKv === true && !sameKv(ev.prevKv, t.before)) {
            add(
              'prev-kv',
              s,
              `${show(ev)} prev_kv ${ev.prevKv ? `${JSON.stringify(ev.prevKv.value)}@${ev.prevKv.modRevision}` : 'absent'}, ` +
                `expected ${t.before ? `${JSON.stringify(t.before.value)}@${t.before.modRevision}` : 'absent'}`,
              ev.kv.key,
            );
          }
        }
        lastRev = Math.max(lastRev, rev);
        progress = Math.max(progress, rev);
      }
    }
    // atomic: every matching event of a delivered revision was delivered (checked with reliable below)
    // resumable + reliable: from where the watch started up to its progress, nothing matching is missing.
    const start =
      req.startRevision > 0
        ? req.startRevision
        : s.createdRevision !== undefined
          ? s.createdRevision + 1
          : (first?.kv.modRevision ?? Infinity);
    for (const r of revs) {
      if (r.revision < start || r.revision > progress) continue;
      for (const ev of r.events) {
        if (!passes(req, ev)) continue;
        const id = `${r.revision}\u0000${ev.kv.key}`;
        if (deliveredKeys.has(id) || seen.has(id)) continue;
        const type = revResponse.has(r.revision)
          ? 'atomic'
          : first !== undefined && r.revision < first.kv.modRevision
            ? 'resumable'
            : 'reliable';
        add(type, s, `${show(ev)} was never delivered (watch from ${req.startRevision}, seen up to ${progress})`, ev.kv.key);
      }
    }
  }
  return resultOf(anomalies, { streams: input.streams.length, delivered, revisions: revs.length, ackedWrites: acked, suppressed });
}

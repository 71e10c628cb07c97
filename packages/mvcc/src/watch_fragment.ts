// Splitting one large watch response into several, for clients that asked for `fragment`.
//
// etcd's rule (v3rpc/watch.go, sendFragments):
//   - a response whose encoded size is below the limit, or that carries fewer than two events,
//     is sent as is;
//   - otherwise events are packed greedily, in order, into responses that copy every other field
//     of the original (header, watch id, ...) with `fragment: true`; an event that would bring a
//     response to >= maxBytes starts the next one, except that each response takes at least one
//     event (so one oversized event still goes out, alone);
//   - the last response has `fragment: false`; the client concatenates events until it sees it.
// Sizes are measured with `fragment: true` set, as etcd does.
import { encodeToBuffer, etcdserverpb, mvccpb } from '@kv/api';

/** Bytes a varint encoding of n takes (n >= 0). */
function varintLen(n: number): number {
  let len = 1;
  while (n >= 0x80) {
    n = Math.floor(n / 128);
    len++;
  }
  return len;
}

/** Bytes an event adds to a WatchResponse: field 11 tag (1 byte) + length prefix + message. */
function eventFieldSize(ev: mvccpb.Event): number {
  const n = encodeToBuffer(mvccpb.Event, ev).length;
  return 1 + varintLen(n) + n;
}

/**
 * Splits `resp` per etcd's fragmenting rule so that each part stays under `maxBytes` (etcd uses
 * the server's max request bytes plus gRPC overhead). Returns `[resp]` itself when no split is
 * needed; otherwise new response objects sharing `resp`'s event objects.
 */
export function fragmentResponse(resp: etcdserverpb.WatchResponse, maxBytes: number): etcdserverpb.WatchResponse[] {
  const events = resp.events;
  if (events.length < 2) return [resp];
  const total = encodeToBuffer(etcdserverpb.WatchResponse, resp).length;
  if (total < maxBytes) return [resp];
  const sizes = events.map(eventFieldSize);
  const base = encodeToBuffer(etcdserverpb.WatchResponse, { ...resp, events: [], fragment: true }).length;

  const out: etcdserverpb.WatchResponse[] = [];
  let idx = 0;
  while (idx < events.length) {
    const start = idx;
    let size = base;
    while (idx < events.length) {
      const next = size + sizes[idx];
      // at least one event per part; beyond that, stop before reaching the limit
      if (idx > start && next >= maxBytes) break;
      size = next;
      idx++;
    }
    out.push({ ...resp, events: events.slice(start, idx), fragment: idx < events.length });
  }
  return out;
}

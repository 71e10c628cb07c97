// Watcher bookkeeping that needs no server: fragment reassembly and resume revisions.
import { describe, expect, it } from 'vitest';
import { etcdserverpb, mvccpb } from '@kv/api';
import { PermissionDeniedError, WatchCanceledError } from './errors.js';
import { Watcher, type WatchHub } from './watch.js';

const fakeHub = { cancel: () => undefined } as unknown as WatchHub;

function ev(key: string, rev: bigint): mvccpb.Event {
  return mvccpb.Event.fromPartial({ type: mvccpb.Event_EventType.PUT, kv: { key: Buffer.from(key), modRevision: rev } });
}

function resp(events: mvccpb.Event[], fragment: boolean, rev = 10n): etcdserverpb.WatchResponse {
  return etcdserverpb.WatchResponse.fromPartial({ header: { revision: rev }, watchId: 1n, events, fragment });
}

describe('Watcher', () => {
  it('joins fragmented responses into one', async () => {
    const w = new Watcher(fakeHub, 'k', { prefix: true, fragment: true });
    w.onCreated(etcdserverpb.WatchResponse.fromPartial({ header: { revision: 5n }, watchId: 1n, created: true }));
    w.onResponse(resp([ev('k1', 6n), ev('k2', 7n)], true));
    w.onResponse(resp([ev('k3', 8n)], true));
    w.onResponse(resp([ev('k4', 9n)], false));
    w.onResponse(resp([ev('k5', 10n)], false));
    const it = w[Symbol.asyncIterator]();
    const a = await it.next();
    expect(a.value!.events.map((e: mvccpb.Event) => e.kv!.key.toString())).toEqual(['k1', 'k2', 'k3', 'k4']);
    expect(a.value!.fragment).toBe(false);
    const b = await it.next();
    expect(b.value!.events.map((e: mvccpb.Event) => e.kv!.key.toString())).toEqual(['k5']);
    expect(w.nextRevision).toBe(11n);
  });

  it('resumes after the created revision when no start revision was given', () => {
    const w = new Watcher(fakeHub, 'k', {});
    expect(w.createRequest().createRequest!.startRevision).toBe(0n);
    w.onCreated(etcdserverpb.WatchResponse.fromPartial({ header: { revision: 41n }, watchId: 3n, created: true }));
    expect(w.createRequest().createRequest!.startRevision).toBe(42n);
    w.onResponse(resp([], false, 50n)); // progress notification
    expect(w.createRequest().createRequest!.startRevision).toBe(51n);
  });

  it("types a server's cancel reason: etcd's Go status text and the bare etcd text alike", async () => {
    const reasons: [string, new (...a: never[]) => Error][] = [
      // etcd 3.4 refusing a watch the user may not read (rpctypes.ErrGRPCPermissionDenied.Error()).
      ['rpc error: code = PermissionDenied desc = etcdserver: permission denied', PermissionDeniedError],
      ['etcdserver: permission denied', PermissionDeniedError],
      ['rpc error: code = Unknown desc = something else', WatchCanceledError],
    ];
    for (const [reason, type] of reasons) {
      const w = new Watcher(fakeHub, 'k', {});
      w.onServerCancel(etcdserverpb.WatchResponse.fromPartial({ watchId: -1n, created: true, canceled: true, cancelReason: reason }));
      const err = await w[Symbol.asyncIterator]()
        .next()
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      expect(err, reason).toBeInstanceOf(type);
    }
  });

  it('builds filters and ranges into the create request', () => {
    const w = new Watcher(fakeHub, 'a', { prefix: true, noPut: true, noDelete: true, prevKv: true, progressNotify: true });
    const c = w.createRequest().createRequest!;
    expect(c.key.toString()).toBe('a');
    expect(c.rangeEnd.toString()).toBe('b');
    expect(c.filters).toEqual([etcdserverpb.WatchCreateRequest_FilterType.NOPUT, etcdserverpb.WatchCreateRequest_FilterType.NODELETE]);
    expect(c.prevKv && c.progressNotify).toBe(true);
  });
});

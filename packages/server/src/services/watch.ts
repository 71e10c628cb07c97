// Watch service: one mvcc WatchStream per gRPC stream (etcd's v3rpc/watch.go). Create, cancel and
// progress requests come in; created/canceled responses, events, progress and compaction
// notices go out, in order, with fragmenting for watchers that asked for it.
import { etcdserverpb } from '@kv/api';
import { fragmentResponse, type WatchResponse } from '@kv/mvcc';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { goStatusText, toServiceError } from '../errors.js';
import type { Member } from '../member.js';
import { endStream } from './require_leader.js';

type Stream = ServerDuplexStream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>;

/** etcd allows this much over --max-request-bytes for gRPC framing. */
const grpcOverheadBytes = 512 * 1024;

export function watchService(m: Member): etcdserverpb.WatchServer {
  return {
    watch(stream: Stream) {
      let closed = false;
      const send = (resp: etcdserverpb.WatchResponse): boolean => {
        if (closed || stream.writableEnded || stream.destroyed) return true;
        return stream.write(resp);
      };
      const ws = m.watchable.newWatchStream(
        (r: WatchResponse) => {
          const resp: etcdserverpb.WatchResponse = etcdserverpb.WatchResponse.fromPartial({
            header: m.header(r.revision),
            watchId: r.watchId,
            events: r.events,
            compactRevision: r.compactRevision,
            canceled: r.compactRevision > 0n,
          });
          // As etcd 3.4: a compacted watcher is canceled with its compact revision and no reason
          // text; clients turn the revision into `mvcc: required revision has been compacted`.
          if (r.watchId >= 0n && ws.fragmentRequested(r.watchId)) {
            let ok = true;
            for (const part of fragmentResponse(resp, m.config.maxRequestBytes + grpcOverheadBytes)) ok = send(part) && ok;
            return ok;
          }
          return send(resp);
        },
        // A failed read (backend error) ends the stream with a status: grpc-js's destroy() would
        // close it without one, and the client would wait.
        { onError: (err) => endStream(stream, toServiceError(err)) },
      );
      stream.on('drain', () => ws.resume());

      // Open watchers and the user each was created for: re-checked whenever the auth store
      // changes, so a watcher whose user lost read permission is canceled (etcd 3.4 keeps it).
      const watched = new Map<bigint, { user: string; key: Buffer; rangeEnd: Buffer }>();
      const recheck = () => {
        for (const [id, w] of watched) {
          try {
            m.auth.checkRead({ username: w.user, revision: m.auth.revision }, w.key, w.rangeEnd);
          } catch (err) {
            watched.delete(id);
            if (ws.cancel(id)) {
              send(
                etcdserverpb.WatchResponse.fromPartial({
                  header: m.header(m.store.currentRev()),
                  watchId: id,
                  canceled: true,
                  cancelReason: goStatusText(err),
                }),
              );
            }
          }
        }
      };
      const unsubscribe = m.identity.onChange(recheck);

      stream.on('data', (req: etcdserverpb.WatchRequest) => {
        if (req.createRequest) {
          const c = req.createRequest;
          const wsrev = m.store.currentRev();
          // etcd's isWatchPermitted: read permission on the watched range, at creation.
          let user = '';
          if (m.auth.enabled) {
            try {
              const ai = m.identity.authInfo(stream.metadata) ?? { username: '', revision: 0n };
              m.auth.checkRead(ai, c.key, c.rangeEnd);
              user = ai.username;
            } catch (err) {
              send(
                etcdserverpb.WatchResponse.fromPartial({
                  header: m.header(wsrev),
                  watchId: -1n,
                  created: true,
                  canceled: true,
                  cancelReason: goStatusText(err),
                }),
              );
              return;
            }
          } else {
            // Remembered for a later AuthEnable: a watcher without a user is canceled then.
            try {
              user = m.identity.authInfo(stream.metadata)?.username ?? '';
            } catch {
              user = '';
            }
          }
          const filters = new Set(c.filters);
          let id: bigint;
          let error: string | undefined;
          try {
            id = ws.watch({
              id: c.watchId,
              key: c.key,
              end: c.rangeEnd.length === 0 ? undefined : c.rangeEnd,
              startRev: c.startRevision === 0n ? wsrev + 1n : c.startRevision,
              prevKv: c.prevKv,
              noPut: filters.has(etcdserverpb.WatchCreateRequest_FilterType.NOPUT),
              noDelete: filters.has(etcdserverpb.WatchCreateRequest_FilterType.NODELETE),
              progressNotify: c.progressNotify,
              fragment: c.fragment,
            });
          } catch (err) {
            id = -1n;
            error = (err as Error).message;
          }
          if (error === undefined) watched.set(id, { user, key: c.key, rangeEnd: c.rangeEnd });
          send(
            etcdserverpb.WatchResponse.fromPartial({
              header: m.header(wsrev),
              watchId: id,
              created: true,
              canceled: error !== undefined,
              cancelReason: error ?? '',
            }),
          );
        } else if (req.cancelRequest) {
          const id = req.cancelRequest.watchId;
          watched.delete(id);
          if (ws.cancel(id)) {
            send(etcdserverpb.WatchResponse.fromPartial({ header: m.header(m.store.currentRev()), watchId: id, canceled: true }));
          }
        } else if (req.progressRequest) {
          ws.requestProgress();
        }
      });
      const finish = () => {
        if (closed) return;
        closed = true;
        unsubscribe();
        ws.close();
        m.untrackWatchStream(ws);
      };
      m.trackWatchStream(ws);
      stream.on('end', () => {
        finish();
        stream.end();
      });
      stream.on('error', finish);
      stream.on('close', finish);
    },
  };
}

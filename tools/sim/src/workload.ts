// The workloads: client processes that issue operations through the services' request path and
// record them in @kv/check's history model (invoke, then ok / fail / info), so its checkers
// apply. Every choice comes from the seed; every wait is on the virtual timeline.
//
//   register     single keys r0..r2: linearizable read, write (unique value), cas (txn comparing
//                the value; version 0 for "absent"); a compare that fails is a `fail`
//   list-append  keys a0..a4, Elle-style: txns of 1-3 micro-ops (append a unique number, read the
//                list) done as read + txn guarded by mod-revision compares (a conflict is a `fail`);
//                a list is stored as "1,2,3" (@kv/check's parseList)
//   lease        grant (TTL 2-4 s), put keys attached to it, keep-alive it for a while, read the
//                keys, sometimes revoke, sometimes let it expire and read the keys afterwards
//   watch        watchers of the whole key space from revision 1, resumed from the last revision
//                seen on another member after an error or a member loss
//
// A write that ends in an error is `info` (it may have been applied) unless it never reached a
// member; a read that ends in an error is `fail` (it had no effect). A process that got `info`
// continues under a new process id (the history's rule).
import { etcdserverpb, mvccpb } from '@kv/api';
import {
  parseList,
  type History,
  type MicroOp,
  type Op,
  type WatchEvent,
  type WatchKv,
  type WatchResponse,
  type WatchStream,
} from '@kv/check';
import { CallError, ClientConn, shouldFailover, type ClientTarget, type Services } from './client.js';
import type { SimRng } from './rng.js';
import type { Scheduler } from './scheduler.js';

export interface WorkloadOptions {
  /** Client processes issuing register / append / lease operations. */
  clients: number;
  /** Watcher processes. */
  watchers: number;
  /** Operations per client (at most; the run also stops at `endMs`). */
  opsPerClient: number;
  /** Clients stop invoking at this virtual time. */
  endMs: number;
  /** Per-request timeout (virtual ms); after it a write is `info`. */
  requestTimeoutMs: number;
  /** Think time between a client's operations: uniform in [0, thinkMs]. */
  thinkMs: number;
}

export const registerKeys = ['r0', 'r1', 'r2'];
export const appendKeys = ['a0', 'a1', 'a2', 'a3', 'a4'];

const enc = (s: string) => Buffer.from(s);
const str = (b: Buffer | undefined) => (b === undefined ? null : b.toString());
const num = (b: bigint | undefined) => Number(b ?? 0n);

function errText(e: unknown): string {
  return e instanceof CallError ? `${e.code}: ${e.details}` : String(e);
}

const kvOf = (kv: mvccpb.KeyValue): WatchKv => ({
  key: kv.key.toString(),
  value: kv.value.toString(),
  createRevision: num(kv.createRevision),
  modRevision: num(kv.modRevision),
  version: num(kv.version),
  ...(kv.lease !== 0n ? { lease: kv.lease.toString() } : {}),
});

/** A watch event as the checkers model it. */
export function eventOf(e: mvccpb.Event): WatchEvent {
  const kv = kvOf(e.kv!);
  if (e.type === mvccpb.Event_EventType.DELETE) kv.value = null;
  const out: WatchEvent = { type: e.type === mvccpb.Event_EventType.DELETE ? 'delete' : 'put', kv };
  if (e.prevKv) out.prevKv = kvOf(e.prevKv);
  return out;
}

export class Workload {
  /** Watch streams recorded (one per watcher; it resumes across reconnects). */
  readonly streams: WatchStream[] = [];
  private nextValue = 1;
  private stopped = false;

  constructor(
    private readonly sched: Scheduler,
    private readonly rng: SimRng,
    private readonly history: History,
    private readonly targets: readonly ClientTarget[],
    private readonly o: WorkloadOptions,
  ) {}

  private sleep(ms: number): Promise<void> {
    return new Promise((r) => this.sched.at(ms, 'client sleep', r));
  }

  /** Starts every client and watcher; resolves when all clients are done (watchers run until stop()). */
  async run(): Promise<void> {
    const watchers: Promise<void>[] = [];
    for (let w = 0; w < this.o.watchers; w++) watchers.push(this.watcher(w));
    const clients: Promise<void>[] = [];
    for (let c = 0; c < this.o.clients; c++) clients.push(this.client(c));
    await Promise.all(clients);
    void watchers;
  }

  /** Stops the watchers (after the final reads). */
  stop(): void {
    this.stopped = true;
  }

  private async client(c: number): Promise<void> {
    const rng = this.rng.fork(`client ${c}`);
    const conn = new ClientConn(this.sched, rng.fork('conn'), this.targets, c);
    // Process ids: c, c + clients, c + 2*clients, ... (a new one after each `info`).
    let proc = c;
    for (let i = 0; i < this.o.opsPerClient && this.sched.now() < this.o.endMs; i++) {
      const r = rng.next();
      let outcome: Op | undefined;
      if (r < 0.45) outcome = await this.registerOp(conn, rng, proc);
      else if (r < 0.8) outcome = await this.appendOp(conn, rng, proc);
      // A lease session retires its process ids itself (it issues several operations).
      else
        await this.leaseSession(
          conn,
          rng,
          () => proc,
          () => (proc += this.o.clients),
        );
      if (outcome?.type === 'info') proc += this.o.clients;
      await this.sleep(rng.int(this.o.thinkMs + 1));
    }
  }

  /** Completes `op` from an error: reads fail, writes are info unless they surely had no effect. */
  private failed(conn: ClientConn, op: Op, e: unknown, isWrite: boolean): Op {
    const ce = e instanceof CallError ? e : new CallError(2, String(e), false);
    if (shouldFailover(ce)) conn.failover();
    if (!isWrite || ce.definite) return this.history.fail(op, errText(e), { endpoint: conn.endpoint });
    return this.history.info(op, errText(e), { endpoint: conn.endpoint });
  }

  private call<Req, Res>(conn: ClientConn, pick: (s: Services) => unknown, req: Req): Promise<Res> {
    return conn.unary<Req, Res>(pick, req, this.o.requestTimeoutMs);
  }

  private async registerOp(conn: ClientConn, rng: SimRng, proc: number): Promise<Op> {
    const key = rng.pick(registerKeys);
    const r = rng.next();
    if (r < 0.4) {
      const op = this.history.invoke(proc, 'read', { key, endpoint: conn.endpoint });
      try {
        const res = await this.call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
          conn,
          (s) => s.kv.range,
          etcdserverpb.RangeRequest.fromPartial({ key: enc(key) }),
        );
        return this.history.ok(op, { value: str(res.kvs[0]?.value), revision: num(res.header?.revision) });
      } catch (e) {
        return this.failed(conn, op, e, false);
      }
    }
    if (r < 0.75) {
      const value = String(this.nextValue++);
      const op = this.history.invoke(proc, 'write', { key, value, endpoint: conn.endpoint });
      try {
        const res = await this.call<etcdserverpb.PutRequest, etcdserverpb.PutResponse>(
          conn,
          (s) => s.kv.put,
          etcdserverpb.PutRequest.fromPartial({ key: enc(key), value: enc(value) }),
        );
        return this.history.ok(op, { revision: num(res.header?.revision) });
      } catch (e) {
        return this.failed(conn, op, e, true);
      }
    }
    // cas: expected is a value recently written (or absent).
    const expected = rng.chance(0.15) ? null : String(Math.max(1, this.nextValue - 1 - rng.int(4)));
    const value = String(this.nextValue++);
    const op = this.history.invoke(proc, 'cas', { key, value: [expected, value], endpoint: conn.endpoint });
    const compare =
      expected === null
        ? etcdserverpb.Compare.fromPartial({
            key: enc(key),
            target: etcdserverpb.Compare_CompareTarget.VERSION,
            result: etcdserverpb.Compare_CompareResult.EQUAL,
            version: 0n,
          })
        : etcdserverpb.Compare.fromPartial({
            key: enc(key),
            target: etcdserverpb.Compare_CompareTarget.VALUE,
            result: etcdserverpb.Compare_CompareResult.EQUAL,
            value: enc(expected),
          });
    try {
      const res = await this.call<etcdserverpb.TxnRequest, etcdserverpb.TxnResponse>(
        conn,
        (s) => s.kv.txn,
        etcdserverpb.TxnRequest.fromPartial({
          compare: [compare],
          success: [{ requestPut: etcdserverpb.PutRequest.fromPartial({ key: enc(key), value: enc(value) }) }],
        }),
      );
      if (!res.succeeded) return this.history.fail(op, 'compare failed', { revision: num(res.header?.revision), endpoint: conn.endpoint });
      return this.history.ok(op, { revision: num(res.header?.revision) });
    } catch (e) {
      return this.failed(conn, op, e, true);
    }
  }

  private async appendOp(conn: ClientConn, rng: SimRng, proc: number): Promise<Op> {
    const n = rng.between(1, 3);
    const mops: MicroOp[] = [];
    for (let i = 0; i < n; i++) {
      const key = rng.pick(appendKeys);
      mops.push(rng.chance(0.5) ? { f: 'append', key, value: this.nextValue++ } : { f: 'r', key, value: null });
    }
    const keys = [...new Set(mops.map((m) => m.key))];
    const op = this.history.invoke(proc, 'txn', { value: mops, endpoint: conn.endpoint });
    // 1. Read the lists (a read-only txn: one revision for all keys).
    let seen: { list: number[] | null; mod: bigint }[];
    try {
      const res = await this.call<etcdserverpb.TxnRequest, etcdserverpb.TxnResponse>(
        conn,
        (s) => s.kv.txn,
        etcdserverpb.TxnRequest.fromPartial({
          success: keys.map((k) => ({ requestRange: etcdserverpb.RangeRequest.fromPartial({ key: enc(k) }) })),
        }),
      );
      seen = res.responses.map((r) => {
        const kv = r.responseRange?.kvs[0];
        return { list: kv ? parseList(kv.value.toString()) : null, mod: kv?.modRevision ?? 0n };
      });
    } catch (e) {
      return this.failed(conn, op, e, false);
    }
    // 2. Apply the micro-ops to the lists read, and write back if nothing changed meanwhile.
    const lists = new Map(keys.map((k, i) => [k, seen[i].list]));
    const done: MicroOp[] = mops.map((m) => {
      const cur = lists.get(m.key) ?? null;
      if (m.f === 'r') return { f: 'r', key: m.key, value: cur === null ? null : [...cur] };
      lists.set(m.key, [...(cur ?? []), m.value]);
      return m;
    });
    const written = keys.filter((k) => mops.some((m) => m.f === 'append' && m.key === k));
    try {
      const res = await this.call<etcdserverpb.TxnRequest, etcdserverpb.TxnResponse>(
        conn,
        (s) => s.kv.txn,
        etcdserverpb.TxnRequest.fromPartial({
          compare: keys.map((k, i) =>
            etcdserverpb.Compare.fromPartial({
              key: enc(k),
              target: etcdserverpb.Compare_CompareTarget.MOD,
              result: etcdserverpb.Compare_CompareResult.EQUAL,
              modRevision: seen[i].mod,
            }),
          ),
          success: written.map((k) => ({
            requestPut: etcdserverpb.PutRequest.fromPartial({ key: enc(k), value: enc((lists.get(k) ?? []).join(',')) }),
          })),
        }),
      );
      if (!res.succeeded) return this.history.fail(op, 'conflict', { endpoint: conn.endpoint });
      return this.history.ok(op, { value: done, revision: num(res.header?.revision) });
    } catch (e) {
      return this.failed(conn, op, e, written.length > 0);
    }
  }

  /**
   * A lease's life: grant, attach 1-2 keys, keep it alive and read its keys for a while, then
   * revoke it or let it expire (and read the keys after). `retire` is called after each `info`.
   */
  private async leaseSession(conn: ClientConn, rng: SimRng, proc: () => number, retire: () => void): Promise<void> {
    const ttl = rng.between(2, 4);
    const step = async (f: () => Promise<Op>): Promise<boolean> => {
      const last = await f();
      if (last.type === 'info') retire();
      return last.type === 'ok';
    };
    let id = 0n;
    const granted = await step(async () => {
      const op = this.history.invoke(proc(), 'grant', { value: { ttl }, endpoint: conn.endpoint });
      try {
        const res = await this.call<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(
          conn,
          (s) => s.lease.leaseGrant,
          etcdserverpb.LeaseGrantRequest.fromPartial({ TTL: BigInt(ttl) }),
        );
        id = res.ID;
        return this.history.ok(op, {
          value: { id: res.ID.toString(), ttl: num(res.TTL) },
          lease: res.ID.toString(),
          revision: num(res.header?.revision),
        });
      } catch (e) {
        return this.failed(conn, op, e, true);
      }
    });
    if (!granted) return;
    const lease = id.toString();
    const keys = Array.from({ length: rng.between(1, 2) }, () => `l${this.nextValue++}`);
    for (const key of keys) {
      await step(async () => {
        const value = String(this.nextValue++);
        const op = this.history.invoke(proc(), 'put', { key, value, lease, endpoint: conn.endpoint });
        try {
          const res = await this.call<etcdserverpb.PutRequest, etcdserverpb.PutResponse>(
            conn,
            (s) => s.kv.put,
            etcdserverpb.PutRequest.fromPartial({ key: enc(key), value: enc(value), lease: id }),
          );
          return this.history.ok(op, { revision: num(res.header?.revision) });
        } catch (e) {
          return this.failed(conn, op, e, true);
        }
      });
    }
    const rounds = rng.between(1, 4);
    for (let i = 0; i < rounds; i++) {
      await this.sleep(rng.between(200, ttl * 600));
      if (rng.chance(0.6)) await step(() => this.keepAlive(conn, proc(), id, ttl));
      else await step(() => this.leaseGet(conn, proc(), rng.pick(keys)));
    }
    if (rng.chance(0.4)) {
      await step(async () => {
        const op = this.history.invoke(proc(), 'revoke', { value: { id: lease }, lease, endpoint: conn.endpoint });
        try {
          const res = await this.call<etcdserverpb.LeaseRevokeRequest, etcdserverpb.LeaseRevokeResponse>(
            conn,
            (s) => s.lease.leaseRevoke,
            etcdserverpb.LeaseRevokeRequest.fromPartial({ ID: id }),
          );
          return this.history.ok(op, { revision: num(res.header?.revision) });
        } catch (e) {
          if (e instanceof CallError && /lease not found/.test(e.details))
            return this.history.fail(op, errText(e), { endpoint: conn.endpoint });
          return this.failed(conn, op, e, true);
        }
      });
    } else {
      // Let it expire, then look at its keys.
      await this.sleep(ttl * 1000 + rng.between(0, 3000));
    }
    for (const key of keys) await step(() => this.leaseGet(conn, proc(), key));
  }

  private async leaseGet(conn: ClientConn, proc: number, key: string): Promise<Op> {
    const op = this.history.invoke(proc, 'get', { key, endpoint: conn.endpoint });
    try {
      const res = await this.call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
        conn,
        (s) => s.kv.range,
        etcdserverpb.RangeRequest.fromPartial({ key: enc(key) }),
      );
      const kv = res.kvs[0];
      return this.history.ok(op, {
        value: str(kv?.value),
        revision: num(res.header?.revision),
        ...(kv && kv.lease !== 0n ? { lease: kv.lease.toString() } : {}),
      });
    } catch (e) {
      return this.failed(conn, op, e, false);
    }
  }

  /** One keep-alive on a LeaseKeepAlive stream: ok with the TTL (0: the lease is gone, as etcd answers). */
  private keepAlive(conn: ClientConn, proc: number, id: bigint, ttl: number): Promise<Op> {
    const op = this.history.invoke(proc, 'keepalive', { value: { id: id.toString(), ttl }, lease: id.toString(), endpoint: conn.endpoint });
    return new Promise<Op>((resolve) => {
      let done = false;
      const finish = (f: () => Op) => {
        if (done) return;
        done = true;
        deadline.clear();
        s?.close();
        resolve(f());
      };
      const deadline = this.sched.at(this.o.requestTimeoutMs, 'keepalive deadline', () =>
        finish(() => this.failed(conn, op, new CallError(4, 'context deadline exceeded', false), true)),
      );
      const s = conn.stream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>(
        (x) => x.lease.leaseKeepAlive as never,
      );
      if (!s) {
        finish(() => this.failed(conn, op, new CallError(14, 'connection refused', true), true));
        return;
      }
      s.duplex.onResponse = (r) =>
        finish(() => this.history.ok(op, { value: { id: id.toString(), ttl: num(r.TTL) }, revision: num(r.header?.revision) }));
      s.duplex.onClose = (err) => finish(() => this.failed(conn, op, err ?? new CallError(14, 'stream ended', false), true));
      s.send(etcdserverpb.LeaseKeepAliveRequest.fromPartial({ ID: id }));
    });
  }

  /** A watcher of every key from revision 1, resumed after errors from the last revision it saw. */
  private async watcher(w: number): Promise<void> {
    const rng = this.rng.fork(`watcher ${w}`);
    const conn = new ClientConn(this.sched, rng.fork('conn'), this.targets, w + 1);
    const stream: WatchStream = {
      watcher: w,
      request: { key: '\0', rangeEnd: '\0', startRevision: 1, prevKv: true },
      openedAt: this.sched.now(),
      responses: [],
    };
    this.streams.push(stream);
    let lastRev = 0;
    while (!this.stopped) {
      const s = conn.stream<etcdserverpb.WatchRequest, etcdserverpb.WatchResponse>((x) => x.watch.watch as never);
      if (!s) {
        conn.failover();
        await this.sleep(rng.between(50, 300));
        continue;
      }
      await new Promise<void>((resolve) => {
        let finished = false;
        const end = () => {
          if (finished) return;
          finished = true;
          resolve();
        };
        s.duplex.onResponse = (r) => {
          if (r.created) return;
          const resp: WatchResponse = {
            time: this.sched.now(),
            revision: num(r.header?.revision),
            events: r.events.map(eventOf),
          };
          if (r.compactRevision > 0n) resp.compactRevision = num(r.compactRevision);
          if (r.canceled) resp.canceled = true;
          if (r.events.length === 0 && !r.canceled) resp.progressNotify = true;
          stream.responses.push(resp);
          for (const e of resp.events) lastRev = Math.max(lastRev, e.kv.modRevision);
          if (r.canceled) {
            s.close();
            end();
          }
        };
        s.duplex.onClose = () => end();
        s.send(
          etcdserverpb.WatchRequest.fromPartial({
            createRequest: { key: enc('\0'), rangeEnd: enc('\0'), startRevision: BigInt(lastRev + 1), prevKv: true },
          }),
        );
        // Poll for the end of the run (a watcher has no op of its own to finish).
        const poll = () => {
          if (this.stopped) {
            s.close();
            end();
          } else if (!finished) this.sched.at(250, 'watch poll', poll);
        };
        poll();
      });
      if (this.stopped) return;
      conn.failover();
      await this.sleep(rng.between(20, 200));
    }
  }
}

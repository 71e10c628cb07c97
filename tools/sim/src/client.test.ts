import { etcdserverpb } from '@kv/api';
import { describe, expect, it } from 'vitest';
import { CallError, ClientConn, Code, shouldFailover, type ClientTarget, type Services } from './client.js';
import { SimRng } from './rng.js';
import { Scheduler, type SimClock } from './scheduler.js';

/**
 * A member-side service for testing the connection alone: answers Range with the member's name
 * after `serveMs` on the member's clock, and echoes keep-alives on a stream.
 */
function services(name: string, clock: SimClock, serveMs: number, served: string[]): Services {
  const kv = {
    range: (call: { request: etcdserverpb.RangeRequest }, cb: (e: unknown, r?: etcdserverpb.RangeResponse) => void) => {
      served.push(`${name}@${clock.now()}`);
      clock.setTimeout(
        () => cb(null, etcdserverpb.RangeResponse.fromPartial({ kvs: [{ key: call.request.key, value: Buffer.from(name) }] })),
        serveMs,
      );
    },
  };
  const lease = {
    leaseKeepAlive: (s: { on(ev: string, f: (r: etcdserverpb.LeaseKeepAliveRequest) => void): void; write(r: unknown): boolean }) =>
      s.on('data', (r) => s.write({ ID: r.ID, TTL: 5n })),
  };
  return { kv, lease } as unknown as Services;
}

function setup(serveMs = 1) {
  const s = new Scheduler();
  const served: string[] = [];
  const members = ['m1', 'm2'].map((name) => {
    let up: { clock: SimClock; services: Services } | undefined;
    const start = () => {
      const clock = s.clock(name);
      up = { clock, services: services(name, clock, serveMs, served) };
    };
    start();
    const t: ClientTarget & { crash(): void; start(): void; clock(): SimClock } = {
      name,
      current: () => up,
      crash: () => {
        up?.clock.kill();
        up = undefined;
      },
      start,
      clock: () => up!.clock,
    };
    return t;
  });
  const conn = new ClientConn(s, new SimRng(1), members, 0);
  return { s, served, members, conn };
}

const range = (conn: ClientConn, timeoutMs = 1000) =>
  conn.unary<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
    (x) => x.kv.range,
    etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from('k') }),
    timeoutMs,
  );

describe('ClientConn', () => {
  it('calls the member through its service object, on the virtual timeline', async () => {
    const { s, conn } = setup(5);
    const p = range(conn);
    await s.runUntil(100);
    const r = await p;
    expect(r.kvs[0].value.toString()).toBe('m1');
  });

  it('refuses at once when the member is down (definite), and fails over on request', async () => {
    const { s, members, conn } = setup();
    members[0].crash();
    const p = range(conn);
    let err: unknown;
    p.catch((e: unknown) => (err = e));
    await s.runUntil(50);
    expect(err).toBeInstanceOf(CallError);
    expect((err as CallError).definite).toBe(true);
    expect(shouldFailover(err as CallError)).toBe(true);
    conn.failover();
    const q = range(conn);
    await s.runUntil(100);
    expect((await q).kvs[0].value.toString()).toBe('m2');
  });

  it('breaks the call when the member crashes before answering (indeterminate)', async () => {
    const { s, members, conn } = setup(50);
    const p = range(conn);
    let err: unknown;
    p.catch((e: unknown) => (err = e));
    s.at(10, 'crash', () => members[0].crash());
    await s.runUntil(200);
    expect((err as CallError).details).toBe('connection lost');
    expect((err as CallError).definite).toBe(false);
  });

  it('holds a request to a paused member until it resumes, and times out in virtual time', async () => {
    const { s, served, members, conn } = setup(1);
    members[0].clock().pause();
    const p = range(conn, 500);
    let err: unknown;
    p.catch((e: unknown) => (err = e));
    await s.runUntil(400);
    expect(served).toEqual([]);
    await s.runUntil(600);
    expect((err as CallError).code).toBe(Code.DEADLINE_EXCEEDED);
    members[0].clock().resume();
    await s.runUntil(700);
    expect(served.length).toBe(1); // served late; the client had given up
  });

  it('streams: requests reach the service, responses come back', async () => {
    const { s, conn } = setup();
    const st = conn.stream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>(
      (x) => x.lease.leaseKeepAlive as never,
    )!;
    const got: bigint[] = [];
    st.duplex.onResponse = (r) => got.push(r.TTL);
    st.send(etcdserverpb.LeaseKeepAliveRequest.fromPartial({ ID: 7n }));
    await s.runUntil(100);
    expect(got).toEqual([5n]);
  });
});

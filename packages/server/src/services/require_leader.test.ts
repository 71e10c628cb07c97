// Require-leader (metadata `hasleader: true`, etcd's WithRequireLeader): the monitor on a manual
// clock, the call guard, and the whole path over real gRPC on loopback — a member's watch and
// lease services behind the guard, whose "has a leader" the test switches.
import { etcdserverpb, ErrorText } from '@kv/api';
import { credentials, Metadata, Server, ServerCredentials, status, type ServiceError } from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManualClock } from '../testutil/manual_clock.js';
import { call, startHarness, until, type Harness } from '../testutil/harness.js';
import { guardCalls } from './call_guard.js';
import { leaseService } from './lease.js';
import { maxNoLeaderChecks, RequireLeaderMonitor, requiresLeader } from './require_leader.js';
import { strictService } from './strict.js';
import { watchService } from './watch.js';

const b = (s: string) => Buffer.from(s);
const interval = 1000;

const withLeaderMd = (v = 'true') => {
  const md = new Metadata();
  md.set('hasleader', v);
  return md;
};

/** A stand-in for a grpc-js server stream: the events the monitor listens to, and an 'error' that ends it. */
class FakeStream extends EventEmitter {
  writableEnded = false;
  destroyed = false;
  readonly errors: ServiceError[] = [];
  constructor(readonly metadata = new Metadata()) {
    super();
    this.on('error', (e: ServiceError) => {
      this.errors.push(e);
      this.writableEnded = true;
    });
  }
}

describe('requiresLeader', () => {
  it('reads the first hasleader value, exactly "true", as etcd does', () => {
    expect(requiresLeader(withLeaderMd())).toBe(true);
    expect(requiresLeader(withLeaderMd('false'))).toBe(false);
    expect(requiresLeader(withLeaderMd('TRUE'))).toBe(false);
    expect(requiresLeader(new Metadata())).toBe(false);
    expect(requiresLeader(undefined)).toBe(false);
    const md = new Metadata();
    md.set('HasLeader', 'true'); // gRPC metadata keys are case-insensitive
    expect(requiresLeader(md)).toBe(true);
  });
});

describe('RequireLeaderMonitor', () => {
  const setup = () => {
    const clock = new ManualClock();
    const state = { leader: true };
    const mon = new RequireLeaderMonitor({ clock, hasLeader: () => state.leader, intervalMs: interval });
    mon.start();
    return { clock, state, mon };
  };

  it(`ends registered streams after ${maxNoLeaderChecks} consecutive checks without a leader, with Unavailable "etcdserver: no leader"`, async () => {
    const { clock, state, mon } = setup();
    const s = new FakeStream();
    mon.register(s);
    state.leader = false;
    await clock.advance((maxNoLeaderChecks - 1) * interval);
    expect(s.errors).toHaveLength(0);
    await clock.advance(interval);
    expect(s.errors).toHaveLength(1);
    expect(s.errors[0].code).toBe(status.UNAVAILABLE);
    expect(s.errors[0].details).toBe(ErrorText.NoLeader);
    expect(mon.size).toBe(0);
    await clock.advance(5 * interval);
    expect(s.errors).toHaveLength(1); // once
    mon.stop();
    expect(clock.pending()).toBe(0);
  });

  it('a leader seen at any check starts the count again', async () => {
    const { clock, state, mon } = setup();
    const s = new FakeStream();
    mon.register(s);
    state.leader = false;
    await clock.advance(2 * interval);
    state.leader = true;
    await clock.advance(interval);
    state.leader = false;
    await clock.advance(2 * interval);
    expect(s.errors).toHaveLength(0);
    expect(mon.leaderlessChecks).toBe(2);
    await clock.advance(interval);
    expect(s.errors).toHaveLength(1);
    mon.stop();
  });

  it('forgets a stream when it ends, whichever way, and removes its listeners', () => {
    const { mon } = setup();
    for (const ev of ['finish', 'close', 'cancelled', 'error']) {
      const s = new FakeStream();
      mon.register(s);
      expect(mon.size).toBe(1);
      s.emit(ev, ev === 'error' ? new Error('x') : undefined);
      expect(mon.size, ev).toBe(0);
      for (const e of ['finish', 'close', 'cancelled']) expect(s.listenerCount(e)).toBe(0);
      expect(s.listenerCount('error')).toBe(1); // the stream's own
    }
    const s = new FakeStream();
    const unregister = mon.register(s);
    unregister();
    unregister();
    expect(mon.size).toBe(0);
    expect(s.listenerCount('close')).toBe(0);
    mon.stop();
  });

  it('runs a custom onNoLeader once instead of ending the call', async () => {
    const { clock, state, mon } = setup();
    const s = new FakeStream();
    let ended = 0;
    mon.register(s, () => ended++);
    state.leader = false;
    await clock.advance(10 * interval);
    expect(ended).toBe(1);
    expect(s.errors).toHaveLength(0);
    mon.stop();
  });
});

describe('guardCalls', () => {
  const guards = (leader: boolean, learner = false) => {
    const mon = new RequireLeaderMonitor({ clock: new ManualClock(), hasLeader: () => leader, intervalMs: interval });
    return { mon, g: { isLearner: () => learner, hasLeader: () => leader, requireLeader: mon } };
  };
  const impl = () => {
    const calls: string[] = [];
    return {
      calls,
      impl: {
        put(_c: unknown, cb: (e: unknown, r?: unknown) => void) {
          calls.push('put');
          cb(null, {});
        },
        watch(_c: unknown) {
          calls.push('watch');
        },
      },
    };
  };

  it('refuses a unary call with hasleader at once when there is no leader, and lets others through', () => {
    const { g } = guards(false);
    const { calls, impl: i } = impl();
    const w = guardCalls(i, g);
    const errs: ServiceError[] = [];
    w.put({ metadata: withLeaderMd() } as never, (e) => e && errs.push(e as ServiceError));
    expect(calls).toEqual([]);
    expect(errs[0].code).toBe(status.UNAVAILABLE);
    expect(errs[0].details).toBe(ErrorText.NoLeader);
    w.put({ metadata: new Metadata() } as never, () => undefined);
    w.put({ metadata: withLeaderMd('false') } as never, () => undefined);
    expect(calls).toEqual(['put', 'put']);
  });

  it('refuses a hasleader stream at open without a leader; registers it with one; leaves other streams alone', () => {
    const none = guards(false);
    const { calls, impl: i } = impl();
    const s = new FakeStream(withLeaderMd());
    guardCalls(i, none.g).watch(s as never);
    expect(calls).toEqual([]);
    expect(s.errors[0].details).toBe(ErrorText.NoLeader);

    const some = guards(true);
    const w = guardCalls(i, some.g);
    const s2 = new FakeStream(withLeaderMd());
    w.watch(s2 as never);
    w.watch(new FakeStream() as never);
    expect(calls).toEqual(['watch', 'watch']);
    expect(some.mon.size).toBe(1);
    s2.emit('close');
    expect(some.mon.size).toBe(0);
  });

  it('checks learner rules first, as etcd', () => {
    const { g } = guards(false, true);
    const { impl: i } = impl();
    const errs: ServiceError[] = [];
    guardCalls(i, g).put({ metadata: withLeaderMd() } as never, (e) => e && errs.push(e as ServiceError));
    expect(errs[0].details).toBe(ErrorText.NotSupportedForLearner);
    // A learner's stream ends with the status too (an 'error' on the call, which grpc-js sends).
    const s = new FakeStream(withLeaderMd());
    guardCalls(i, g).watch(s as never);
    expect(s.errors[0].details).toBe(ErrorText.NotSupportedForLearner);
  });
});

describe('require-leader over gRPC', () => {
  let h: Harness;
  let server: Server;
  let watch: etcdserverpb.WatchClient;
  let lease: etcdserverpb.LeaseClient;
  const clock = new ManualClock();
  const state = { leader: true };
  const mon = new RequireLeaderMonitor({ clock, hasLeader: () => state.leader, intervalMs: interval });

  beforeAll(async () => {
    h = await startHarness();
    // The member's real Watch and Lease services behind the guard, on a gRPC server of our own
    // whose leader the test decides (a one-member cluster always has one).
    const g = { isLearner: () => false, hasLeader: () => state.leader, requireLeader: mon };
    server = new Server();
    server.addService(...strictService(etcdserverpb.WatchService, guardCalls(watchService(h.server.member), g)));
    server.addService(...strictService(etcdserverpb.LeaseService, guardCalls(leaseService(h.server.member), g)));
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    watch = new etcdserverpb.WatchClient(`127.0.0.1:${port}`, credentials.createInsecure());
    lease = new etcdserverpb.LeaseClient(`127.0.0.1:${port}`, credentials.createInsecure());
    mon.start();
  });
  afterAll(async () => {
    mon.stop();
    watch?.close();
    lease?.close();
    server?.forceShutdown();
    await h?.close();
  });

  /** Opens a watch on `key`; resolves once created. */
  const openWatch = async (md: Metadata) => {
    const stream = watch.watch(md);
    const got: etcdserverpb.WatchResponse[] = [];
    const ended: { err?: ServiceError } = {};
    stream.on('data', (r: etcdserverpb.WatchResponse) => got.push(r));
    stream.on('error', (e: ServiceError) => (ended.err = e));
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b('rl') } }));
    await until('watch created', async () => (got.some((r) => r.created) || ended.err ? true : undefined));
    return { stream, got, ended };
  };

  it('ends hasleader watch and keep-alive streams with Unavailable "etcdserver: no leader"; others stay open; new ones are refused', async () => {
    const required = await openWatch(withLeaderMd());
    const plain = await openWatch(new Metadata());
    const g = await call<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(h.lease, 'leaseGrant', { TTL: 60n, ID: 0n });
    const ka = lease.leaseKeepAlive(withLeaderMd());
    const kaGot: etcdserverpb.LeaseKeepAliveResponse[] = [];
    const kaEnded: { err?: ServiceError } = {};
    ka.on('data', (r: etcdserverpb.LeaseKeepAliveResponse) => kaGot.push(r));
    ka.on('error', (e: ServiceError) => (kaEnded.err = e));
    ka.write({ ID: g.ID });
    await until('keep-alive answered', async () => (kaGot.length > 0 ? true : undefined));
    expect(mon.size).toBe(2);

    state.leader = false;
    await clock.advance(maxNoLeaderChecks * interval);
    const wErr = await until('hasleader watch ended', async () => required.ended.err);
    expect(wErr.code).toBe(status.UNAVAILABLE);
    expect(wErr.details).toBe(ErrorText.NoLeader);
    const kErr = await until('hasleader keep-alive ended', async () => kaEnded.err);
    expect(kErr.code).toBe(status.UNAVAILABLE);
    expect(kErr.details).toBe(ErrorText.NoLeader);
    expect(mon.size).toBe(0);

    // Without a leader, a new hasleader stream is refused at once.
    const refused = watch.watch(withLeaderMd());
    const refusedErr = await new Promise<ServiceError>((resolve) => refused.on('error', resolve));
    expect(refusedErr.details).toBe(ErrorText.NoLeader);

    // The watch that did not ask for a leader still delivers events.
    await call(h.kv, 'put', etcdserverpb.PutRequest.fromPartial({ key: b('rl'), value: b('1') }));
    await until('plain watch event', async () => (plain.got.some((r) => r.events.length > 0) ? true : undefined));
    expect(plain.ended.err).toBeUndefined();

    // With a leader again, hasleader streams work.
    state.leader = true;
    await clock.advance(interval);
    const again = await openWatch(withLeaderMd());
    expect(again.ended.err).toBeUndefined();
    expect(mon.size).toBe(1);
    again.stream.cancel();
    plain.stream.end();
    await until('cancelled stream unregistered', async () => (mon.size === 0 ? true : undefined));
  });
});

describe('KvServer wiring', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => {
    await h?.close();
  });

  it('serves hasleader calls on a member with a leader, and forgets hasleader streams when they end', async () => {
    const md = withLeaderMd();
    const put = await new Promise<etcdserverpb.PutResponse>((resolve, reject) =>
      h.kv.put(etcdserverpb.PutRequest.fromPartial({ key: b('k'), value: b('v') }), md, (e, r) => (e ? reject(e) : resolve(r!))),
    );
    expect(put.header!.revision).toBeGreaterThan(0n);
    const stream = h.watch.watch(md);
    const got: etcdserverpb.WatchResponse[] = [];
    stream.on('data', (r: etcdserverpb.WatchResponse) => got.push(r));
    stream.on('error', () => undefined);
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b('k') } }));
    await until('watch created', async () => (got.some((r) => r.created) ? true : undefined));
    expect(h.server.requireLeader.size).toBe(1);
    stream.end(); // the client half-closes; the server ends its side
    await until('stream unregistered', async () => (h.server.requireLeader.size === 0 ? true : undefined));
  });
});

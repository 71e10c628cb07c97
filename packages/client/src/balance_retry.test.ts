// Endpoint balancing and retries against in-process fake members: grpc-js servers on loopback
// whose KV/Cluster handlers answer from a script, so every decision of the retry rules (etcd's
// repeatable / non-repeatable RPCs) and of the round robin can be checked exactly.
import { Server, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { ErrorText, etcdserverpb } from '@kv/api';
import { afterEach, describe, expect, it } from 'vitest';
import { backoffMs, DEFAULT_RETRY, isSafeRetry } from './retry.js';
import { channelOptionsFor } from './connection.js';
import {
  Client,
  OLD_CLUSTER_TEXT,
  Op,
  LeaderChangedError,
  NoLeaderError,
  UnavailableError,
  makeError,
  ServerTimeoutError,
} from './index.js';

type Script = { code: status; details: string }[];

/** One fake member: counts calls per method and fails the first calls as scripted. */
class FakeMember {
  readonly server = new Server();
  readonly calls = new Map<string, number>();
  /** The `hasleader` metadata of each call, in order. */
  readonly hasLeader: string[] = [];
  /** Failures to answer, in order, before answering normally (per method). */
  readonly script = new Map<string, Script>();
  endpoint = '';
  clientUrls: string[] = [];
  /** What Status reports as the server version. */
  version = '3.4.0';

  async start(): Promise<void> {
    const handle =
      <Req, Res>(method: string, ok: (req: Req) => Res) =>
      (call: ServerUnaryCall<Req, Res>, cb: sendUnaryData<Res>) => {
        this.calls.set(method, (this.calls.get(method) ?? 0) + 1);
        this.hasLeader.push(String(call.metadata.get('hasleader')[0] ?? '-'));
        const next = this.script.get(method)?.shift();
        if (next) cb({ code: next.code, details: next.details, name: 'Error', message: next.details }, null);
        else cb(null, ok(call.request));
      };
    const header = { clusterId: 1n, memberId: 1n, revision: 7n, raftTerm: 2n };
    this.server.addService(etcdserverpb.KVService, {
      range: handle('range', () => etcdserverpb.RangeResponse.fromPartial({ header, count: 0n })),
      put: handle('put', () => etcdserverpb.PutResponse.fromPartial({ header })),
      deleteRange: handle('deleteRange', () => etcdserverpb.DeleteRangeResponse.fromPartial({ header })),
      txn: handle('txn', () => etcdserverpb.TxnResponse.fromPartial({ header, succeeded: true })),
      compact: handle('compact', () => etcdserverpb.CompactionResponse.fromPartial({ header })),
    });
    this.server.addService(etcdserverpb.ClusterService, {
      memberList: handle('memberList', () =>
        etcdserverpb.MemberListResponse.fromPartial({
          header,
          members: [
            { ID: 1n, name: 'a', clientURLs: this.clientUrls },
            { ID: 2n, name: '', clientURLs: ['http://127.0.0.1:1'] }, // not started: no name
            { ID: 3n, name: 'l', clientURLs: ['http://127.0.0.1:2'], isLearner: true },
          ],
        }),
      ),
    } as never);
    this.server.addService(etcdserverpb.MaintenanceService, {
      status: handle('status', () => etcdserverpb.StatusResponse.fromPartial({ header, version: this.version })),
    } as never);
    const port = await new Promise<number>((res, rej) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
    );
    this.endpoint = `127.0.0.1:${port}`;
  }

  n(method: string): number {
    return this.calls.get(method) ?? 0;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.tryShutdown(() => r()));
  }
}

const fail = (text: string, code = status.UNAVAILABLE) => ({ code, details: text });

let members: FakeMember[] = [];
let clients: Client[] = [];

async function cluster(n: number): Promise<FakeMember[]> {
  members = await Promise.all(
    Array.from({ length: n }, async () => {
      const m = new FakeMember();
      await m.start();
      return m;
    }),
  );
  return members;
}

function client(endpoints: string[], extra: Partial<ConstructorParameters<typeof Client>[0]> = {}): Client {
  const c = new Client({ endpoints, dialTimeoutMs: 2000, retry: { backoffMs: 1 }, ...extra });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients) c.close();
  clients = [];
  await Promise.all(members.map((m) => m.stop()));
  members = [];
});

describe('retry rules (etcd retry.go)', () => {
  const err = (text: string, code = status.UNAVAILABLE) => makeError(code, text);
  it('repeatable calls retry on every UNAVAILABLE, non-repeatable only when never sent or refused before proposing', () => {
    const cases: [string, ReturnType<typeof err>, boolean, boolean][] = [
      ['leader changed', err(ErrorText.LeaderChanged), true, false],
      ['no leader', err(ErrorText.NoLeader), true, true],
      ['too many requests', err(ErrorText.TooManyRequests, status.RESOURCE_EXHAUSTED), true, true],
      ['request timed out', err(ErrorText.Timeout), true, false],
      ['connection refused', err('No connection established. Last error: connect ECONNREFUSED 127.0.0.1:1'), true, true],
      ['connection dropped', err('Connection dropped'), true, false],
      ['compacted', err(ErrorText.Compacted, status.OUT_OF_RANGE), false, false],
      ['deadline', err('Deadline exceeded', status.DEADLINE_EXCEEDED), false, false],
      ['not leader', err(ErrorText.NotLeader, status.FAILED_PRECONDITION), false, false],
      ['raft proposal dropped', err('raft proposal dropped', status.UNKNOWN), true, true],
    ];
    for (const [name, e, repeatable, mutable] of cases) {
      expect([name, isSafeRetry(e, true), isSafeRetry(e, false)]).toEqual([name, repeatable, mutable]);
    }
  });

  it('backs off only after each round of quorum-many attempts, by backoffMs ± jitter', () => {
    const lo = { float: () => 0 };
    const hi = { float: () => 0.999999 };
    // 3 endpoints: quorum 2, so the waits are after attempts 2, 4, 6...
    expect([1, 2, 3, 4].map((a) => backoffMs(DEFAULT_RETRY, a, 3, lo))).toEqual([0, 22.5, 0, 22.5]);
    expect(backoffMs(DEFAULT_RETRY, 2, 3, hi)).toBeCloseTo(27.5, 3);
    expect(backoffMs(DEFAULT_RETRY, 1, 1, lo)).toBe(22.5);
  });

  it('maps keepalive and message-size options to grpc-js channel options', () => {
    const o = channelOptionsFor({
      endpoints: ['x:1'],
      keepaliveTimeMs: 10_000,
      keepaliveTimeoutMs: 3_000,
      permitWithoutStream: true,
      maxCallSendMsgSize: 1024,
      maxCallRecvMsgSize: 4096,
    });
    expect(o).toMatchObject({
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 3_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.max_send_message_length': 1024,
      'grpc.max_receive_message_length': 4096,
    });
    expect(() => channelOptionsFor({ endpoints: ['x:1'], maxCallSendMsgSize: 10, maxCallRecvMsgSize: 5 })).toThrow(/must be greater/);
    expect(() => new Client({ endpoints: ['x:1'], retry: { maxAttempts: 0 } })).toThrow(RangeError);
  });
});

describe('balancing and retries on fake members', () => {
  it('spreads requests round robin over every endpoint', async () => {
    const ms = await cluster(3);
    const c = client(ms.map((m) => m.endpoint));
    for (let i = 0; i < 30; i++) await c.get('k');
    expect(ms.map((m) => m.n('range'))).toEqual([10, 10, 10]);
    expect(c.endpointStats().map((s) => s.sent)).toEqual([10, 10, 10]);
  });

  it("requireLeader sends etcd's hasleader metadata on every call; a call can turn it off", async () => {
    const ms = await cluster(1);
    await client(ms.map((m) => m.endpoint)).get('k');
    const c = client(
      ms.map((m) => m.endpoint),
      { requireLeader: true },
    );
    await c.get('k');
    await c.put('k', 'v');
    await c.get('k', { requireLeader: false });
    await client(ms.map((m) => m.endpoint)).put('k', 'v', { requireLeader: true });
    expect(ms[0]!.hasLeader).toEqual(['-', 'true', 'true', '-', 'true']);
  });

  it('retries a read after leader changed / no leader and succeeds on the next member', async () => {
    const ms = await cluster(3);
    ms[0]!.script.set('range', [fail(ErrorText.LeaderChanged)]);
    ms[1]!.script.set('range', [fail(ErrorText.NoLeader)]);
    const c = client(ms.map((m) => m.endpoint));
    const r = await c.get('k');
    expect(r.header!.revision).toBe(7n);
    expect(ms.map((m) => m.n('range'))).toEqual([1, 1, 1]);
  });

  it('does not repeat a put after leader changed, but does after no leader and too many requests', async () => {
    const ms = await cluster(1);
    const c = client([ms[0]!.endpoint]);
    ms[0]!.script.set('put', [fail(ErrorText.LeaderChanged)]);
    expect(await c.put('k', 'v').catch((e) => e)).toBeInstanceOf(LeaderChangedError);
    expect(ms[0]!.n('put')).toBe(1);
    ms[0]!.script.set('put', [fail(ErrorText.NoLeader), fail(ErrorText.TooManyRequests, status.RESOURCE_EXHAUSTED)]);
    await c.put('k', 'v');
    expect(ms[0]!.n('put')).toBe(4);
    // A writing txn is not repeatable; a read-only one is.
    ms[0]!.script.set('txn', [fail(ErrorText.Timeout)]);
    expect(
      await c
        .txn()
        .then(Op.put('k', 'v'))
        .commit()
        .catch((e) => e),
    ).toBeInstanceOf(ServerTimeoutError);
    ms[0]!.script.set('txn', [fail(ErrorText.Timeout)]);
    await c.txn().then(Op.get('k')).commit();
    expect(ms[0]!.n('txn')).toBe(3);
  });

  it('stops after maxAttempts, and at the deadline', async () => {
    const ms = await cluster(1);
    const c = client([ms[0]!.endpoint], { retry: { maxAttempts: 3, backoffMs: 1 } });
    ms[0]!.script.set(
      'range',
      Array.from({ length: 10 }, () => fail(ErrorText.NoLeader)),
    );
    expect(await c.get('k').catch((e) => e)).toBeInstanceOf(NoLeaderError);
    expect(ms[0]!.n('range')).toBe(3);
    const d = client([ms[0]!.endpoint], { retry: { maxAttempts: 1_000_000, backoffMs: 20 } });
    ms[0]!.script.set(
      'range',
      Array.from({ length: 100_000 }, () => fail(ErrorText.LeaderChanged)),
    );
    const e = await d.get('k', { timeoutMs: 300 }).catch((x) => x);
    expect(e.constructor.name).toBe('DeadlineExceededError');
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 100);
    expect((await d.get('k', { signal: ac.signal }).catch((x) => x)).constructor.name).toBe('CancelledError');
  });

  it('skips an endpoint that failed, then probes it again after its backoff', async () => {
    const ms = await cluster(2);
    // Real time plus an offset the test moves (grpc-js deadlines are real time).
    let offset = 0;
    const clock = {
      now: () => Date.now() + offset,
      setTimeout: (fn: () => void, ms: number) => setTimeout(fn, Math.min(ms, 5)),
      clearTimeout: (h: unknown) => clearTimeout(h as NodeJS.Timeout),
    };
    const dead = ms[1]!;
    const c = client([ms[0]!.endpoint, dead.endpoint], { clock, unhealthyBackoffMs: 1000 });
    await c.get('k');
    await c.get('k');
    expect([ms[0]!.n('range'), dead.n('range')]).toEqual([1, 1]);
    dead.script.set('range', [fail(ErrorText.NoLeader)]);
    await c.get('k'); // goes to ms[0]
    await c.get('k'); // dead answers no leader, marked unhealthy; retried on ms[0]
    expect([ms[0]!.n('range'), dead.n('range')]).toEqual([3, 2]);
    expect(c.endpointStats()[1]!.healthy).toBe(false);
    for (let i = 0; i < 4; i++) await c.get('k');
    expect(dead.n('range')).toBe(2); // skipped during its backoff
    offset += 1001;
    for (let i = 0; i < 4; i++) await c.get('k');
    expect(dead.n('range')).toBe(4); // probed and back in the rotation
  });

  it('fails fast with UnavailableError when no endpoint can be reached and no deadline is set', async () => {
    const ms = await cluster(1);
    const ep = ms[0]!.endpoint;
    await ms[0]!.stop();
    members = [];
    const c = client([ep], { dialTimeoutMs: 500 });
    expect(await c.get('k').catch((e) => e)).toBeInstanceOf(UnavailableError);
  });

  it('rejectOldCluster: refuses every call unless some endpoint runs 3.2 or newer', async () => {
    const ms = await cluster(2);
    ms[0]!.version = '3.1.9';
    ms[1]!.version = '3.0.0';
    const old = client(
      ms.map((m) => m.endpoint),
      { rejectOldCluster: true },
    );
    const e = await old.get('k').catch((x) => x);
    expect(e.message).toBe(OLD_CLUSTER_TEXT);
    expect(ms[0]!.n('range') + ms[1]!.n('range')).toBe(0);
    ms[1]!.version = '3.2.0';
    const ok = client(
      ms.map((m) => m.endpoint),
      { rejectOldCluster: true },
    );
    await ok.get('k');
    expect(ms[0]!.n('status') + ms[1]!.n('status')).toBe(4);
  });

  it('sync() replaces the endpoints with the started voters; autoSync does it on a timer', async () => {
    const ms = await cluster(2);
    ms[0]!.clientUrls = [`http://${ms[1]!.endpoint}`];
    const c = client([ms[0]!.endpoint]);
    expect(await c.sync()).toEqual([`http://${ms[1]!.endpoint}`]);
    await c.get('k');
    expect(ms[1]!.n('range')).toBe(1);

    ms[1]!.clientUrls = [`http://${ms[0]!.endpoint}`, `http://${ms[1]!.endpoint}`];
    const auto = client([ms[1]!.endpoint], { autoSyncIntervalMs: 20 });
    const t0 = Date.now();
    while (auto.endpoints.length !== 2 && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(auto.endpoints).toEqual(ms[1]!.clientUrls);
    // The timer keeps going: a further sync reaches one of the two members.
    const syncs = () => ms[0]!.n('memberList') + ms[1]!.n('memberList');
    const before = syncs();
    while (syncs() === before && Date.now() - t0 < 10_000) await new Promise((r) => setTimeout(r, 20));
    expect(syncs()).toBeGreaterThan(before);
  });
});

// LeaseKeepAlive against in-process fake members (grpc-js servers on loopback whose LeaseKeepAlive
// handler follows a script), for the rules of etcd's clientv3 lessor (lease.go): a stream that
// ends with any status is opened again on another endpoint, an unanswered renewal is sent again
// every 500 ms, the keep-alive ends only at its deadline (no answer within the TTL) or on TTL <= 0,
// and the stream carries require-leader metadata.
import { Server, ServerCredentials, status, type ServerDuplexStream } from '@grpc/grpc-js';
import { etcdserverpb } from '@kv/api';
import { afterEach, describe, expect, it } from 'vitest';
import { Client } from './index.js';

type Behaviour =
  /** Answer every request with this TTL. */
  | { answer: bigint }
  /** End the stream with this status at the first request. */
  | { fail: { code: status; details: string } }
  /** Answer the first request with this TTL, then never again (a member that took the request but cannot answer). */
  | { answerOnce: bigint };

class FakeLeaseMember {
  readonly server = new Server();
  endpoint = '';
  /** Requests received, per stream opened. */
  readonly streams: { requests: bigint[]; hasleader: string[] }[] = [];

  constructor(private readonly behaviour: Behaviour) {}

  async start(): Promise<void> {
    const header = { clusterId: 1n, memberId: 1n, revision: 1n, raftTerm: 1n };
    this.server.addService(etcdserverpb.LeaseService, {
      leaseKeepAlive: (call: ServerDuplexStream<etcdserverpb.LeaseKeepAliveRequest, etcdserverpb.LeaseKeepAliveResponse>) => {
        const rec = { requests: [] as bigint[], hasleader: call.metadata.get('hasleader').map(String) };
        this.streams.push(rec);
        call.on('data', (req: etcdserverpb.LeaseKeepAliveRequest) => {
          rec.requests.push(req.ID);
          const b = this.behaviour;
          if ('fail' in b) {
            if (rec.requests.length === 1) call.emit('error', Object.assign(new Error(b.fail.details), b.fail));
          } else if ('answer' in b) call.write({ header, ID: req.ID, TTL: b.answer });
          else if (rec.requests.length === 1) call.write({ header, ID: req.ID, TTL: b.answerOnce });
        });
        call.on('end', () => call.end());
        call.on('error', () => undefined);
      },
    } as never);
    const port = await new Promise<number>((res, rej) =>
      this.server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))),
    );
    this.endpoint = `127.0.0.1:${port}`;
  }

  stop(): Promise<void> {
    return new Promise((r) => this.server.tryShutdown(() => r()));
  }
}

let members: FakeLeaseMember[] = [];
let clients: Client[] = [];

async function member(b: Behaviour): Promise<FakeLeaseMember> {
  const m = new FakeLeaseMember(b);
  await m.start();
  members.push(m);
  return m;
}

function client(endpoints: string[]): Client {
  const c = new Client({ endpoints, dialTimeoutMs: 2000 });
  clients.push(c);
  return c;
}

afterEach(async () => {
  for (const c of clients) c.close();
  clients = [];
  await Promise.all(members.map((m) => m.stop()));
  members = [];
});

describe('LeaseKeepAlive (etcd lease.go rules)', () => {
  it('a stream ended with any status is opened again on another endpoint, and the lease stays alive', async () => {
    // etcd's follower answers `request cancelled` (CANCELLED) or `request timed out` when it
    // could not reach a leader: neither may end the keep-alive.
    const a = await member({ fail: { code: status.CANCELLED, details: 'etcdserver: request cancelled' } });
    const b = await member({ answer: 3n });
    const ka = client([a.endpoint, b.endpoint]).lease.keepAlive(9n);
    const answers: bigint[] = [];
    for await (const r of ka) {
      answers.push(r.TTL);
      if (answers.length === 2) break; // the second one is a renewal TTL/3 after the first
    }
    expect(answers).toEqual([3n, 3n]);
    expect(a.streams.length).toBeGreaterThanOrEqual(1);
    expect(b.streams.length).toBeGreaterThanOrEqual(1);
    // Every stream asks for a leader, as etcd's client does (WithRequireLeader).
    for (const s of [...a.streams, ...b.streams]) expect(s.hasleader).toEqual(['true']);
  });

  it('an unanswered renewal is sent again on the same stream, and the keep-alive ends at its deadline', async () => {
    const a = await member({ answerOnce: 2n });
    const ka = client([a.endpoint]).lease.keepAlive(9n);
    const answers: bigint[] = [];
    for await (const r of ka) answers.push(r.TTL); // ends by itself: no answer within 2 s
    await ka.done;
    expect(answers).toEqual([2n]);
    expect(a.streams).toHaveLength(1);
    // Due TTL/3 after the answer, then every 500 ms until the deadline: at least two resends.
    expect(a.streams[0]!.requests.length).toBeGreaterThanOrEqual(3);
    expect(new Set(a.streams[0]!.requests)).toEqual(new Set([9n]));
  });
});

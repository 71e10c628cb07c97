// The peer transport over real loopback sockets: batching and order, large batches, reconnects
// with backoff, unreachable reporting, since when a peer is active, cluster-id and sender checks, snapshot streaming beside
// heartbeats, garbage on the peer port, and peer TLS with certificates made by the openssl CLI (the test kit's makeTestCerts).
import { etcdserverpb, raftpb } from '@kv/api';
import { createHash, randomBytes } from 'node:crypto';
import { freePort, makeTestCerts, opensslUnavailable } from '@kv/testkit';
import { mkdtempSync, rmSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { connect as h2connect, constants as h2 } from 'node:http2';
import { connect as netConnect, createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ClientListener } from '../listener.js';
import { encodeFrames } from './framing.js';
import { realTimers, type Timers } from './backoff.js';
import { createPeerListener } from './peer_listener.js';
import type { PeerTls } from './tls.js';
import { Transport, type TransportOptions } from './transport.js';
import { headerClusterId, headerFrom, headerTo } from './wire.js';

type SnapshotFn = (msg: raftpb.Message, data: AsyncIterable<Buffer>) => Promise<void>;
type LogLine = { level: number; msg: string; [k: string]: unknown };

interface TestNode {
  id: bigint;
  t: Transport;
  listener: ClientListener;
  port: number;
  url: string;
  batches: raftpb.Message[][];
  unreachable: bigint[];
  snapStatus: [bigint, boolean][];
  removedBy: bigint[];
  logs: LogLine[];
  onSnapshot: SnapshotFn;
  received(): raftpb.Message[];
  close(): Promise<void>;
}

interface NodeOptions {
  clusterId?: bigint;
  port?: number;
  tls?: PeerTls;
  transport?: Partial<TransportOptions>;
}

const open = new Set<TestNode>();

async function startNode(id: bigint, o: NodeOptions = {}): Promise<TestNode> {
  const logs: LogLine[] = [];
  const logger = pino({ level: 'debug' }, { write: (s: string) => void logs.push(JSON.parse(s) as LogLine) });
  const node = {
    id,
    batches: [] as raftpb.Message[][],
    unreachable: [] as bigint[],
    snapStatus: [] as [bigint, boolean][],
    removedBy: [] as bigint[],
    logs,
    onSnapshot: (async (_m, data) => {
      for await (const _ of data);
    }) as SnapshotFn,
    received() {
      return this.batches.flat();
    },
  } as TestNode;
  const t = new Transport({
    memberId: id,
    clusterId: o.clusterId ?? 0xc105n,
    logger,
    tls: o.tls,
    backoff: { baseMs: 20, maxMs: 200 },
    pingIntervalMs: 1000,
    handler: {
      onMessages: (msgs) => void node.batches.push(msgs),
      onSnapshot: (msg, data) => node.onSnapshot(msg, data),
      onUnreachable: (peer) => void node.unreachable.push(peer),
      onSnapshotStatus: (peer, ok) => void node.snapStatus.push([peer, ok]),
      onRemoved: (peer) => void node.removedBy.push(peer),
    },
    ...o.transport,
  });
  const scheme = o.tls ? 'https' : 'http';
  const listener = createPeerListener({
    url: `${scheme}://127.0.0.1:${o.port ?? 0}`,
    transport: t,
    tls: o.tls,
    logger,
    http: (req, res) => {
      if (req.url === '/version') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ etcdserver: '3.4.0', etcdcluster: '3.4.0' }));
      } else {
        res.writeHead(404);
        res.end();
      }
    },
  });
  const port = await listener.listen();
  Object.assign(node, {
    t,
    listener,
    port,
    url: `${scheme}://127.0.0.1:${port}`,
    async close() {
      open.delete(node);
      await listener.close();
      await t.stop();
    },
  });
  open.add(node);
  return node;
}

afterAll(async () => {
  for (const n of [...open]) await n.close();
});

async function until<T>(what: string, fn: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const turn = () => new Promise<void>((r) => setImmediate(r));
const msg = (from: bigint, to: bigint, index: number, extra: Partial<raftpb.Message> = {}) =>
  raftpb.Message.fromPartial({ type: raftpb.MessageType.MsgApp, from, to, term: 1n, index: BigInt(index), ...extra });
/** Metadata every MsgSnap needs to pass the receiver's checks (validate.ts). */
const snapMeta = raftpb.Snapshot.fromPartial({ metadata: { index: 5n, term: 1n, confState: { voters: [1n] } } });
const indexes = (ms: raftpb.Message[]) => ms.map((m) => Number(m.index));
const range = (a: number, b: number) => Array.from({ length: b - a }, (_, i) => a + i);

async function pair(a: TestNode, b: TestNode): Promise<void> {
  a.t.addPeer(b.id, [b.url]);
  b.t.addPeer(a.id, [a.url]);
  await until('streams up', () => a.t.isActive(b.id) && b.t.isActive(a.id));
}

describe('peer transport', () => {
  it('exchanges messages in order, one frame per event-loop turn', async () => {
    const a = await startNode(1n);
    const b = await startNode(2n);
    await pair(a, b);
    for (let i = 0; i < 100; i++) a.t.send([msg(1n, 2n, i)]);
    b.t.send(range(0, 10).map((i) => msg(2n, 1n, i, { type: raftpb.MessageType.MsgAppResp })));
    await until('100 at b', () => b.received().length === 100);
    await until('10 at a', () => a.received().length === 10);
    expect(indexes(b.received())).toEqual(range(0, 100));
    expect(b.batches).toHaveLength(1);
    expect(indexes(a.received())).toEqual(range(0, 10));
    a.t.send(range(100, 105).map((i) => msg(1n, 2n, i)));
    await turn();
    a.t.send(range(105, 110).map((i) => msg(1n, 2n, i)));
    await until('110 at b', () => b.received().length === 110);
    expect(b.batches.slice(1).map((x) => x.length)).toEqual([5, 5]);
    expect(a.unreachable).toEqual([]);
    await a.close();
    await b.close();
  }, 60_000);

  it('keeps per-sender order among three members', async () => {
    const ids = [11n, 12n, 13n];
    const ns = await Promise.all(ids.map((id) => startNode(id)));
    for (const x of ns) for (const y of ns) if (x !== y) x.t.addPeer(y.id, [y.url]);
    await until('all streams up', () => ns.every((x) => ns.every((y) => x === y || x.t.isActive(y.id))));
    for (let k = 0; k < 30; k++) {
      for (const x of ns) x.t.send(ns.filter((y) => y !== x).flatMap((y) => range(k * 10, k * 10 + 10).map((i) => msg(x.id, y.id, i))));
      await turn();
    }
    await until('600 each', () => ns.every((n) => n.received().length === 600));
    for (const y of ns) {
      for (const x of ns) {
        if (x === y) continue;
        expect(indexes(y.received().filter((m) => m.from === x.id))).toEqual(range(0, 300));
      }
    }
    for (const n of ns) await n.close();
  }, 60_000);

  it('splits large batches into frames under the cap and delivers them all', async () => {
    const a = await startNode(21n, { transport: { maxFrameBytes: 256 * 1024 } });
    const b = await startNode(22n);
    await pair(a, b);
    // Entry data must be a request (the receiver checks it decodes: validate.ts).
    const data = (i: number) =>
      Buffer.from(
        etcdserverpb.InternalRaftRequest.encode(
          etcdserverpb.InternalRaftRequest.fromPartial({ put: { key: Buffer.from('k'), value: Buffer.alloc(1024, i & 0xff) } }),
        ).finish(),
      );
    const entry = (i: number) => raftpb.Entry.fromPartial({ Index: BigInt(i), Term: 1n, Data: data(i) });
    a.t.send(range(0, 3000).map((i) => msg(21n, 22n, i, { entries: [entry(i + 1)] })));
    await until('3000 at b', () => b.received().length === 3000);
    expect(indexes(b.received())).toEqual(range(0, 3000));
    expect(b.batches.length).toBeGreaterThan(10);
    expect(b.received()[2999].entries[0].Data.equals(data(3000))).toBe(true);
    // One message bigger than a frame is dropped and reported, and the stream goes on.
    a.t.send([msg(21n, 22n, 5000, { context: Buffer.alloc(300 * 1024) }), msg(21n, 22n, 5001)]);
    await until('5001 at b', () => b.received().some((m) => m.index === 5001n));
    expect(b.received().some((m) => m.index === 5000n)).toBe(false);
    expect(a.unreachable).toEqual([22n]);
    await a.close();
    await b.close();
  }, 60_000);

  it('drops what overflows the queue and reports the peer unreachable', async () => {
    const a = await startNode(31n, { transport: { maxQueuedMessages: 10 } });
    const b = await startNode(32n);
    await pair(a, b);
    a.t.send(range(0, 25).map((i) => msg(31n, 32n, i)));
    expect(a.unreachable).toEqual([32n]);
    await until('10 at b', () => b.received().length === 10);
    expect(indexes(b.received())).toEqual(range(0, 10));
    await a.close();
    await b.close();
  }, 60_000);

  it('reports a peer that cannot be reached, and keeps retrying', async () => {
    const a = await startNode(41n);
    const port = await freePort();
    a.t.addPeer(49n, [`http://127.0.0.1:${port}`]);
    a.t.send([msg(41n, 49n, 1)]);
    await until('unreachable', () => a.unreachable.includes(49n));
    await until('dropped while down', () => {
      a.t.send([msg(41n, 49n, 2)]);
      return a.unreachable.length >= 3;
    });
    expect(a.logs.some((l) => l.msg === 'failed to connect to peer')).toBe(true);
    // Snapshots to a peer that is down fail and say so.
    a.t.sendSnapshot(msg(41n, 49n, 0, { type: raftpb.MessageType.MsgSnap, snapshot: snapMeta }), async function* () {
      yield Buffer.alloc(10);
    });
    await until('snapshot status', () => a.snapStatus.length === 1);
    expect(a.snapStatus).toEqual([[49n, false]]);
    // New URLs take effect at once, without waiting out the backoff.
    const b = await startNode(49n);
    b.t.addPeer(41n, [a.url]);
    a.t.updatePeer(49n, [b.url]);
    await until('connected after update', () => a.t.isActive(49n));
    a.t.send([msg(41n, 49n, 3)]);
    await until('delivered after update', () => b.received().length === 1);
    await a.close();
    await b.close();
  }, 60_000);

  it('reconnects with exponential backoff after a peer restart and resumes delivery', async () => {
    const delays: number[] = [];
    const timers: Timers = {
      setTimeout: (fn, ms) => {
        delays.push(ms);
        return realTimers.setTimeout(fn, ms);
      },
      clearTimeout: (h) => realTimers.clearTimeout(h),
    };
    const a = await startNode(51n, { transport: { timers, backoff: { baseMs: 20, maxMs: 200, random: () => 0.5 } } });
    let b = await startNode(52n);
    await pair(a, b);
    a.t.send(range(0, 5).map((i) => msg(51n, 52n, i)));
    await until('5 at b', () => b.received().length === 5);
    const port = b.port;
    await b.close();
    await until('a notices', () => !a.t.isActive(52n) && a.unreachable.includes(52n));
    // The backoff delays (all far below the 5 s dial timeout and 1 s ping interval) grow.
    await until('several failed attempts', () => delays.includes(120));
    b = await startNode(52n, { port });
    b.t.addPeer(51n, [a.url]);
    let i = 100;
    await until('delivery resumes', () => {
      a.t.send([msg(51n, 52n, i++)]);
      return b.received().length > 0;
    });
    const backoffs = delays.filter((d) => d < 1000);
    expect(backoffs.slice(0, 4)).toEqual([15, 30, 60, 120]);
    for (const d of backoffs) expect([15, 30, 60, 120, 150]).toContain(d);
    expect(a.logs.some((l) => l.msg === 'peer became active')).toBe(true);
    const got = indexes(b.received());
    expect(got).toEqual([...got].sort((x, y) => x - y));
    await a.close();
    await b.close();
  }, 60_000);

  it('reports since when each peer has been active, on the injected clock, reset by every break', async () => {
    let now = 1_000;
    const a = await startNode(61n, { transport: { now: () => now } });
    let b = await startNode(62n);
    expect(a.t.activeSince(62n)).toBeUndefined(); // unknown peer
    await pair(a, b);
    expect(a.t.activeSince(62n)).toBe(1_000);
    now = 9_000; // time passing does not move it
    expect(a.t.activeSince(62n)).toBe(1_000);
    const port = b.port;
    await b.close();
    await until('a notices', () => !a.t.isActive(62n));
    expect(a.t.activeSince(62n)).toBeUndefined();
    now = 12_000;
    b = await startNode(62n, { port });
    b.t.addPeer(61n, [a.url]);
    await until('a reconnects', () => a.t.isActive(62n));
    expect(a.t.activeSince(62n)).toBe(12_000);
    a.t.removePeer(62n);
    expect(a.t.activeSince(62n)).toBeUndefined();
    await a.close();
    await b.close();
  }, 60_000);

  it('notices a silent peer by ping, times out dials, and closes silent incoming sessions', async () => {
    // A TCP relay in front of b that can go silent: it keeps connections open but forwards nothing.
    let frozen = false;
    const b = await startNode(112n, { transport: { idleTimeoutMs: 600 } });
    const sockets = new Set<import('node:net').Socket>();
    const relay = createNetServer((client) => {
      sockets.add(client);
      client.on('error', () => {});
      client.on('close', () => sockets.delete(client));
      if (frozen) return; // accept, never answer
      const upstream = netConnect(b.port, '127.0.0.1');
      sockets.add(upstream);
      upstream.on('error', () => client.destroy());
      upstream.on('close', () => sockets.delete(upstream));
      client.on('error', () => upstream.destroy());
      client.on('data', (d) => void (frozen || upstream.write(d)));
      upstream.on('data', (d) => void (frozen || client.write(d)));
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const relayUrl = `http://127.0.0.1:${(relay.address() as { port: number }).port}`;
    try {
      const a = await startNode(111n, { transport: { pingIntervalMs: 200, dialTimeoutMs: 300 } });
      a.t.addPeer(112n, [relayUrl]);
      b.t.addPeer(111n, [a.url]);
      await until('stream up', () => a.t.isActive(112n));
      a.t.send([msg(111n, 112n, 1)]);
      await until('delivered', () => b.received().length === 1);
      frozen = true;
      await until('ping failure', () =>
        a.logs.find((l) => l.msg === 'lost the message stream to the peer' && String(l.reason).includes('ping')),
      );
      expect(a.unreachable).toContain(112n);
      await until('dial timeout', () => a.logs.find((l) => String(l.reason).includes('within 300 ms')));
      await until('receiver closed the silent session', () => b.logs.find((l) => l.msg === 'closing silent peer session'));
      frozen = false;
      await until('back', () => a.t.isActive(112n), 30_000);
      a.t.send([msg(111n, 112n, 2)]);
      await until('delivered again', () => b.received().length === 2);
      await a.close();
      await b.close();
    } finally {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => relay.close(() => r()));
    }
  }, 60_000);

  it('rejects a cluster ID mismatch, logging it on both sides', async () => {
    const a = await startNode(61n, { clusterId: 0xaaan });
    const b = await startNode(62n, { clusterId: 0xbbbn });
    a.t.addPeer(62n, [b.url]);
    b.t.addPeer(61n, [a.url]);
    a.t.send([msg(61n, 62n, 1)]);
    await until('receiver log', () => b.logs.find((l) => l.msg === 'request cluster ID mismatch'));
    const sent = await until('sender log', () => a.logs.find((l) => l.level === 50 && l.msg.includes('cluster ID mismatch')));
    expect(sent.msg).toBe('request sent was ignored (cluster ID mismatch: remote[3e]=bbb, local=aaa)');
    const got = b.logs.find((l) => l.msg === 'request cluster ID mismatch')!;
    expect(got['remote-peer-cluster-id']).toBe('aaa');
    expect(got['local-member-cluster-id']).toBe('bbb');
    await until('unreachable', () => a.unreachable.includes(62n));
    expect(b.received()).toEqual([]);
    expect(a.t.isActive(62n)).toBe(false);
    await a.close();
    await b.close();
  }, 60_000);

  it('rejects unknown senders and tells removed members', async () => {
    const a = await startNode(71n);
    const b = await startNode(72n);
    a.t.addPeer(72n, [b.url]);
    a.t.send([msg(71n, 72n, 1)]);
    await until('receiver log', () => b.logs.find((l) => l.msg === 'failed to find remote peer in cluster'));
    await until('sender log', () => a.logs.find((l) => l.msg.includes('error sender not found')));
    expect(b.received()).toEqual([]);
    b.t.removePeer(71n);
    await until('removed', () => a.removedBy.includes(72n));
    expect(a.logs.some((l) => l.msg === 'the peer reports this member as removed from the cluster')).toBe(true);
    await a.close();
    await b.close();
  }, 60_000);

  it('streams a multi-megabyte snapshot while heartbeats keep flowing', async () => {
    const a = await startNode(81n);
    const b = await startNode(82n);
    await pair(a, b);
    const snapshot = randomBytes(6 * 1024 * 1024 + 123);
    const want = createHash('sha256').update(snapshot).digest('hex');
    let installed: { hash: string; index: bigint; from: bigint } | undefined;
    b.onSnapshot = async (m, data) => {
      const h = createHash('sha256');
      let first = true;
      for await (const chunk of data) {
        h.update(chunk);
        if (first) {
          first = false;
          // Stall the snapshot until a heartbeat sent after it started has arrived.
          await until('heartbeat during snapshot', () => b.received().some((x) => x.type === raftpb.MessageType.MsgHeartbeat));
        }
      }
      installed = { hash: h.digest('hex'), index: m.snapshot!.metadata!.index, from: m.from };
    };
    const snapMsg = msg(81n, 82n, 0, {
      type: raftpb.MessageType.MsgSnap,
      term: 3n,
      snapshot: raftpb.Snapshot.fromPartial({ metadata: { index: 42n, term: 3n, confState: { voters: [81n, 82n] } } }),
    });
    a.t.sendSnapshot(snapMsg, async function* () {
      for (let i = 0; i < snapshot.length; i += 64 * 1024) yield snapshot.subarray(i, i + 64 * 1024);
    });
    await until('snapshot started', () => b.logs.find((l) => l.msg === 'receiving database snapshot'));
    a.t.send([msg(81n, 82n, 0, { type: raftpb.MessageType.MsgHeartbeat })]);
    await until('status at sender', () => a.snapStatus.length === 1);
    expect(a.snapStatus).toEqual([[82n, true]]);
    expect(installed).toEqual({ hash: want, index: 42n, from: 81n });
    expect(
      b.logs.some((l) => l.msg === 'received and saved database snapshot' && l['incoming-snapshot-size-bytes'] === snapshot.length),
    ).toBe(true);

    // The receiver fails to install: the sender hears failure.
    b.onSnapshot = async (_m, data) => {
      for await (const _ of data);
      throw new Error('disk full');
    };
    a.t.sendSnapshot(snapMsg, async function* () {
      yield snapshot.subarray(0, 1024 * 1024);
    });
    await until('failure status', () => a.snapStatus.length === 2);
    expect(a.snapStatus[1]).toEqual([82n, false]);
    expect(a.logs.some((l) => l.msg === 'failed to send database snapshot' && String(l.reason).includes('disk full'))).toBe(true);

    // The sender's source breaks off: the receiver never sees a complete snapshot.
    let receiverSaw: 'complete' | 'error' | undefined;
    b.onSnapshot = async (_m, data) => {
      try {
        for await (const _ of data);
        receiverSaw = 'complete';
      } catch (err) {
        receiverSaw = 'error';
        throw err;
      }
    };
    a.t.sendSnapshot(snapMsg, async function* () {
      yield snapshot.subarray(0, 512 * 1024);
      throw new Error('backend read failed');
    });
    await until('broken transfer status', () => a.snapStatus.length === 3);
    expect(a.snapStatus[2]).toEqual([82n, false]);
    await until('receiver outcome', () => receiverSaw);
    expect(receiverSaw).toBe('error');
    // The message stream was never disturbed.
    expect(a.t.isActive(82n)).toBe(true);
    await a.close();
    await b.close();
  }, 60_000);

  it('drops a forged heartbeat at term 2^64-1 from a known sender; the rest of its frame and stream arrive', async () => {
    const a = await startNode(95n);
    const b = await startNode(96n);
    await pair(a, b);
    const session = h2connect(`http://127.0.0.1:${b.port}`);
    session.on('error', () => {});
    const st = session.request({
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [h2.HTTP2_HEADER_PATH]: '/raft/stream',
      [headerClusterId]: 0xc105n.toString(16),
      [headerFrom]: '5f',
      [headerTo]: '60',
    });
    st.on('error', () => {});
    st.on('data', () => {});
    const forged = msg(95n, 96n, 0, { type: raftpb.MessageType.MsgHeartbeat, term: (1n << 64n) - 1n });
    const enc = (m: raftpb.Message) => raftpb.Message.encode(m).finish();
    st.write(encodeFrames([enc(forged), enc(msg(95n, 96n, 3))], 1 << 20));
    await until('the valid message of the frame', () => b.received().length === 1);
    st.write(encodeFrames([enc(forged), enc(msg(95n, 96n, 4))], 1 << 20));
    await until('the valid message of the next frame, on the same stream', () => b.received().length === 2);
    expect(indexes(b.received())).toEqual([3, 4]);
    expect(b.received().every((m) => m.term === 1n)).toBe(true);
    // One warning for both (rate-limited per sender and type), naming the sender and the reason.
    const refusals = b.logs.filter((l) => l.msg === 'refused a raft message from a peer');
    expect(refusals).toHaveLength(1);
    expect(refusals[0]).toMatchObject({
      'remote-peer-id': '5f',
      'message-type': 'MsgHeartbeat',
      reason: 'message term 18446744073709551615 exceeds the maximum 9223372036854775807',
    });
    session.destroy();
    await a.close();
    await b.close();
  }, 60_000);

  it('survives garbage on the peer port and keeps serving', async () => {
    const a = await startNode(91n);
    const b = await startNode(92n);
    await pair(a, b);
    const raw = async (bytes: Buffer) => {
      const s = netConnect(b.port, '127.0.0.1');
      s.on('error', () => {});
      await new Promise<void>((r) => s.once('connect', () => r()));
      s.write(bytes);
      await new Promise((r) => setTimeout(r, 100));
      s.destroy();
    };
    await raw(randomBytes(4096));
    await raw(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), randomBytes(4096)]));
    // Well-formed HTTP/2 with the right headers, then a frame claiming 4 GiB, then junk protobuf.
    const session = h2connect(`http://127.0.0.1:${b.port}`);
    session.on('error', () => {});
    const headers = {
      [h2.HTTP2_HEADER_METHOD]: 'POST',
      [headerClusterId]: 0xc105n.toString(16),
      [headerFrom]: '5b',
      [headerTo]: '5c',
    };
    const statusOf = (path: string, body: Buffer) =>
      new Promise<number>((resolve) => {
        const st = session.request({ ...headers, [h2.HTTP2_HEADER_PATH]: path });
        let status = 0;
        st.on('response', (h) => void (status = Number(h[h2.HTTP2_HEADER_STATUS])));
        st.on('error', () => {});
        st.on('data', () => {});
        st.on('close', () => resolve(status));
        st.write(body);
        setTimeout(() => st.close(), 300);
      });
    expect(await statusOf('/raft/stream', Buffer.from([0xff, 0xff, 0xff, 0xff, 1, 2, 3]))).toBe(200);
    expect(await statusOf('/raft/stream', Buffer.from([0, 0, 0, 6, 0, 0, 0, 2, 0xff, 0xff]))).toBe(200);
    expect(await statusOf('/raft/snapshot', Buffer.from([0, 0, 0, 6, 0, 0, 0, 2, 0xff, 0xff]))).toBe(400);
    expect(await statusOf('/nope', Buffer.alloc(0))).toBe(404);
    session.destroy();
    expect(b.logs.filter((l) => l.msg === 'closing malformed message stream from peer')).toHaveLength(2);
    // HTTP/1 on the same port: /version for the caller, raft paths refused.
    const get = (path: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const req = httpRequest({ host: '127.0.0.1', port: b.port, path }, (res) => {
          let body = '';
          res.on('data', (c) => (body += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        req.on('error', reject);
        req.end();
      });
    expect(await get('/version')).toEqual({ status: 200, body: '{"etcdserver":"3.4.0","etcdcluster":"3.4.0"}' });
    expect((await get('/raft/stream')).status).toBe(426);
    // Nothing bad reached the handler, and real traffic still flows.
    expect(b.received()).toEqual([]);
    a.t.send([msg(91n, 92n, 7)]);
    await until('delivered', () => b.received().length === 1);
    expect(b.received()[0].index).toBe(7n);
    await a.close();
    await b.close();
  }, 60_000);
});

const opensslPresent = opensslUnavailable() === undefined;
if (!opensslPresent) console.warn('skipping peer TLS tests: the openssl CLI is not installed');

describe.skipIf(!opensslPresent)('peer transport over TLS', () => {
  let dir = '';
  let good: PeerTls;
  let rogue: PeerTls;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'kv-peer-tls-'));
    const certs = makeTestCerts(dir, {
      cas: ['good-ca', 'rogue-ca'],
      certs: [
        { name: 'peer', ca: 'good-ca' },
        { name: 'intruder', ca: 'rogue-ca' },
      ],
    });
    const peerTls = (name: string): PeerTls => {
      const c = certs.get(name);
      return { cert: c.cert, key: c.key, ca: c.ca, clientCertAuth: true };
    };
    good = peerTls('peer');
    rogue = peerTls('intruder');
  });
  afterAll(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('exchanges messages and snapshots over https with client certificates', async () => {
    const a = await startNode(101n, { tls: good });
    const b = await startNode(102n, { tls: good });
    expect(a.url.startsWith('https://')).toBe(true);
    await pair(a, b);
    a.t.send(range(0, 20).map((i) => msg(101n, 102n, i)));
    await until('20 at b', () => b.received().length === 20);
    expect(indexes(b.received())).toEqual(range(0, 20));
    const snapshot = randomBytes(1024 * 1024);
    let hash = '';
    b.onSnapshot = async (_m, data) => {
      const h = createHash('sha256');
      for await (const c of data) h.update(c);
      hash = h.digest('hex');
    };
    a.t.sendSnapshot(msg(101n, 102n, 0, { type: raftpb.MessageType.MsgSnap, snapshot: snapMeta }), async function* () {
      yield snapshot;
    });
    await until('snapshot status', () => a.snapStatus.length === 1);
    expect(a.snapStatus).toEqual([[102n, true]]);
    expect(hash).toBe(createHash('sha256').update(snapshot).digest('hex'));

    // A member whose certificate comes from another CA gets nowhere.
    const c = await startNode(103n, { tls: rogue });
    b.t.addPeer(103n, [c.url]);
    c.t.addPeer(102n, [b.url]);
    c.t.send([msg(103n, 102n, 1)]);
    await until('rogue unreachable', () => c.unreachable.includes(102n));
    expect(b.received().some((m) => m.from === 103n)).toBe(false);
    expect(c.t.isActive(102n)).toBe(false);
    // A plain-http peer URL for a TLS-only listener does not get through either.
    const d = await startNode(104n);
    b.t.addPeer(104n, [d.url]);
    d.t.addPeer(102n, [b.url.replace('https:', 'http:')]);
    d.t.send([msg(104n, 102n, 1)]);
    await until('plain unreachable', () => d.unreachable.includes(102n));
    expect(b.received().some((m) => m.from === 104n)).toBe(false);
    for (const n of [a, b, c, d]) await n.close();
  }, 60_000);
});

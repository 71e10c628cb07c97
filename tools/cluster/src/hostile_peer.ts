// A hostile peer: speaks just enough of kvd's peer protocol (HTTP/2 POST /raft/stream with the
// cluster id, sender and addressee headers, then length-prefixed frames of raftpb.Message) to
// deliver forged raft messages under the id of a real member. Tests use it to check that no
// message from the network can stop a member; the command line re-runs the attack by hand:
//
//   node tools/cluster/dist/hostile_peer.js 127.0.0.1:2379 [attack]
//
// (attack: max-term-heartbeat, the default, or any name in `attacks`.) The framing is written
// out here instead of imported from @kv/server so that a bug in one cannot hide the other.
import { connect, constants as h2 } from 'node:http2';
import { connect as tcpConnect } from 'node:net';
import { pathToFileURL } from 'node:url';
import { raftpb } from '@kv/api';
import { Client } from '@kv/client';

/** 2^64 − 1, the largest uint64. */
export const maxUint64 = (1n << 64n) - 1n;

/** One frame holding the given encoded messages (u32be length, then u32be-prefixed messages). */
export function peerFrame(msgs: readonly Uint8Array[]): Buffer {
  const parts = msgs.flatMap((m) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(m.length);
    return [len, Buffer.from(m)];
  });
  const payload = Buffer.concat(parts);
  const head = Buffer.alloc(4);
  head.writeUInt32BE(payload.length);
  return Buffer.concat([head, payload]);
}

/** A message's fields, any of them left out (zero); entries likewise. */
export type MessageFields = Omit<Partial<raftpb.Message>, 'entries'> & { entries?: Partial<raftpb.Entry>[] };

export function encodeMessage(m: MessageFields): Uint8Array {
  const entries = (m.entries ?? []).map((e) => ({ ...raftpb.Entry.fromPartial({}), ...e }));
  return raftpb.Message.encode({ ...raftpb.Message.fromPartial({}), ...m, entries }).finish();
}

/** Forged messages, each a function of (from, to) giving the bytes of one frame. */
export const attacks: Record<string, (from: bigint, to: bigint) => Buffer> = {
  /** Issue 5: a heartbeat whose term leaves no room for term + 1. */
  'max-term-heartbeat': (from, to) =>
    peerFrame([encodeMessage({ type: raftpb.MessageType.MsgHeartbeat, from, to, term: maxUint64, commit: 0n })]),
  /** A pre-vote and a vote at the largest term, claiming an equally absurd log. */
  'max-term-vote': (from, to) =>
    peerFrame([
      encodeMessage({ type: raftpb.MessageType.MsgPreVote, from, to, term: maxUint64, logTerm: maxUint64, index: maxUint64 }),
      encodeMessage({ type: raftpb.MessageType.MsgVote, from, to, term: maxUint64, logTerm: maxUint64, index: maxUint64 }),
    ]),
  /** An append at a huge (but not maximal) term with an index at the end of uint64. */
  'max-index-append': (from, to) =>
    peerFrame([
      encodeMessage({
        type: raftpb.MessageType.MsgApp,
        from,
        to,
        term: 1n << 62n,
        logTerm: 1n << 62n,
        index: maxUint64 - 1n,
        commit: maxUint64,
        entries: [{ Term: 1n << 62n, Index: maxUint64, Type: raftpb.EntryType.EntryNormal, Data: Buffer.from('x') }],
      }),
    ]),
  /** Messages only a member's own node makes (MsgHup, MsgBeat, ...), sent from outside. */
  'local-types': (from, to) =>
    peerFrame(
      [
        raftpb.MessageType.MsgHup,
        raftpb.MessageType.MsgBeat,
        raftpb.MessageType.MsgSnapStatus,
        raftpb.MessageType.MsgUnreachable,
        raftpb.MessageType.MsgCheckQuorum,
      ].map((type) => encodeMessage({ type, from, to, term: 0n })),
    ),
  /**
   * A "forwarded proposal" whose data is no request: a leader that appended it would commit an
   * entry no member can apply, stopping all of them on every restart.
   */
  'garbage-proposal': (from, to) =>
    peerFrame([
      encodeMessage({
        type: raftpb.MessageType.MsgProp,
        from,
        to,
        term: 0n,
        entries: [{ Type: raftpb.EntryType.EntryNormal, Data: Buffer.from('forged') }],
      }),
    ]),
};

/** Raw bytes thrown at a peer port on a plain TCP connection (HTTP/1 side, sniffing, HTTP/2 preface). */
export const garbage: Record<string, () => Buffer> = {
  'random bytes': () => Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) & 0xff)),
  'an http/1 request with 1 MiB of headers': () =>
    Buffer.from(`GET /members HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(1024 * 1024)}\r\n\r\n`),
  'a truncated http/1 request': () => Buffer.from('GET /mem'),
  'an absurd content-length on /raft/stream': () =>
    Buffer.from('POST /raft/stream HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\nabc'),
  'a negative content-length on /members': () => Buffer.from('POST /members HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n'),
  'chunked garbage on /version': () => Buffer.from('POST /version HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzzzz\r\n\r\n'),
  'a NUL in the request line': () => Buffer.from('GET /\0members HTTP/1.1\r\n\r\n'),
  'the http/2 preface, then garbage frames': () =>
    Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), Buffer.from([0xff, 0xff, 0xff, 0x01, 0xff, 0, 0, 0, 1, 1, 2, 3])]),
};

/** Writes bytes on a fresh TCP connection and waits until the peer closes it or timeoutMs passes. */
export function sendRaw(peerUrl: string, bytes: Buffer, timeoutMs = 3_000): Promise<string> {
  const u = new URL(peerUrl);
  return new Promise((resolve) => {
    const s = tcpConnect(Number(u.port), u.hostname);
    let answer = '';
    const done = (how: string) => {
      clearTimeout(timer);
      s.destroy();
      resolve(`${how}: ${answer.split('\r\n')[0] ?? ''}`);
    };
    const timer = setTimeout(() => done('still open'), timeoutMs);
    s.on('data', (d: Buffer) => {
      if (answer.length < 200) answer += d.toString('latin1');
    });
    s.on('error', () => done('error'));
    s.on('close', () => done('closed'));
    s.write(bytes, () => undefined);
  });
}

export interface PeerTarget {
  /** The member's peer URL (http://host:port). */
  peerUrl: string;
  /** Its member id. */
  id: bigint;
}

export interface ClusterView {
  clusterId: bigint;
  members: PeerTarget[];
}

/** Cluster id and every member's id and first peer URL, asked of one client endpoint. */
export async function discover(endpoint: string): Promise<ClusterView> {
  const client = new Client({ endpoints: [endpoint], requestTimeoutMs: 10_000 });
  try {
    const ml = await client.cluster.memberList();
    return {
      clusterId: ml.header!.clusterId,
      members: ml.members.map((m) => ({ id: m.ID, peerUrl: m.peerURLs[0]! })),
    };
  } finally {
    client.close();
  }
}

export interface SendResult {
  /** HTTP status of the stream request (200 when the forged sender was admitted). */
  status: number;
  /** How the stream ended: 'open' if it was still open when we closed it, else the close code. */
  end: string;
}

/**
 * Opens a message stream to `to` claiming to be `from`, writes `bytes`, keeps the stream open for
 * holdMs (so that the receiver processes the frame on a live stream), then closes everything.
 */
export async function sendForged(o: {
  clusterId: bigint;
  from: bigint;
  to: PeerTarget;
  bytes: Buffer;
  holdMs?: number;
  timeoutMs?: number;
}): Promise<SendResult> {
  const session = connect(o.to.peerUrl);
  session.on('error', () => undefined);
  const timeoutMs = o.timeoutMs ?? 10_000;
  try {
    return await new Promise<SendResult>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from ${o.to.peerUrl} in ${timeoutMs} ms`)), timeoutMs);
      const req = session.request({
        [h2.HTTP2_HEADER_METHOD]: 'POST',
        [h2.HTTP2_HEADER_PATH]: '/raft/stream',
        'x-etcd-cluster-id': o.clusterId.toString(16),
        'x-server-from': o.from.toString(16),
        'x-raft-to': o.to.id.toString(16),
      });
      req.on('error', () => undefined);
      let status = 0;
      let ended = false;
      req.on('close', () => {
        ended = true;
      });
      req.on('response', (headers) => {
        status = Number(headers[h2.HTTP2_HEADER_STATUS]);
        if (status !== 200) {
          clearTimeout(timer);
          resolve({ status, end: 'rejected' });
          return;
        }
        req.write(o.bytes);
        setTimeout(() => {
          clearTimeout(timer);
          const end = ended ? `closed (rst code ${req.rstCode ?? 'none'})` : 'open';
          resolve({ status, end });
        }, o.holdMs ?? 500);
      });
      req.resume();
    });
  } finally {
    session.destroy();
  }
}

/** Runs one attack against every member, each time as another member of the cluster. */
export async function attackAll(
  view: ClusterView,
  attack: string,
  holdMs = 500,
): Promise<{ to: bigint; from: bigint; result: SendResult }[]> {
  const make = attacks[attack];
  if (!make) throw new Error(`unknown attack ${attack}; known: ${Object.keys(attacks).join(', ')}`);
  const out: { to: bigint; from: bigint; result: SendResult }[] = [];
  for (const [i, to] of view.members.entries()) {
    const from = view.members[(i + 1) % view.members.length]!.id;
    if (from === to.id) continue;
    out.push({ to: to.id, from, result: await sendForged({ clusterId: view.clusterId, from, to, bytes: make(from, to.id), holdMs }) });
  }
  return out;
}

async function main(argv: string[]): Promise<void> {
  const [endpoint, attack = 'max-term-heartbeat'] = argv;
  if (!endpoint) {
    console.error(`usage: hostile_peer <client endpoint host:port> [${Object.keys(attacks).join('|')}]`);
    process.exit(2);
  }
  const view = await discover(endpoint);
  for (const r of await attackAll(view, attack)) {
    console.log(`${attack}: to ${r.to.toString(16)} as ${r.from.toString(16)}: HTTP ${r.result.status}, stream ${r.result.end}`);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  main(process.argv.slice(2)).catch((err) => {
    console.error(err);
    process.exit(1);
  });
}

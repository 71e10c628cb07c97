// checkPeerMessage: a table of messages a peer may send and of forged ones, each with the reason
// it is refused; and a fuzz run of the whole inbound decoding path (frames → batch → check) on
// random and mutated bytes, which may refuse but must never throw anything but a FrameError.
import { etcdserverpb, raftpb } from '@kv/api';
import { seededRandom } from '@kv/raft';
import { describe, expect, it } from 'vitest';
import { encodeFrames, FrameDecoder, FrameError, decodeBatch } from './framing.js';
import { checkPeerMessage, RefusalLog, type PeerMessageContext } from './validate.js';

const MT = raftpb.MessageType;
const self = 1n;
const peer = 2n;
const ctx: PeerMessageContext = { self, from: peer, path: 'stream' };
const max64 = (1n << 64n) - 1n;
const max63 = (1n << 63n) - 1n;

type Fields = Omit<Partial<raftpb.Message>, 'entries' | 'snapshot'> & {
  entries?: Partial<raftpb.Entry>[];
  snapshot?: { metadata?: { index?: bigint; term?: bigint; confState?: Partial<raftpb.ConfState> } };
};
const m = (f: Fields): raftpb.Message =>
  raftpb.Message.fromPartial({ from: peer, to: self, term: 3n, ...f } as Parameters<typeof raftpb.Message.fromPartial>[0]);
const putRequest = Buffer.from(
  etcdserverpb.InternalRaftRequest.encode(
    etcdserverpb.InternalRaftRequest.fromPartial({ header: { ID: 7n }, put: { key: Buffer.from('k'), value: Buffer.from('v') } }),
  ).finish(),
);
const confChange = Buffer.from(
  raftpb.ConfChange.encode(raftpb.ConfChange.fromPartial({ id: 9n, type: raftpb.ConfChangeType.ConfChangeAddNode, nodeId: 4n })).finish(),
);
const ent = (Index: bigint, Term: bigint, Type = raftpb.EntryType.EntryNormal): Partial<raftpb.Entry> => ({
  Index,
  Term,
  Type,
  Data: putRequest,
});
const snap = (index = 10n, term = 2n, voters = [1n, 2n, 3n]) => ({ metadata: { index, term, confState: { voters } } });

const accepted: [string, raftpb.Message, PeerMessageContext?][] = [
  ['a heartbeat', m({ type: MT.MsgHeartbeat, commit: 5n })],
  ['an append with contiguous entries', m({ type: MT.MsgApp, index: 4n, logTerm: 2n, commit: 4n, entries: [ent(5n, 2n), ent(6n, 3n)] })],
  ['an empty append', m({ type: MT.MsgApp, index: 4n, logTerm: 2n, commit: 4n })],
  ['an append response (reject with hint)', m({ type: MT.MsgAppResp, index: 4n, reject: true, rejectHint: 3n, logTerm: 2n })],
  ['a vote request at the largest term', m({ type: MT.MsgVote, term: max63, index: 9n, logTerm: 3n })],
  ['a pre-vote and its response', m({ type: MT.MsgPreVoteResp, term: 4n })],
  ['a forwarded proposal (term 0)', m({ type: MT.MsgProp, term: 0n, entries: [{ Data: putRequest }] })],
  [
    'a forwarded conf change proposal',
    m({ type: MT.MsgProp, term: 0n, entries: [{ Type: raftpb.EntryType.EntryConfChange, Data: confChange }] }),
  ],
  ["an append of a new leader's empty entry", m({ type: MT.MsgApp, index: 4n, logTerm: 2n, entries: [{ Index: 5n, Term: 3n }] })],
  ['a forwarded read index (term 0)', m({ type: MT.MsgReadIndex, term: 0n, entries: [{ Data: Buffer.from('ctx') }] })],
  ['a read index response', m({ type: MT.MsgReadIndexResp, index: 7n, entries: [{ Data: Buffer.from('ctx') }] })],
  ['a timeout-now', m({ type: MT.MsgTimeoutNow })],
  ['a transfer-leader forwarded by its transferee', m({ type: MT.MsgTransferLeader })],
  ['a heartbeat response with a read context', m({ type: MT.MsgHeartbeatResp, context: Buffer.from('ctx') })],
  ['a snapshot on the snapshot path', m({ type: MT.MsgSnap, snapshot: snap() }), { ...ctx, path: 'snapshot' }],
];

const refused: [string, raftpb.Message, RegExp, PeerMessageContext?][] = [
  [
    'a heartbeat at term 2^64-1 (issue 5)',
    m({ type: MT.MsgHeartbeat, term: max64 }),
    /message term 18446744073709551615 exceeds the maximum 9223372036854775807/,
  ],
  ['a vote at term 2^63', m({ type: MT.MsgVote, term: max63 + 1n }), /message term .* exceeds the maximum/],
  ['a vote claiming a log at index 2^64-1', m({ type: MT.MsgPreVote, index: max64, logTerm: 3n }), /message index .* exceeds/],
  ['a vote claiming a log term above the maximum', m({ type: MT.MsgVote, index: 3n, logTerm: max64 }), /message log term .* exceeds/],
  ['a heartbeat with commit 2^64-1', m({ type: MT.MsgHeartbeat, commit: max64 }), /commit .* exceeds/],
  ['an append response with an absurd hint', m({ type: MT.MsgAppResp, reject: true, rejectHint: max64 }), /reject hint .* exceeds/],
  [
    'an append with an entry at index 2^64-1',
    m({ type: MT.MsgApp, index: max64 - 1n, logTerm: 3n, entries: [ent(max64, 3n)] }),
    /exceeds the maximum/,
  ],
  [
    'an append with an entry term above the maximum',
    m({ type: MT.MsgApp, term: max63, index: 1n, logTerm: 1n, entries: [ent(2n, max64)] }),
    /entry 0 term .* exceeds/,
  ],
  [
    'an append with a gap',
    m({ type: MT.MsgApp, index: 4n, logTerm: 2n, entries: [ent(5n, 2n), ent(7n, 2n)] }),
    /entry 1 has index 7, expected 6/,
  ],
  [
    'an append whose entry terms go down',
    m({ type: MT.MsgApp, index: 4n, logTerm: 3n, entries: [ent(5n, 2n)] }),
    /entry 0 has term 2 outside 3\.\.3/,
  ],
  [
    'an append with an entry above the leader term',
    m({ type: MT.MsgApp, index: 4n, logTerm: 2n, entries: [ent(5n, 9n)] }),
    /outside 2\.\.3/,
  ],
  [
    'an entry of unknown type',
    m({ type: MT.MsgApp, index: 4n, logTerm: 2n, entries: [ent(5n, 2n, 7 as raftpb.EntryType)] }),
    /unknown type 7/,
  ],
  [
    'a proposal whose data is not a request (it would stop every member at apply)',
    m({ type: MT.MsgProp, term: 0n, entries: [{ Data: Buffer.from('forged') }] }),
    /entry 0 of type EntryNormal: its data does not decode/,
  ],
  [
    'an append whose entry data is not a request',
    m({ type: MT.MsgApp, index: 4n, logTerm: 2n, entries: [ent(5n, 2n), { Index: 6n, Term: 3n, Data: Buffer.from([0xff, 0xff]) }] }),
    /entry 1 of type EntryNormal: its data does not decode/,
  ],
  [
    'a proposal with a wrong wire type inside its request',
    m({ type: MT.MsgProp, term: 0n, entries: [{ Data: Buffer.from([0x22, 0x02, 0x1a, 0x00]) }] }),
    /wrong wireType = 2 for field Lease/,
  ],
  [
    'a conf change proposal that does not decode',
    m({ type: MT.MsgProp, term: 0n, entries: [{ Type: raftpb.EntryType.EntryConfChangeV2, Data: Buffer.from([0x0e]) }] }),
    /EntryConfChangeV2: its data does not decode/,
  ],
  ['an empty proposal (raft would panic)', m({ type: MT.MsgProp, term: 0n }), /MsgProp without entries/],
  ['a proposal with a term', m({ type: MT.MsgProp, term: 3n, entries: [ent(0n, 0n)] }), /forwarded requests carry term 0/],
  ['a heartbeat at term 0 (raft takes term 0 for local)', m({ type: MT.MsgHeartbeat, term: 0n }), /MsgHeartbeat with term 0/],
  ['MsgHup from outside', m({ type: MT.MsgHup, term: 0n }), /MsgHup is not a message a peer sends/],
  ['MsgBeat from outside', m({ type: MT.MsgBeat }), /MsgBeat is not/],
  ['MsgUnreachable from outside', m({ type: MT.MsgUnreachable }), /MsgUnreachable is not/],
  ['MsgSnapStatus from outside', m({ type: MT.MsgSnapStatus }), /MsgSnapStatus is not/],
  ['MsgCheckQuorum from outside', m({ type: MT.MsgCheckQuorum }), /MsgCheckQuorum is not/],
  ['an unknown message type', m({ type: 99 as raftpb.MessageType }), /unknown type 99 is not/],
  ['a snapshot on the message stream', m({ type: MT.MsgSnap, snapshot: snap() }), /MsgSnap is not a message a peer sends on the stream/],
  ['a message from someone else', m({ type: MT.MsgHeartbeat, from: 3n }), /from 3 is not the stream's sender 2/],
  ['a message to someone else', m({ type: MT.MsgHeartbeat, to: 3n }), /to 3 is not this member/],
  ['a heartbeat carrying entries', m({ type: MT.MsgHeartbeat, entries: [ent(1n, 1n)] }), /MsgHeartbeat with 1 entries/],
  ['a vote carrying a snapshot', m({ type: MT.MsgVote, snapshot: snap() }), /carrying a snapshot/],
  ['a heartbeat on the snapshot path', m({ type: MT.MsgHeartbeat }), /MsgHeartbeat on the snapshot path/, { ...ctx, path: 'snapshot' }],
  ['a snapshot without metadata', m({ type: MT.MsgSnap, snapshot: {} }), /without snapshot metadata/, { ...ctx, path: 'snapshot' }],
  ['a snapshot at index 2^64-1', m({ type: MT.MsgSnap, snapshot: snap(max64) }), /snapshot index .* exceeds/, { ...ctx, path: 'snapshot' }],
  [
    'a snapshot at term 2^64-1',
    m({ type: MT.MsgSnap, term: max63, snapshot: snap(5n, max64) }),
    /snapshot term .* exceeds/,
    { ...ctx, path: 'snapshot' },
  ],
  ['a snapshot at index 0', m({ type: MT.MsgSnap, snapshot: snap(0n) }), /both must be positive/, { ...ctx, path: 'snapshot' }],
  [
    'a snapshot from a later term than its message',
    m({ type: MT.MsgSnap, snapshot: snap(5n, 4n) }),
    /above the message term/,
    { ...ctx, path: 'snapshot' },
  ],
  ['a snapshot without voters', m({ type: MT.MsgSnap, snapshot: snap(5n, 2n, []) }), /without voters/, { ...ctx, path: 'snapshot' }],
  ['a snapshot naming member 0', m({ type: MT.MsgSnap, snapshot: snap(5n, 2n, [1n, 0n]) }), /member id 0/, { ...ctx, path: 'snapshot' }],
];

describe('checkPeerMessage', () => {
  for (const [name, msg, c] of accepted) {
    it(`accepts ${name}`, () => {
      expect(checkPeerMessage(msg, c ?? ctx)).toBeUndefined();
    });
  }
  for (const [name, msg, reason, c] of refused) {
    it(`refuses ${name}`, () => {
      expect(checkPeerMessage(msg, c ?? ctx)).toMatch(reason);
    });
  }
});

describe('RefusalLog', () => {
  it('logs the first refusal per sender and type at once, then one per interval with the count suppressed', () => {
    let now = 0;
    const lines: Record<string, unknown>[] = [];
    const log = new RefusalLog(
      (f) => lines.push(f),
      1000,
      () => now,
    );
    log.refused(2n, MT.MsgHeartbeat, 'r1');
    log.refused(2n, MT.MsgHeartbeat, 'r2');
    log.refused(3n, MT.MsgVote, 'r3');
    now = 500;
    log.refused(2n, MT.MsgHeartbeat, 'r4');
    log.refused(2n, MT.MsgApp, 'r5');
    now = 1000;
    log.refused(2n, MT.MsgHeartbeat, 'r6');
    expect(lines).toEqual([
      { 'remote-peer-id': '2', 'message-type': 'MsgHeartbeat', reason: 'r1' },
      { 'remote-peer-id': '3', 'message-type': 'MsgVote', reason: 'r3' },
      { 'remote-peer-id': '2', 'message-type': 'MsgApp', reason: 'r5' },
      { 'remote-peer-id': '2', 'message-type': 'MsgHeartbeat', reason: 'r6', 'suppressed-since-last': 2 },
    ]);
  });
});

/** Seeded numbers in [0, 1) from raft's generator, so a failing case reproduces. */
function rng(seed: number): () => number {
  const draw = seededRandom(seed);
  return () => draw(2 ** 32) / 2 ** 32;
}

describe('inbound decoding under fuzzing', () => {
  const cap = 64 * 1024;
  /** Runs bytes through what the receiver runs them through, in random chunks. */
  function receive(bytes: Buffer, next: () => number): { refused: number; accepted: number } {
    const dec = new FrameDecoder(cap);
    let refusedN = 0;
    let acceptedN = 0;
    let pos = 0;
    while (pos < bytes.length) {
      const n = 1 + Math.floor(next() * 64);
      for (const f of dec.push(bytes.subarray(pos, pos + n))) {
        for (const msg of decodeBatch(f)) {
          if (checkPeerMessage(msg, ctx) === undefined) acceptedN++;
          else refusedN++;
        }
      }
      pos += n;
    }
    return { refused: refusedN, accepted: acceptedN };
  }

  const valid = [
    ...accepted.filter(([, , c]) => c === undefined).map(([, msg]) => msg),
    ...refused.filter(([, , , c]) => c === undefined).map(([, msg]) => msg),
  ];
  const good = encodeFrames(
    valid.map((x) => raftpb.Message.encode(x).finish()),
    cap,
  );

  it('the unmutated stream decodes to the table: every refusal is a refusal, every message passes or is refused', () => {
    const r = receive(good, rng(1));
    expect(r.accepted).toBe(accepted.filter(([, , c]) => c === undefined).length);
    expect(r.refused).toBe(refused.filter(([, , , c]) => c === undefined).length);
  });

  it('random bytes, bit flips, truncations and forged lengths give a FrameError or refusals, nothing else', () => {
    const next = rng(20261201);
    let frameErrors = 0;
    for (let i = 0; i < 3000; i++) {
      let bytes: Buffer;
      const kind = i % 4;
      if (kind === 0) {
        bytes = Buffer.from(Array.from({ length: Math.floor(next() * 512) }, () => Math.floor(next() * 256)));
      } else if (kind === 1) {
        bytes = Buffer.from(good);
        for (let k = 0; k < 1 + Math.floor(next() * 8); k++) bytes[Math.floor(next() * bytes.length)] ^= 1 << Math.floor(next() * 8);
      } else if (kind === 2) {
        bytes = good.subarray(0, Math.floor(next() * good.length));
      } else {
        bytes = Buffer.from(good);
        const at = Math.floor(next() * (bytes.length - 4));
        bytes.writeUInt32BE(Math.floor(next() * 0xffffffff), at);
      }
      try {
        receive(bytes, next);
      } catch (err) {
        if (!(err instanceof FrameError)) throw new Error(`case ${i} (kind ${kind}) threw ${String(err)}`);
        frameErrors++;
      }
    }
    expect(frameErrors).toBeGreaterThan(0);
  });
});

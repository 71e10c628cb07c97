// HTTP/2 `:authority` values that carry a scheme, made acceptable to Node's HTTP/2 server.
//
// etcdctl's --cluster commands (and any grpc-go client given a full URL as its target with the
// passthrough resolver) send `:authority: http://127.0.0.1:2379`. nghttp2, under node:http2,
// checks :authority against RFC 3986's authority characters as part of its HTTP messaging
// checks and resets such a stream with PROTOCOL_ERROR; the only switch for that check
// (nghttp2_option_set_no_http_messaging) is not exposed by Node. etcd (Go's HTTP/2 server) takes
// the value as it is. So kvd fixes the value on the connection, before nghttp2 sees it.
//
// HPACK makes bytes unsafe to edit in place (a field may be a reference into the sender's dynamic
// table, Huffman coded, or split over CONTINUATION frames), so header blocks are decoded with a
// mirror of the client's dynamic table (hpack.js) and, once a value needed fixing, every block from
// then on is re-encoded as literals that never touch the server's table: the server decodes
// exactly the fields the client meant, with the authority fixed.
//
// Cost: a connection whose first header block needs no fix is passed through from then on
// without decoding (grpc-go's :authority is fixed for a connection's life); only the first block
// of every connection is decoded.
import { createRequire } from 'node:module';
import { Duplex } from 'node:stream';

/** Characters nghttp2 accepts in :authority (its check_authority: RFC 3986 authority). */
const authorityOk = /^[A-Za-z0-9\-._~%!$&'()*+,;=:@[\]]+$/;

/**
 * The authority part of an :authority value nghttp2 would reject, or undefined when the value is
 * accepted as it is or nothing acceptable can be made of it (then nghttp2 decides, as before).
 * `http://127.0.0.1:2379` and `https://h:2379/` give `127.0.0.1:2379` and `h:2379`; `h:2379/`
 * gives `h:2379`.
 */
export function fixAuthority(value: string): string | undefined {
  if (value === '' || authorityOk.test(value)) return undefined;
  const rest = value.replace(/^[A-Za-z][A-Za-z0-9+.-]*:\/\//, '');
  const cut = rest.search(/[/?#]/);
  const a = cut < 0 ? rest : rest.slice(0, cut);
  // userinfo is not allowed in an http(s) authority (RFC 9113 8.3.1): drop it.
  const host = a.slice(a.lastIndexOf('@') + 1);
  return host !== '' && authorityOk.test(host) ? host : undefined;
}

interface Field {
  name: string;
  value: string;
  neverIndex: boolean;
}

interface HpackDecompressor {
  _decoder: { push(b: Buffer): void; isEmpty(): boolean };
  _execute(): void;
  push(f: Field): boolean;
}

const require_ = createRequire(import.meta.url);
// hpack.js 2.1.6 (pinned): its Decompressor is a stream; we drive its decoder synchronously.
const hpack = require_('hpack.js') as { decompressor: { create(o: { table: { size: number } }): HpackDecompressor } };

/** SETTINGS_HEADER_TABLE_SIZE Node's HTTP/2 server advertises (its default; grpc-js keeps it). */
const serverHeaderTableBytes = 4096;
/** Node's default SETTINGS_MAX_FRAME_SIZE: the largest frame we may send it. */
const maxFrameBytes = 16384;
const prefaceBytes = 24;

const HEADERS = 0x1;
const PUSH_PROMISE = 0x5;
const CONTINUATION = 0x9;
const END_STREAM = 0x1;
const END_HEADERS = 0x4;
const PADDED = 0x8;
const PRIORITY = 0x20;

/** Decodes one header block against a dynamic table that lives as long as the connection. */
class BlockDecoder {
  private readonly d = hpack.decompressor.create({ table: { size: serverHeaderTableBytes } });
  private out: Field[] = [];

  constructor() {
    this.d.push = (f: Field) => {
      this.out.push(f);
      return true;
    };
  }

  decode(block: Buffer): Field[] {
    this.out = [];
    this.d._decoder.push(block);
    while (!this.d._decoder.isEmpty()) this.d._execute();
    return this.out;
  }
}

function encodeInt(out: number[], first: number, prefixBits: number, v: number): void {
  const max = (1 << prefixBits) - 1;
  if (v < max) {
    out.push(first | v);
    return;
  }
  out.push(first | max);
  v -= max;
  while (v >= 128) {
    out.push((v % 128) + 128);
    v = Math.floor(v / 128);
  }
  out.push(v);
}

function encodeString(out: number[], s: string): void {
  const b = Buffer.from(s, 'latin1');
  encodeInt(out, 0, 7, b.length);
  for (const x of b) out.push(x);
}

/** Fields as HPACK literals without (or never) indexing, new names: no dynamic table change. */
export function encodeLiterals(fields: readonly Field[]): Buffer {
  const out: number[] = [];
  for (const f of fields) {
    out.push(f.neverIndex ? 0x10 : 0x00);
    encodeString(out, f.name);
    encodeString(out, f.value);
  }
  return Buffer.from(out);
}

/** One HTTP/2 frame: the 9-byte header, then `payload`. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(streamId & 0x7fffffff, 5);
  return Buffer.concat([h, payload]);
}

/**
 * The client-to-server byte stream of one HTTP/2 connection, with :authority values fixed.
 * Anything it does not understand (a frame over the size limit, bad padding, a block that does not
 * decode, a PUSH_PROMISE from a client) makes it pass the rest through unchanged, so nghttp2 sees
 * and reports the same error it would have without us.
 */
type Mode = 'preface' | 'first' | 'rewrite' | 'pass';

export class AuthorityFixer {
  private buf: Buffer = Buffer.alloc(0);
  private mode: Mode = 'preface';
  private readonly decoder = new BlockDecoder();
  private block?: { streamId: number; flags: number; prio?: Buffer; frags: Buffer[]; raw: Buffer[] };

  /** Bytes read from the client; returns the bytes to hand to the server. */
  feed(chunk: Buffer): Buffer {
    if (this.mode === 'pass') return chunk;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: Buffer[] = [];
    if (this.mode === 'preface') {
      if (this.buf.length < prefaceBytes) return Buffer.alloc(0);
      out.push(this.buf.subarray(0, prefaceBytes));
      this.buf = this.buf.subarray(prefaceBytes);
      this.mode = 'first';
    }
    while ((this.mode as Mode) !== 'pass' && this.buf.length >= 9) {
      const len = this.buf.readUIntBE(0, 3);
      if (len > maxFrameBytes) {
        this.giveUp(out);
        break;
      }
      if (this.buf.length < 9 + len) break;
      const raw = this.buf.subarray(0, 9 + len);
      this.buf = this.buf.subarray(9 + len);
      this.onFrame(raw, out);
    }
    if ((this.mode as Mode) === 'pass') {
      out.push(this.buf);
      this.buf = Buffer.alloc(0);
    }
    return Buffer.concat(out);
  }

  private giveUp(out: Buffer[]): void {
    if (this.block) out.push(...this.block.raw);
    this.block = undefined;
    this.mode = 'pass';
  }

  private onFrame(raw: Buffer, out: Buffer[]): void {
    const type = raw[3];
    const flags = raw[4];
    const streamId = raw.readUInt32BE(5) & 0x7fffffff;
    const p = raw.subarray(9);
    if (this.block) {
      // Invariant: between HEADERS and END_HEADERS only CONTINUATION of the same stream is legal.
      if (type !== CONTINUATION || streamId !== this.block.streamId) {
        this.giveUp(out);
        out.push(raw);
        return;
      }
      this.block.raw.push(raw);
      this.block.frags.push(p);
      if (flags & END_HEADERS) this.endBlock(out);
      return;
    }
    if (type === PUSH_PROMISE || type === CONTINUATION) {
      this.giveUp(out);
      out.push(raw);
      return;
    }
    if (type !== HEADERS) {
      out.push(raw);
      return;
    }
    let off = 0;
    let pad = 0;
    if (flags & PADDED) {
      if (p.length < 1) return this.passFrame(raw, out);
      pad = p[0];
      off = 1;
    }
    let prio: Buffer | undefined;
    if (flags & PRIORITY) {
      if (p.length < off + 5) return this.passFrame(raw, out);
      prio = p.subarray(off, off + 5);
      off += 5;
    }
    if (p.length - off < pad) return this.passFrame(raw, out);
    this.block = { streamId, flags, prio, frags: [p.subarray(off, p.length - pad)], raw: [raw] };
    if (flags & END_HEADERS) this.endBlock(out);
  }

  private passFrame(raw: Buffer, out: Buffer[]): void {
    this.giveUp(out);
    out.push(raw);
  }

  private endBlock(out: Buffer[]): void {
    const b = this.block!;
    this.block = undefined;
    let fields: Field[];
    try {
      fields = this.decoder.decode(Buffer.concat(b.frags));
    } catch {
      out.push(...b.raw);
      this.mode = 'pass';
      return;
    }
    let fixed = false;
    for (const f of fields) {
      if (f.name !== ':authority' && f.name !== 'host') continue;
      const a = fixAuthority(f.value);
      if (a !== undefined) {
        f.value = a;
        fixed = true;
      }
    }
    if (this.mode === 'first') {
      if (!fixed) {
        // This connection's authority is fine: no more decoding (see the top of this file).
        out.push(...b.raw);
        this.mode = 'pass';
        return;
      }
      this.mode = 'rewrite';
    }
    this.emitBlock(b.streamId, b.flags, b.prio, encodeLiterals(fields), out);
  }

  private emitBlock(streamId: number, flags: number, prio: Buffer | undefined, block: Buffer, out: Buffer[]): void {
    const head = prio ?? Buffer.alloc(0);
    let room = maxFrameBytes - head.length;
    let first = true;
    let off = 0;
    do {
      const part = block.subarray(off, off + room);
      off += part.length;
      const last = off >= block.length;
      if (first) {
        const f = (flags & (END_STREAM | PRIORITY)) | (last ? END_HEADERS : 0);
        out.push(frame(HEADERS, f, streamId, Buffer.concat([head, part])));
      } else {
        out.push(frame(CONTINUATION, last ? END_HEADERS : 0, streamId, part));
      }
      first = false;
      room = maxFrameBytes;
    } while (off < block.length);
  }
}

/**
 * `conn` seen through an AuthorityFixer: what the client sends is fixed on the way in, what the
 * server writes goes out unchanged. `initial` is what was already read from `conn` (from the
 * connection preface on). Closing or destroying either side closes the other.
 */
export function fixAuthorities(conn: Duplex, initial: Buffer = Buffer.alloc(0)): Duplex {
  const fixer = new AuthorityFixer();
  const d = new Duplex({
    read() {
      conn.resume();
    },
    write(chunk: Buffer, _enc, cb) {
      conn.write(chunk, cb);
    },
    final(cb) {
      conn.end();
      cb();
    },
    destroy(err, cb) {
      conn.destroy(err ?? undefined);
      cb(err);
    },
  });
  if (initial.length > 0) d.push(fixer.feed(initial));
  conn.on('data', (c: Buffer) => {
    const b = fixer.feed(c);
    if (b.length > 0 && !d.push(b)) conn.pause();
  });
  conn.on('end', () => d.push(null));
  conn.on('error', (err) => d.destroy(err));
  conn.on('close', () => {
    if (!d.destroyed) d.destroy();
  });
  // What grpc-js reads from a socket to name the peer.
  for (const k of ['remoteAddress', 'remotePort', 'localAddress', 'localPort', 'encrypted'] as const) {
    Object.defineProperty(d, k, { get: () => (conn as unknown as Record<string, unknown>)[k] });
  }
  conn.resume();
  return d;
}

// The gate: which connections need the fixer.
//
// Wrapping a connection costs: every byte then crosses a JavaScript Duplex instead of going from
// the socket straight into nghttp2, which halves kvd's request rate. Only connections whose first
// request carries a bad :authority need it, so the first request decides — but grpc-go sends no
// request before it has read the server's SETTINGS, and nghttp2 sends those only once it owns the
// socket. So the gate answers the client's preface itself with a SETTINGS frame (the server's
// connection preface) carrying what nghttp2 will send, reads until it has the first header block and the client's ACK of that
// SETTINGS, and then hands the socket over: untouched to nghttp2 (the bytes read so far are
// given back, and node:http2 feeds a socket's buffered bytes to nghttp2 first) or, for a bad
// authority, through the fixer. nghttp2 then sends its own SETTINGS (a second SETTINGS frame is
// legal, and with the same values it changes nothing; the client acknowledges each), and the ACK of ours is taken out of the byte stream:
// nghttp2 would treat an ACK for a SETTINGS it never sent as a protocol error. (So nghttp2 applies
// its settings, e.g. grpc_http2.ts's header list limit, only when the client's ACK of nghttp2's
// own frame arrives, which may be after the connection's first request; until then the limit is
// the client's to keep, as grpc-go keeps it from the gate's SETTINGS.)

const SETTINGS = 0x4;
const ACK = 0x1;
/** With the client's ACK in, how long to wait for a first request before handing over untouched. */
export const gateIdleMs = 1_000;
/** With the first request in, how long to wait for the client's ACK before handing over anyway. */
export const gateAckWaitMs = 1_000;
/** With neither, how long before handing over anyway. */
export const gateMaxWaitMs = 10_000;
/** Bytes the gate holds before a decision; beyond that the connection is handed over untouched. */
const gateMaxBytes = 1024 * 1024;

/** A SETTINGS frame (not an ACK) carrying `payload` (6 bytes per setting, as http2.getPackedSettings). */
export function settingsFrame(payload: Buffer): Buffer {
  return frame(SETTINGS, 0, 0, payload);
}

export type GateVerdict = 'native' | 'fix';

/**
 * Scans what a client sent from its connection preface on. `verdict` is known once the first
 * header block is complete (or a frame shows no header block comes first); `acked` once the
 * client acknowledged the gate's SETTINGS; `bytes()` is what the server must see: everything read,
 * without that ACK.
 */
export class GateScanner {
  private buf: Buffer = Buffer.alloc(0);
  private pos = prefaceBytes;
  private ackAt = -1;
  private block?: { frags: Buffer[] };
  verdict?: GateVerdict;
  acked = false;

  get size(): number {
    return this.buf.length;
  }

  feed(chunk: Buffer): void {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    while (!(this.verdict !== undefined && this.acked) && this.buf.length >= this.pos + 9) {
      const len = this.buf.readUIntBE(this.pos, 3);
      if (len > maxFrameBytes) {
        // Not something the gate can read on; nghttp2 will say what is wrong with it.
        this.verdict ??= 'native';
        this.acked = true;
        return;
      }
      if (this.buf.length < this.pos + 9 + len) return;
      this.onFrame(this.buf.subarray(this.pos, this.pos + 9 + len));
      this.pos += 9 + len;
    }
  }

  private onFrame(raw: Buffer): void {
    const type = raw[3];
    const flags = raw[4];
    if (type === SETTINGS && flags & ACK && !this.acked) {
      this.acked = true;
      this.ackAt = this.pos;
      return;
    }
    if (this.verdict !== undefined) return;
    const p = raw.subarray(9);
    if (this.block) {
      if (type !== CONTINUATION) {
        this.verdict = 'native';
        return;
      }
      this.block.frags.push(p);
      if (flags & END_HEADERS) this.decide();
      return;
    }
    if (type === SETTINGS || type === 0x8 /* WINDOW_UPDATE */ || type === 0x2 /* PRIORITY */) return;
    if (type !== HEADERS) {
      this.verdict = 'native';
      return;
    }
    let off = 0;
    let pad = 0;
    if (flags & PADDED) {
      pad = p[0] ?? 0;
      off = 1;
    }
    if (flags & PRIORITY) off += 5;
    if (p.length - off < pad) {
      this.verdict = 'native';
      return;
    }
    this.block = { frags: [p.subarray(off, p.length - pad)] };
    if (flags & END_HEADERS) this.decide();
  }

  private decide(): void {
    const frags = this.block!.frags;
    this.block = undefined;
    let fields: Field[];
    try {
      fields = new BlockDecoder().decode(Buffer.concat(frags));
    } catch {
      this.verdict = 'native';
      return;
    }
    const bad = fields.some((f) => (f.name === ':authority' || f.name === 'host') && fixAuthority(f.value) !== undefined);
    this.verdict = bad ? 'fix' : 'native';
  }

  /** When no request has come: hand over untouched. */
  settle(): void {
    this.verdict ??= 'native';
  }

  bytes(): Buffer {
    if (this.ackAt < 0) return this.buf;
    return Buffer.concat([this.buf.subarray(0, this.ackAt), this.buf.subarray(this.ackAt + 9)]);
  }
}

export interface GateOptions {
  /** Bytes already read from `conn` (they start with the HTTP/2 connection preface). */
  initial: Buffer;
  /**
   * The payload of the SETTINGS frame the gate answers with: the same settings node:http2 will
   * send once it owns the connection, so that the client works under them from its first request.
   */
  settings: Buffer;
  /** Gets the connection itself (its buffered bytes given back) or the fixer in front of it. */
  handOff: (conn: Duplex) => void;
  /** Tests only: shorter waits than gateIdleMs / gateAckWaitMs / gateMaxWaitMs. */
  idleMs?: number;
  ackWaitMs?: number;
  maxWaitMs?: number;
}

/**
 * Decides, from its first request, whether the HTTP/2 connection `conn` needs `fixAuthorities`,
 * then hands it to `o.handOff` (see the comment above GateScanner). A client that does not play
 * along (no ACK, no request, more than 1 MiB before either) is handed over untouched after a
 * bounded wait, so nghttp2 answers it as it answered before the gate existed; a late ACK of the
 * gate's SETTINGS then costs that client its connection. Timers are the gate's own: it runs
 * before a connection reaches any of the member's loops.
 */
export function gateHttp2(conn: Duplex, o: GateOptions): void {
  const scan = new GateScanner();
  let done = false;
  let wait: NodeJS.Timeout | undefined;
  let waitingFor: 'request' | 'ack' | undefined;
  const stop = () => {
    done = true;
    clearTimeout(maxTimer);
    clearTimeout(wait);
    conn.off('data', onData);
    conn.off('error', onGone);
    conn.off('end', onGone);
  };
  const finish = () => {
    if (done) return;
    stop();
    conn.pause();
    const bytes = scan.bytes();
    if (scan.verdict === 'fix') {
      o.handOff(fixAuthorities(conn, bytes));
    } else {
      conn.unshift(bytes);
      o.handOff(conn);
    }
  };
  const onGone = () => {
    stop();
    conn.destroy();
  };
  const waitThen = (what: 'request' | 'ack', ms: number) => {
    if (waitingFor === what) return;
    clearTimeout(wait);
    waitingFor = what;
    wait = setTimeout(() => {
      scan.settle();
      finish();
    }, ms);
  };
  const check = () => {
    if (done) return;
    if (scan.size > gateMaxBytes) scan.settle();
    if (scan.acked && scan.verdict !== undefined) return finish();
    if (scan.size > gateMaxBytes) return finish();
    if (scan.acked) waitThen('request', o.idleMs ?? gateIdleMs);
    else if (scan.verdict !== undefined) waitThen('ack', o.ackWaitMs ?? gateAckWaitMs);
  };
  const onData = (c: Buffer) => {
    scan.feed(c);
    check();
  };
  const maxTimer = setTimeout(() => {
    scan.settle();
    finish();
  }, o.maxWaitMs ?? gateMaxWaitMs);
  conn.on('error', onGone);
  conn.on('end', onGone);
  conn.on('data', onData);
  conn.write(settingsFrame(o.settings));
  if (o.initial.length > 0) onData(o.initial);
  conn.resume();
}

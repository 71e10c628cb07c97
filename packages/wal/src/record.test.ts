import { crc32c } from '@node-rs/crc32';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HEADER_BYTES, MAX_RECORD_BYTES, RecordType } from './constants.js';
import { WalError } from './errors.js';
import { encodeCrcRecord, encodeRecord, scanSegment, type SegmentScan } from './record.js';

/** WAL_FUZZ_SCALE=20 runs the fuzz properties twenty times longer. */
const FUZZ_SCALE = Math.max(1, Number(process.env.WAL_FUZZ_SCALE ?? 1));

interface Built {
  image: Buffer;
  /** Offset just past the last record. */
  used: number;
  records: { type: number; data: Buffer; offset: number }[];
}

/** A segment image: Crc record, metadata, then the given payloads, then `zeros` bytes of zero fill. */
function buildSegment(payloads: { type: RecordType; data: Buffer }[], zeros: number, prevCrc = 0): Built {
  const frames: Buffer[] = [];
  const records: Built['records'] = [];
  let off = 0;
  let enc = encodeCrcRecord(prevCrc);
  const push = (type: number, data: Buffer, f: Buffer) => {
    frames.push(f);
    records.push({ type, data, offset: off });
    off += f.length;
  };
  const crcData = Buffer.alloc(4);
  crcData.writeUInt32LE(prevCrc >>> 0);
  push(RecordType.Crc, crcData, enc.frame);
  for (const p of [{ type: RecordType.Metadata, data: Buffer.from('meta') }, ...payloads]) {
    enc = encodeRecord(p.type, p.data, enc.crc);
    push(p.type, p.data, enc.frame);
  }
  return { image: Buffer.concat([...frames, Buffer.alloc(zeros)]), used: off, records };
}

function scanOrError(buf: Buffer, last: boolean): SegmentScan | WalError {
  try {
    return scanSegment(buf, { file: 'seg.wal', last });
  } catch (err) {
    if (err instanceof WalError) return err;
    throw err; // anything else is a decoder bug
  }
}

/** The scan's records are a prefix of the built ones, byte for byte. */
function isPrefix(scan: SegmentScan, built: Built): boolean {
  if (scan.records.length > built.records.length) return false;
  return scan.records.every((r, i) => {
    const b = built.records[i]!;
    return r.type === b.type && r.offset === b.offset && r.data.equals(b.data);
  });
}

const payloadArb = fc.record({
  type: fc.constantFrom(RecordType.Entry, RecordType.HardState, RecordType.Snapshot, RecordType.Metadata),
  data: fc.uint8Array({ minLength: 0, maxLength: 700 }).map((u) => Buffer.from(u)),
});
const segmentArb = fc.record({
  payloads: fc.array(payloadArb, { minLength: 1, maxLength: 12 }),
  zeros: fc.integer({ min: 0, max: 2048 }),
});

describe('record encoding', () => {
  it('lays out a 16-byte aligned header with a self-checked length', () => {
    const { frame, crc } = encodeRecord(RecordType.Entry, Buffer.from('hello'), 0x1234);
    expect(frame.length).toBe(32);
    expect(frame.readUInt32LE(0)).toBe(5);
    expect(frame[4]).toBe(RecordType.Entry);
    expect(frame[5]).toBe(1);
    expect(frame[6]).toBe(11);
    expect(frame[7]).toBe(0);
    expect(frame.readUInt32LE(8)).toBe(crc);
    expect(crc).toBe(crc32c(Buffer.from('hello'), crc32c(frame.subarray(0, 8), 0x1234)));
    expect(frame.readUInt32LE(12)).toBe(crc32c(frame.subarray(0, 12)));
    expect(frame.subarray(HEADER_BYTES + 5).equals(Buffer.alloc(11))).toBe(true);
    expect(encodeRecord(RecordType.Entry, Buffer.alloc(16), 0).frame.length).toBe(32);
    expect(encodeRecord(RecordType.Entry, Buffer.alloc(0), 0).frame.length).toBe(16);
  });

  it('refuses payloads over the limit', () => {
    expect(() => encodeRecord(RecordType.Entry, Buffer.alloc(MAX_RECORD_BYTES + 1), 0)).toThrow(WalError);
  });

  it('scans back what it encoded, chaining across segments', () => {
    const a = buildSegment([{ type: RecordType.Entry, data: Buffer.from('x') }], 100);
    const sa = scanSegment(a.image, { file: 'a', last: false });
    expect(sa.end.kind).toBe('zeros');
    expect(sa.records.length).toBe(3);
    const b = buildSegment([{ type: RecordType.Entry, data: Buffer.from('y') }], 0, sa.crc);
    expect(scanSegment(b.image, { file: 'b', prevCrc: sa.crc, last: true }).end.kind).toBe('eof');
    const wrong = buildSegment([], 0, (sa.crc! ^ 1) >>> 0);
    expect(() => scanSegment(wrong.image, { file: 'b', prevCrc: sa.crc, last: true })).toThrow(/previous segment ended/);
  });
});

describe('decoder fuzz', () => {
  it(
    'random input: a result or a WalError, never anything else',
    () => {
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 4096 }), fc.boolean(), (u, last) => {
          scanOrError(Buffer.from(u), last);
        }),
        { numRuns: 2000 * FUZZ_SCALE },
      );
    },
    30_000 * FUZZ_SCALE,
  );

  it(
    'random input behind a valid header prefix: same',
    () => {
      fc.assert(
        fc.property(segmentArb, fc.uint8Array({ maxLength: 2048 }), fc.boolean(), (s, junk, last) => {
          const b = buildSegment(s.payloads, 0);
          const r = scanOrError(Buffer.concat([b.image, Buffer.from(junk)]), last);
          if (!(r instanceof WalError)) expect(isPrefix(r, b)).toBe(true);
        }),
        { numRuns: 500 * FUZZ_SCALE },
      );
    },
    30_000 * FUZZ_SCALE,
  );

  it(
    'mutated segments: a WalError, or a prefix of the original records — never altered data',
    () => {
      const mutation = fc.oneof(
        fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
        fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
        fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
        fc.record({ kind: fc.constant('zeroTail' as const), at: fc.nat() }),
        fc.record({ kind: fc.constant('zeroRange' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 600 }) }),
        fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.nat() }),
      );
      fc.assert(
        fc.property(segmentArb, fc.array(mutation, { minLength: 1, maxLength: 3 }), fc.boolean(), (s, muts, last) => {
          const b = buildSegment(s.payloads, s.zeros);
          let img = Buffer.from(b.image);
          let flippedInside = false;
          for (const m of muts) {
            if (img.length === 0) break;
            const at = m.at % img.length;
            switch (m.kind) {
              case 'flip':
                img[at] = img[at]! ^ (1 << m.bit);
                if (at < b.used) flippedInside = true;
                break;
              case 'set':
                img[at] = m.value;
                break;
              case 'truncate':
                img = img.subarray(0, at);
                break;
              case 'zeroTail':
                img.fill(0, at);
                break;
              case 'zeroRange':
                img.fill(0, at, Math.min(img.length, at + m.len));
                break;
              case 'u32':
                if (at + 4 <= img.length) img.writeUInt32LE(m.value >>> 0, at);
                break;
            }
          }
          const r = scanOrError(img, last);
          if (r instanceof WalError) {
            expect(r.file).toBe('seg.wal');
            expect(typeof r.offset).toBe('number');
            return;
          }
          expect(isPrefix(r, b)).toBe(true);
          // A single flipped bit among the records is never accepted as the full log.
          if (muts.length === 1 && flippedInside) expect(r.records.length).toBeLessThan(b.records.length);
        }),
        { numRuns: 1500 * FUZZ_SCALE },
      );
    },
    30_000 * FUZZ_SCALE,
  );
});

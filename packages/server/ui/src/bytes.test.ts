import { describe, expect, it } from 'vitest';
import { b64ToBytes, bytesToB64, hexLimit, humanBytes, keyAfter, prefixRangeEnd, showB64, showBytes, strToB64 } from './bytes.js';

const bytes = (...b: number[]) => new Uint8Array(b);

describe('byte display', () => {
  it('shows UTF-8 as text, tabs and newlines included', () => {
    expect(showBytes(new TextEncoder().encode('héllo\twörld\n✓'))).toEqual({ kind: 'text', text: 'héllo\twörld\n✓' });
    expect(showB64(strToB64('app/config'))).toEqual({ kind: 'text', text: 'app/config' });
    expect(showB64(undefined)).toEqual({ kind: 'text', text: '' });
  });
  it('shows invalid UTF-8 and control characters as hex, long ones as base64', () => {
    expect(showBytes(bytes(0xff, 0x00, 0x41))).toEqual({ kind: 'hex', text: 'ff 00 41' });
    expect(showBytes(bytes(0x41, 0x07))).toEqual({ kind: 'hex', text: '41 07' });
    // A lone surrogate half / truncated sequence is not UTF-8.
    expect(showBytes(bytes(0xe2, 0x9c)).kind).toBe('hex');
    const long = new Uint8Array(hexLimit + 1).fill(0xfe);
    expect(showBytes(long)).toEqual({ kind: 'base64', text: Buffer.from(long).toString('base64') });
  });
  it('round-trips base64 like node does, for every byte value', () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    expect(bytesToB64(all)).toBe(Buffer.from(all).toString('base64'));
    expect(Array.from(b64ToBytes(Buffer.from(all).toString('base64')))).toEqual(Array.from(all));
  });
});

describe('key ranges', () => {
  it("computes etcd's prefix range end", () => {
    expect(Array.from(prefixRangeEnd(new TextEncoder().encode('app/')))).toEqual(Array.from(new TextEncoder().encode('app0')));
    expect(Array.from(prefixRangeEnd(bytes(0x61, 0xff, 0xff)))).toEqual([0x62]);
    expect(Array.from(prefixRangeEnd(bytes(0xff)))).toEqual([0]);
    expect(Array.from(prefixRangeEnd(bytes()))).toEqual([0]);
  });
  it('starts the next page just after the last key', () => {
    expect(Array.from(keyAfter(bytes(0x61, 0x62)))).toEqual([0x61, 0x62, 0]);
  });
  it('humanises sizes', () => {
    expect(humanBytes(512)).toBe('512 B');
    expect(humanBytes(20480)).toBe('20.0 KiB');
    expect(humanBytes(3 * 1024 * 1024)).toBe('3.0 MiB');
  });
});

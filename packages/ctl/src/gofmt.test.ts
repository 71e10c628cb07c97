import { describe, expect, it } from 'vitest';
import { formatGoDuration, goHex, goJsonString, goQuote, humanizeBytes, parseGoDuration } from './gofmt.js';

describe('Go formatting', () => {
  it('quotes like strconv.Quote', () => {
    expect(goQuote('a"b\\c')).toBe('"a\\"b\\\\c"');
    expect(goQuote('line\n\t\x01\x7f')).toBe('"line\\n\\t\\x01\\x7f"');
    expect(goQuote('é世')).toBe('"é世"');
    expect(goQuote(Buffer.from([0xff, 0x61]))).toBe('"\\xffa"');
    expect(goQuote('\u200b')).toBe('"\\u200b"');
  });

  it('writes JSON strings like encoding/json', () => {
    expect(goJsonString('<a&b>')).toBe('"\\u003ca\\u0026b\\u003e"');
    expect(goJsonString('x\ny\b')).toBe('"x\\ny\\u0008"');
    expect(goJsonString(Buffer.from([0xff]))).toBe('"\\ufffd"');
    expect(goJsonString('\u2028')).toBe('"\\u2028"');
  });

  it('parses and prints durations like time.Duration', () => {
    expect(parseGoDuration('5s')).toBe(5_000_000_000n);
    expect(parseGoDuration('1.5m')).toBe(90_000_000_000n);
    expect(parseGoDuration('1h2m3ms')).toBe(3_720_003_000_000n);
    expect(parseGoDuration('0')).toBe(0n);
    expect(() => parseGoDuration('1')).toThrow('time: missing unit in duration "1"');
    expect(() => parseGoDuration('x')).toThrow('time: invalid duration "x"');
    expect(() => parseGoDuration('1x')).toThrow('time: unknown unit "x" in duration "1x"');
    expect(formatGoDuration(2_413_659n)).toBe('2.413659ms');
    expect(formatGoDuration(850_000n)).toBe('850µs');
    expect(formatGoDuration(12n)).toBe('12ns');
    expect(formatGoDuration(0n)).toBe('0s');
    expect(formatGoDuration(1_500_000_000n)).toBe('1.5s');
    expect(formatGoDuration(3_723_000_000_000n)).toBe('1h2m3s');
  });

  it('humanizes sizes like go-humanize', () => {
    expect(humanizeBytes(5)).toBe('5 B');
    expect(humanizeBytes(24576)).toBe('25 kB');
    expect(humanizeBytes(1500)).toBe('1.5 kB');
    expect(humanizeBytes(82854982)).toBe('83 MB');
  });

  it('prints hex like %016x and %16x', () => {
    expect(goHex(0x2040a201c0171b10n, 16)).toBe('2040a201c0171b10');
    expect(goHex(255n, 16)).toBe('00000000000000ff');
    expect(goHex(255n, 16, ' ')).toBe('              ff');
  });
});

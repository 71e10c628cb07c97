import { describe, expect, it } from 'vitest';
import { LineSplitter } from './ndjson.js';

describe('ndjson lines', () => {
  it('hands out whole lines only, across chunk boundaries', () => {
    const s = new LineSplitter();
    expect(s.push('{"result":{"a":')).toEqual([]);
    expect(s.push('1}}\n{"result"')).toEqual(['{"result":{"a":1}}']);
    expect(s.push(':{}}\n\n{"x":2}\n')).toEqual(['{"result":{}}', '{"x":2}']);
  });
});

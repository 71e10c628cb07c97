// The report of a long run: more events than a JavaScript call takes arguments (a 5-minute run
// here records 120,000+ events; seed 304 lost its report and verdict to a spread of them).
import { History } from '@kv/check';
import { describe, expect, it } from 'vitest';
import { figuresOf, renderReport } from './report.js';

describe('renderReport', () => {
  it('draws a history of 300,000 events', () => {
    let t = 0;
    const h = new History(() => (t += 0.01));
    for (let i = 0; i < 150_000; i++) h.ok(h.invoke(i % 16, 'read', { key: `k${i % 7}` }), { value: null });
    const html = renderReport(
      h.events,
      [],
      {
        server: 'kvd',
        members: 3,
        seed: 1,
        durationMs: 1,
        workloads: ['register'],
        nemeses: [],
        faults: {},
        checks: {},
        notes: [],
        ...figuresOf(h.events),
      },
      true,
    );
    expect(h.events.length).toBe(300_000);
    expect(html).toContain('>valid<');
  });
});

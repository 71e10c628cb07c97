import { describe, expect, it } from 'vitest';
import { formatScaleTable, memoryOf, parseScaleArgs, type ScaleRecord } from './scale.js';
import { UsageError } from './options.js';

describe('bench:scale options', () => {
  it('defaults to the issue figures and refuses bad values', () => {
    expect(parseScaleArgs([])).toEqual({
      kind: 'run',
      options: { servers: ['kvd', 'etcd'], keys: 300_000, clients: 200, conns: 20, valSize: 256, outDir: undefined },
    });
    expect(parseScaleArgs(['--servers', 'kvd', '--keys', '1000'])).toMatchObject({ options: { servers: ['kvd'], keys: 1000 } });
    expect(() => parseScaleArgs(['--keys', '0'])).toThrow(UsageError);
    expect(() => parseScaleArgs(['--servers', 'zk'])).toThrow(/unknown server/);
    expect(() => parseScaleArgs(['--bogus'])).toThrow(UsageError);
  });
});

describe('bench:scale table', () => {
  it('gives each measure kv-better ratios (more puts, less of everything else)', () => {
    const rec = (server: 'kvd' | 'etcd', k: number): ScaleRecord => ({
      server,
      putsPerSec: 1000 * k,
      putP99Ms: 10 * k,
      putErrors: 0,
      rssMiB: 100 * k,
      rssPeakMiB: 120 * k,
      dataDirMiB: 50,
      keysOnlyRangeSec: 2 * k,
      rssAfterRangeMiB: Number.NaN,
      restartSec: k,
      deletePrefixSec: k,
      rssPeakAfterDeleteMiB: 150 * k,
    });
    const table = formatScaleTable([rec('kvd', 2), rec('etcd', 1)]);
    expect(table).toMatch(/^puts\/s\s+2000\s+1000\s+2\.00$/m);
    expect(table).toMatch(/^RSS MiB\s+200\s+100\s+0\.50$/m);
    expect(table).toMatch(/^data dir MiB\s+50\s+50\s+1\.00$/m);
    expect(table).toMatch(/^RSS after range MiB\s+-\s+-\s+-$/m);
  });

  it.runIf(process.platform === 'linux')('reads a process memory from /proc', () => {
    const m = memoryOf(process.pid);
    expect(m.rss).toBeGreaterThan(1);
    expect(m.peak).toBeGreaterThanOrEqual(m.rss - 1);
  });
});

// pnpm bench's command line, driver arguments and table (no servers started).
import { describe, expect, it } from 'vitest';
import { UsageError } from './options.js';
import { goArgs, nodeOptions, SCENARIO } from './scenario.js';
import { checkPerfLines, formatSuiteTable, parseSuiteArgs, type RunRecord } from './suite.js';

const row = (id: string) => SCENARIO.find((r) => r.id === id)!;

describe('parseSuiteArgs', () => {
  it('defaults: both servers, sizes 1 and 3, the Go driver, the issue rows, check perf s and m', () => {
    const c = parseSuiteArgs([]);
    if (c.kind !== 'run') throw new Error('expected run');
    expect(c.options).toMatchObject({
      servers: ['kvd', 'etcd'],
      sizes: [1, 3],
      drivers: ['go'],
      checkPerf: ['s', 'm'],
      quick: false,
      auth: false,
    });
    expect(c.options.rows.map((r) => r.id)).toEqual(['put-1', 'put-100', 'put-1000', 'get-l', 'get-s', 'txn-cas', 'watch']);
  });
  it('--quick checks perf s only; --driver both; --check-perf none; member flags after --', () => {
    const c = parseSuiteArgs(['--quick', '--driver', 'both', '--sizes', '3', '--check-perf', 'none', '--', '--snapshot-count', '5000']);
    if (c.kind !== 'run') throw new Error('expected run');
    expect(c.options).toMatchObject({
      quick: true,
      drivers: ['go', 'node'],
      sizes: [3],
      checkPerf: [],
      serverArgs: ['--snapshot-count', '5000'],
    });
    const q = parseSuiteArgs(['--quick']);
    expect(q.kind === 'run' && q.options.checkPerf).toEqual(['s']);
    const a = parseSuiteArgs(['--auth', '--workloads', 'put-1']);
    expect(a.kind === 'run' && a.options.auth).toBe(true);
  });
  it('refuses bad input and --unsafe-no-fsync', () => {
    expect(() => parseSuiteArgs(['--driver', 'python'])).toThrow(UsageError);
    expect(() => parseSuiteArgs(['--servers', 'zk'])).toThrow(/unknown server/);
    expect(() => parseSuiteArgs(['--workloads', 'nope'])).toThrow(/unknown workload/);
    expect(() => parseSuiteArgs(['--check-perf', 'huge'])).toThrow(/unknown load/);
    expect(() => parseSuiteArgs(['--sizes', '0'])).toThrow(/positive/);
    expect(() => parseSuiteArgs(['--', '--unsafe-no-fsync'])).toThrow(/not allowed/);
  });
});

describe('driver arguments', () => {
  it('give both drivers every endpoint and the same settings', () => {
    const eps = ['127.0.0.1:1', '127.0.0.1:2', '127.0.0.1:3'];
    expect(goArgs(row('get-s'), eps, 500)).toEqual([
      'range',
      '--endpoints=127.0.0.1:1,127.0.0.1:2,127.0.0.1:3',
      '--clients=100',
      '--conns=10',
      '--total=500',
      '--warmup=50',
      '--key-size=8',
      '--val-size=256',
      '--key-space-size=10000',
      '--consistency=s',
    ]);
    expect(goArgs(row('watch'), eps, 200)).toContain('--streams=10');
    expect(nodeOptions(row('get-s'), eps, 500)).toMatchObject({
      workload: 'range',
      consistency: 'serializable',
      endpoints: eps,
      clients: 100,
      conns: 10,
      total: 500,
      warmup: 50,
      keySpace: 10_000,
    });
  });
});

const rec = (server: 'kvd' | 'etcd', throughput: number, p50Ms: number, p99Ms: number, extra: Partial<RunRecord> = {}): RunRecord => ({
  size: 3,
  server,
  driver: 'go',
  row: 'put-1',
  label: 'put, 1 client',
  ops: 100,
  errors: 0,
  seconds: 1,
  throughput,
  unit: 'req/s',
  p50Ms,
  p90Ms: p50Ms,
  p99Ms,
  maxMs: p99Ms,
  raw: {} as RunRecord['raw'],
  ...extra,
});

describe('formatSuiteTable', () => {
  it('orients every ratio so that > 1 means kv is better, and marks runs with errors', () => {
    const t = formatSuiteTable(
      3,
      [rec('kvd', 500, 2, 8, { errors: 2 }), rec('etcd', 1000, 1, 4)],
      [{ size: 3, server: 'kvd', load: 's', lines: ['PASS: Throughput is 150 writes/s', 'PASS'], exitCode: 0, seconds: 61, output: '' }],
    );
    const line = t.split('\n').find((l) => l.startsWith('put, 1 client'))!;
    const cells = line.split(/\s{2,}/);
    expect(cells.slice(0, 11)).toEqual([
      'put, 1 client',
      'go',
      '500.0*',
      '1000.0',
      '0.50',
      '2.00*',
      '1.00',
      '0.50',
      '8.00*',
      '4.00',
      '0.50',
    ]);
    expect(line).toContain('kv 2 err');
    expect(t).toMatch(/--load=s kv\s+PASS: Throughput is 150 writes\/s \| PASS/);
  });
  it('says n/a when a server has no figure', () => {
    const t = formatSuiteTable(3, [rec('kvd', 500, 2, 8)], []);
    expect(t.split('\n').find((l) => l.startsWith('put'))).toMatch(/500\.0\s+-\s+n\/a/);
  });
});

describe('checkPerfLines', () => {
  it('keeps the verdicts from etcdctl output with a progress bar', () => {
    const out =
      ' 59 / 60   98.33%\r 60 / 60  100.00% 1m0s\nPASS: Throughput is 151 writes/s\nPASS: Slowest request took 0.05s\nStddev too high: 0.2s\nFAIL\n';
    expect(checkPerfLines(out)).toEqual([
      'PASS: Throughput is 151 writes/s',
      'PASS: Slowest request took 0.05s',
      'FAIL: Stddev too high: 0.2s',
      'FAIL',
    ]);
  });
  it('finds a verdict the progress bar ran into, and an abort', () => {
    const out = '\r 59 / 60   98.33%FAIL: Throughput too low: 126 writes/s\nSlowest request took too long: 0.9s\nFAIL\n';
    expect(checkPerfLines(out)).toEqual(['FAIL: Throughput too low: 126 writes/s', 'FAIL: Slowest request took too long: 0.9s', 'FAIL']);
    expect(checkPerfLines('\r 60 / 60 100.00%\nError: etcdserver: request timed out\n')).toEqual(['Error: etcdserver: request timed out']);
  });
});

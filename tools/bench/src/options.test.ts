import { describe, expect, it } from 'vitest';
import { benchFor, parseCompareArgs } from './compare.js';
import { DEFAULTS, parseBenchArgs, parseDuration, UsageError } from './options.js';

describe('parseBenchArgs', () => {
  it('takes a workload and endpoints, defaults for the rest', () => {
    expect(parseBenchArgs(['put', '--endpoints', '127.0.0.1:1, 127.0.0.1:2'])).toEqual({
      kind: 'run',
      json: false,
      options: { ...DEFAULTS, workload: 'put', endpoints: ['127.0.0.1:1', '127.0.0.1:2'] },
    });
  });

  it('reads every option', () => {
    const cmd = parseBenchArgs([
      'range',
      '--endpoints=a:1',
      '--clients',
      '4',
      '--conns',
      '2',
      '--key-size',
      '16',
      '--val-size',
      '10',
      '--key-space',
      '100',
      '--duration',
      '1.5s',
      '--rate',
      '50',
      '--warmup',
      '0',
      '--consistency',
      's',
      '--watchers',
      '3',
      '--request-timeout',
      '900',
      '--seed',
      '7',
      '--json',
    ]);
    expect(cmd).toEqual({
      kind: 'run',
      json: true,
      options: {
        workload: 'range',
        endpoints: ['a:1'],
        clients: 4,
        conns: 2,
        keySize: 16,
        valSize: 10,
        keySpace: 100,
        total: DEFAULTS.total,
        durationMs: 1500,
        rate: 50,
        warmup: 0,
        consistency: 'serializable',
        watchers: 3,
        txnOps: 1,
        requestTimeoutMs: 900,
        seed: 7,
      },
    });
  });

  it('rejects what cannot run', () => {
    expect(() => parseBenchArgs(['--endpoints', 'a:1'])).toThrow(/expected one workload/);
    expect(() => parseBenchArgs(['scan', '--endpoints', 'a:1'])).toThrow(/unknown workload/);
    expect(() => parseBenchArgs(['put'])).toThrow(/--endpoints is required/);
    expect(() => parseBenchArgs(['put', '--endpoints', 'a:1', '--clients', '0'])).toThrow(/--clients/);
    expect(() => parseBenchArgs(['put', '--endpoints', 'a:1', '--clients', '2', '--conns', '3'])).toThrow(/cannot exceed/);
    expect(() => parseBenchArgs(['put', '--endpoints', 'a:1', '--key-size', '4', '--key-space', '100000'])).toThrow(/too small/);
    expect(() => parseBenchArgs(['range', '--endpoints', 'a:1', '--consistency', 'x'])).toThrow(/--consistency/);
    expect(() => parseBenchArgs(['put', '--endpoints', 'a:1', '--bogus'])).toThrow(UsageError);
    expect(() => parseBenchArgs(['txn-put', '--endpoints', 'a:1', '--key-space', '2', '--txn-ops', '3'])).toThrow(/--txn-ops/);
  });

  it('parses durations', () => {
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('10s')).toBe(10_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('75')).toBe(75);
    expect(() => parseDuration('10h')).toThrow(UsageError);
    expect(() => parseDuration('0s')).toThrow(UsageError);
  });
});

describe('parseCompareArgs', () => {
  it('defaults to a cluster of 3 and every workload', () => {
    const cmd = parseCompareArgs([]);
    expect(cmd.kind).toBe('run');
    if (cmd.kind !== 'run') return;
    expect(cmd.options).toMatchObject({
      size: 3,
      workloads: ['put', 'range-l', 'range-s', 'txn', 'watch'],
      watchTotal: 1000,
      watchRate: 100,
      serverArgs: [],
      repeat: 1,
    });
    expect(cmd.options.bench.total).toBe(5000);
  });

  it('passes the same member flags to both servers and maps workloads to bench settings', () => {
    const cmd = parseCompareArgs(['--size', '1', '--workloads', 'range-s,watch', '--total', '300', '--', '--snapshot-count', '5000']);
    if (cmd.kind !== 'run') throw new Error('expected run');
    expect(cmd.options.serverArgs).toEqual(['--snapshot-count', '5000']);
    const range = benchFor('range-s', cmd.options, ['e:1']);
    expect(range).toMatchObject({ workload: 'range', consistency: 'serializable', total: 300, rate: 0, endpoints: ['e:1'] });
    expect(benchFor('watch', cmd.options, ['e:1'])).toMatchObject({ workload: 'watch', total: 1000, rate: 100 });
    expect(benchFor('range-l', cmd.options, ['e:1']).consistency).toBe('linearizable');
  });

  it('rejects unknown workloads and a global --consistency', () => {
    expect(() => parseCompareArgs(['--workloads', 'put,scan'])).toThrow(/unknown workload "scan"/);
    expect(() => parseCompareArgs(['--consistency', 's'])).toThrow(/range-l \/ range-s/);
  });
});

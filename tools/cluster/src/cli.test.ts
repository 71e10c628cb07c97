import { describe, expect, it } from 'vitest';
import { formatEndpoints, parseCli, UsageError } from './cli.js';

describe('parseCli', () => {
  it('has defaults: kvd, 3 members, temp dir, no extra flags', () => {
    expect(parseCli([])).toEqual({
      kind: 'run',
      options: { server: 'kvd', size: 3, readyTimeoutMs: 30_000, stopTimeoutMs: 10_000, extraArgs: [] },
    });
  });

  it('reads every flag and passes what follows -- to the members', () => {
    const cmd = parseCli([
      '--server',
      'etcd',
      '--size',
      '5',
      '--base-dir',
      '/x',
      '--ready-timeout',
      '500',
      '--token',
      't',
      '--',
      '--snapshot-count',
      '10',
    ]);
    expect(cmd).toEqual({
      kind: 'run',
      options: {
        server: 'etcd',
        size: 5,
        baseDir: '/x',
        readyTimeoutMs: 500,
        stopTimeoutMs: 10_000,
        token: 't',
        extraArgs: ['--snapshot-count', '10'],
      },
    });
  });

  it('rejects bad input', () => {
    expect(() => parseCli(['--server', 'zk'])).toThrow(UsageError);
    expect(() => parseCli(['--size', '0'])).toThrow(/--size/);
    expect(() => parseCli(['--size', 'three'])).toThrow(/--size/);
    expect(() => parseCli(['--nope'])).toThrow(UsageError);
    expect(() => parseCli(['stray'])).toThrow(UsageError);
  });

  it('recognises --help', () => {
    expect(parseCli(['-h'])).toEqual({ kind: 'help' });
  });
});

describe('formatEndpoints', () => {
  it('prints one URL a line, then the --endpoints form', () => {
    expect(formatEndpoints(['http://127.0.0.1:1', 'http://127.0.0.1:2'])).toBe(
      'http://127.0.0.1:1\nhttp://127.0.0.1:2\n--endpoints=127.0.0.1:1,127.0.0.1:2\n',
    );
  });
});

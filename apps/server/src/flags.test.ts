import { describe, expect, it } from 'vitest';
import { normalizeArgs, parseFlags } from './flags.js';

function run(args: string[], env: Record<string, string> = {}) {
  const r = parseFlags(args, env);
  if (r.kind !== 'run') throw new Error('expected a run config');
  return r.config;
}

describe('kvd flags', () => {
  it("has etcd's defaults", () => {
    const c = run([]);
    expect(c.name).toBe('default');
    expect(c.dataDir).toBe('default.etcd');
    expect(c.listenClientUrls).toEqual(['http://localhost:2379']);
    expect(c.initialCluster).toEqual([{ name: 'default', peerUrls: ['http://localhost:2380'] }]);
    expect(c.initialClusterToken).toBe('etcd-cluster');
    expect(c.snapshotCount).toBe(100000);
    expect(c.maxRequestBytes).toBe(1572864);
    expect(c.maxTxnOps).toBe(128);
    expect(c.heartbeatIntervalMs).toBe(100);
    expect(c.electionTimeoutMs).toBe(1000);
  });

  it('derives data dir and initial cluster from the name', () => {
    const c = run(['--name', 'n1', '--initial-advertise-peer-urls', 'http://127.0.0.1:12380']);
    expect(c.dataDir).toBe('n1.etcd');
    expect(c.initialCluster).toEqual([{ name: 'n1', peerUrls: ['http://127.0.0.1:12380'] }]);
  });

  it('accepts Go-style single-dash flags and --flag=value', () => {
    expect(normalizeArgs(['-name', 'x', '--data-dir=/d'])).toEqual(['--name', 'x', '--data-dir=/d']);
    const c = run(['-name=x', '--data-dir=/tmp/d', '-max-txn-ops', '7']);
    expect(c.name).toBe('x');
    expect(c.dataDir).toBe('/tmp/d');
    expect(c.maxTxnOps).toBe(7);
  });

  it('reads ETCD_* environment variables, flags winning', () => {
    const c = run(['--name', 'flag'], { ETCD_NAME: 'env', ETCD_SNAPSHOT_COUNT: '42', ETCD_UNSAFE_NO_FSYNC: 'true' });
    expect(c.name).toBe('flag');
    expect(c.snapshotCount).toBe(42);
    expect(c.unsafeNoFsync).toBe(true);
  });

  it('--strict-reconfig-check: on by default, off by flag or ETCD_STRICT_RECONFIG_CHECK', () => {
    expect(run([]).strictReconfigCheck).toBe(true);
    expect(run(['--strict-reconfig-check']).strictReconfigCheck).toBe(true);
    expect(run(['--strict-reconfig-check=false']).strictReconfigCheck).toBe(false);
    expect(run(['-strict-reconfig-check=false']).strictReconfigCheck).toBe(false);
    expect(run([], { ETCD_STRICT_RECONFIG_CHECK: 'false' }).strictReconfigCheck).toBe(false);
    expect(run(['--strict-reconfig-check=true'], { ETCD_STRICT_RECONFIG_CHECK: 'false' }).strictReconfigCheck).toBe(true);
  });

  it('rejects bad values with clear errors', () => {
    expect(() => run(['--max-txn-ops', 'abc'])).toThrow(/invalid value "abc" for flag -max-txn-ops/);
    expect(() => run(['--listen-client-urls', 'ftp://x:1'])).toThrow(/URL scheme must be http/);
    expect(() => run(['--heartbeat-interval', '500'])).toThrow(/at least as 5 times/);
    expect(() => run(['--initial-cluster-state', 'old'])).toThrow(/initial-cluster-state/);
    expect(() => run(['--auto-compaction-retention', 'soon'])).toThrow(/auto-compaction-retention/);
    expect(() => run(['--name', 'a', '--initial-cluster', 'b=http://127.0.0.1:2380'])).toThrow(/couldn't find local name "a"/);
  });

  it('parses retention as etcd does', () => {
    expect(run(['--auto-compaction-retention', '1h30m']).autoCompactionRetention).toBe('1h30m');
    expect(run(['--auto-compaction-mode', 'revision', '--auto-compaction-retention', '1000']).autoCompactionMode).toBe('revision');
  });

  it('prints the version', () => {
    expect(parseFlags(['--version'], {})).toEqual({ kind: 'version' });
  });
});

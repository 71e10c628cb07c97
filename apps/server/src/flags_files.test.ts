// --wal-dir, --max-snapshots, --max-wals, --force-new-cluster: etcd's defaults, flags and ETCD_* variables.
import { describe, expect, it } from 'vitest';
import { parseFlags } from './flags.js';

function run(args: string[], env: Record<string, string> = {}) {
  const r = parseFlags(args, env);
  if (r.kind !== 'run') throw new Error('expected a run config');
  return r.config;
}

describe('kvd flags for the WAL and its files', () => {
  it("has etcd's defaults: WAL in the data dir, 5 snapshots, 5 WAL files, no forced restart", () => {
    const c = run([]);
    expect(c.walDir).toBe('');
    expect(c.maxSnapshots).toBe(5);
    expect(c.maxWals).toBe(5);
    expect(c.forceNewCluster).toBe(false);
  });

  it('takes them as flags (Go style too) or from the environment, not both', () => {
    const c = run(['--wal-dir', '/tmp/w', '-max-snapshots=0', '--max-wals', '12', '--force-new-cluster']);
    expect(c.walDir).toBe('/tmp/w');
    expect(c.maxSnapshots).toBe(0);
    expect(c.maxWals).toBe(12);
    expect(c.forceNewCluster).toBe(true);
    const e = run([], {
      ETCD_WAL_DIR: '/tmp/e',
      ETCD_MAX_SNAPSHOTS: '7',
      ETCD_MAX_WALS: '9',
      ETCD_FORCE_NEW_CLUSTER: 'true',
    });
    expect(e.walDir).toBe('/tmp/e');
    expect(e.maxSnapshots).toBe(7);
    expect(e.maxWals).toBe(9);
    expect(e.forceNewCluster).toBe(true);
    // etcd refuses a flag given both ways (pkg/flags verifyEnv), as for every other flag.
    expect(() => run(['--max-wals', '3'], { ETCD_MAX_WALS: '9' })).toThrow(/conflicting environment variable "ETCD_MAX_WALS"/);
  });

  it('rejects bad values with clear errors', () => {
    expect(() => run(['--max-wals', 'many'])).toThrow(/invalid value "many" for flag -max-wals/);
    expect(() => run(['--max-snapshots', '-1'])).toThrow(/invalid value "-1" for flag -max-snapshots: parse error/);
    expect(() => run(['--data-dir', '/tmp/d', '--wal-dir', '/tmp/d/member'])).toThrow(/--wal-dir .* must not be/);
  });
});

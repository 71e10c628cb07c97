// Smoke of the Go driver (kvbench on etcd's clientv3): build it when Go is here, then run every
// workload for a tiny total against one kvd member and read its JSON.
import { startCluster, unavailableReason, type Cluster } from '@kv/cluster-launcher';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildGoDriver, goUnavailableReason, parseGoOutput, runGoDriver } from './godriver.js';

const goSkip = await goUnavailableReason();
const kvdSkip = unavailableReason('kvd');
const skip = goSkip ?? kvdSkip;
if (skip) console.warn(`skipping the Go driver smoke: ${skip}`);

describe('parseGoOutput', () => {
  it('reads the last JSON line and rejects anything else', () => {
    expect(parseGoOutput('noise\n{"ops":3,"errors":0,"workload":"put"}\n')).toMatchObject({ ops: 3, errors: 0 });
    expect(parseGoOutput('')).toBeUndefined();
    expect(parseGoOutput('{not json}\n')).toBeUndefined();
    expect(parseGoOutput('{"workload":"put"}\n')).toBeUndefined();
  });
});

describe.skipIf(skip !== undefined)('kvbench (Go, clientv3) against a single kvd', () => {
  let cluster: Cluster;
  let bin: string;
  beforeAll(async () => {
    // A cold build compiles clientv3 and grpc (tens of seconds); later builds are cached or skipped.
    bin = await buildGoDriver();
    cluster = await startCluster({ server: 'kvd', size: 1 });
  }, 600_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  const run = (workload: string, ...extra: string[]) =>
    runGoDriver(
      bin,
      [
        workload,
        `--endpoints=${cluster.endpoints.join(',')}`,
        '--clients=4',
        '--conns=2',
        '--total=40',
        '--key-space-size=50',
        '--val-size=64',
        ...extra,
      ],
      120_000,
    );

  it.each([
    { workload: 'put', extra: [] },
    { workload: 'range', extra: ['--consistency=l'] },
    { workload: 'range', extra: ['--consistency=s'] },
    { workload: 'txn-put', extra: ['--txn-ops=3'] },
    { workload: 'txn-cas', extra: [] },
    { workload: 'lease-keepalive', extra: [] },
  ])(
    '$workload $extra: every request succeeds',
    async ({ workload, extra }) => {
      const r = await run(workload, ...extra);
      expect(r.firstError).toBeUndefined();
      expect(r).toMatchObject({ driver: 'go', workload, ops: 40, errors: 0, count: 40, unit: 'req/s' });
      expect(r.aborted).toBeUndefined();
      expect(r.throughput).toBeGreaterThan(0);
      expect(r.maxMs).toBeGreaterThanOrEqual(r.p50Ms);
      if (workload === 'txn-cas') expect(r.conflicts).toBeGreaterThanOrEqual(0);
    },
    120_000,
  );

  it('watch: every put reaches every watcher', async () => {
    const r = await run('watch', '--watchers=5', '--streams=2');
    expect(r.firstError).toBeUndefined();
    expect(r).toMatchObject({ workload: 'watch', ops: 40, errors: 0, unit: 'events/s', events: 200, expectedEvents: 200, count: 200 });
    expect(r.putLatency?.count).toBe(40);
  }, 120_000);

  it('a usage error is an error result, not a crash', async () => {
    const r = await runGoDriver(bin, ['put', '--endpoints=127.0.0.1:1', '--clients=1', '--conns=2'], 30_000);
    expect(r.errors).toBe(1);
    expect(r.firstError).toMatch(/--conns \(2\) cannot exceed --clients \(1\)/);
  }, 60_000);
});

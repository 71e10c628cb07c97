// Short runs of every workload against one kvd member started by the launcher.
import { startCluster, unavailableReason, type Cluster } from '@kv/cluster-launcher';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULTS, type BenchOptions } from './options.js';
import { runBenchmark } from './runner.js';

const skip = unavailableReason('kvd');
if (skip) console.warn(`skipping benchmark runs: ${skip}`);

describe.skipIf(skip !== undefined)('runBenchmark against a single kvd', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster({ server: 'kvd', size: 1 });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
  }, 30_000);

  const opts = (o: Partial<BenchOptions>): BenchOptions => ({
    ...DEFAULTS,
    workload: 'put',
    endpoints: [...cluster.endpoints],
    clients: 8,
    conns: 2,
    keySpace: 100,
    total: 200,
    warmup: 10,
    ...o,
  });

  it('puts 200 keys', async () => {
    const r = await runBenchmark(opts({ workload: 'put' }));
    expect(r).toMatchObject({ label: 'put', requests: 200, errors: 0, unit: 'req/s' });
    expect(r.aborted).toBeUndefined();
    expect(r.latency.count).toBe(200);
    expect(r.throughput).toBeGreaterThan(0);
    expect(r.latency.max).toBeGreaterThanOrEqual(r.latency.p50);
  }, 30_000);

  it('ranges (serializable, over a prefilled key space) and runs compare-and-put txns', async () => {
    const range = await runBenchmark(opts({ workload: 'range', consistency: 'serializable' }));
    expect(range).toMatchObject({ label: 'range (serializable)', requests: 200, errors: 0 });
    const txn = await runBenchmark(opts({ workload: 'txn' }));
    expect(txn).toMatchObject({ label: 'txn', requests: 200, errors: 0 });
  }, 30_000);

  it('runs txn-put, txn-cas (conflicts counted, not errors) and lease keep-alives', async () => {
    const put = await runBenchmark(opts({ workload: 'txn-put', txnOps: 3 }));
    expect(put).toMatchObject({ label: 'txn-put', requests: 200, errors: 0 });
    const cas = await runBenchmark(opts({ workload: 'txn-cas', keySpace: 10 }));
    expect(cas).toMatchObject({ label: 'txn-cas', requests: 200, errors: 0 });
    expect(cas.conflicts).toBeGreaterThanOrEqual(0);
    expect(cas.conflicts).toBeLessThanOrEqual(200);
    const lease = await runBenchmark(opts({ workload: 'lease-keepalive' }));
    expect(lease).toMatchObject({ label: 'lease-keepalive', requests: 200, errors: 0 });
  }, 60_000);

  it('delivers every watched put to every watcher', async () => {
    const r = await runBenchmark(opts({ workload: 'watch', total: 20, watchers: 4 }));
    expect(r.unit).toBe('events/s');
    expect(r.watch).toMatchObject({ events: 80, expectedEvents: 80 });
    expect(r.latency.count).toBe(80);
    expect(r.aborted).toBeUndefined();
  }, 30_000);
});

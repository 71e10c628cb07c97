// Watch creates, cancels and progress requests with hostile values — start revisions at the int64
// extremes, compacted and future, empty and odd keys and range ends, filters out of range,
// chosen watch ids (taken, negative, huge), cancels of ids that never existed — each on a fresh
// stream of a fresh etcd 3.4 and kvd holding the same history. How each stream took its requests
// (created, canceled and why, or how it ended) must be the same on both.
import { etcdserverpb } from '@kv/api';
import { credentials, Metadata, type ServiceError } from '@grpc/grpc-js';
import { seededRandom } from '@kv/raft';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer, unavailableReason, type RunningServer } from '@kv/testkit';

const seed = Number(process.env.EXTREME_SEED ?? 20261201);
const count = Number(process.env.EXTREME_COUNT ?? 60);

function requests(s: number): etcdserverpb.WatchRequest[][] {
  const draw = seededRandom(s);
  const pick = <T>(xs: readonly T[]): T => xs[draw(xs.length)];
  const revs = [0n, 1n, 2n, 5n, 10n, 11n, 12n, 1000n, -1n, 2n ** 63n - 1n, -(2n ** 63n)];
  const key = () => pick([Buffer.alloc(0), Buffer.from([0]), Buffer.from('w/1'), Buffer.from('w/'), Buffer.alloc(300, 0x61)]);
  const end = () => pick([Buffer.alloc(0), Buffer.from([0]), Buffer.from('w0'), Buffer.from('a')]);
  const create = (): etcdserverpb.WatchRequest => ({
    createRequest: etcdserverpb.WatchCreateRequest.fromPartial({
      key: key(),
      rangeEnd: end(),
      startRevision: pick(revs),
      progressNotify: draw(2) === 1,
      filters: Array.from({ length: draw(3) }, () => draw(2)),
      prevKv: draw(2) === 1,
      watchId: pick([0n, 0n, 1n, 7n, -1n, 2n ** 63n - 1n]),
      fragment: draw(2) === 1,
    }),
  });
  const cancel = (): etcdserverpb.WatchRequest => ({ cancelRequest: { watchId: pick([0n, 1n, 7n, -1n, 2n ** 63n - 1n]) } });
  const progress = (): etcdserverpb.WatchRequest => ({ progressRequest: {} });
  return Array.from({ length: count }, () => {
    switch (draw(6)) {
      case 0:
        return [create(), create()]; // a second create may take the same chosen id
      case 1:
        return [cancel()];
      case 2:
        return [create(), cancel()];
      case 3:
        return [progress()];
      default:
        return [create()];
    }
  });
}

/**
 * How a stream took `reqs`: every response that is not only events (created, canceled, progress),
 * until it has been quiet for 500 ms, or how it ended. Sorted: answers about different watch ids
 * may come in either order (etcd cancels a compacted watcher from its catch-up loop, kv at once).
 */
async function answersOf(endpoint: string, reqs: etcdserverpb.WatchRequest[]): Promise<string> {
  const client = new etcdserverpb.WatchClient(endpoint, credentials.createInsecure());
  try {
    return await new Promise<string>((resolve) => {
      const call = client.watch(new Metadata(), { deadline: Date.now() + 10_000 });
      const seen: string[] = [];
      let quiet: NodeJS.Timeout | undefined;
      const done = (why: string) => {
        clearTimeout(quiet);
        clearTimeout(limit);
        call.cancel();
        resolve([...seen.sort(), why].join(' | '));
      };
      const hush = () => {
        clearTimeout(quiet);
        quiet = setTimeout(() => done('quiet'), 500);
      };
      const limit = setTimeout(() => done('still talking after 5 s'), 5000);
      hush();
      // Events are not compared (they depend on timing); how each request was taken is.
      call.on('data', (r: etcdserverpb.WatchResponse) => {
        if (r.events.length > 0 && !r.created && !r.canceled) return;
        seen.push(
          `id=${r.watchId} created=${r.created} canceled=${r.canceled} reason=${JSON.stringify(r.cancelReason)} compact=${r.compactRevision} rev=${r.header?.revision}`,
        );
        hush();
      });
      call.on('error', (e: ServiceError) => done(`error ${e.code} ${e.details}`));
      call.on('end', () => done('ended'));
      for (const r of reqs) call.write(r);
    });
  } finally {
    client.close();
  }
}

const skip = unavailableReason('etcd') ?? unavailableReason('kvd');

describe.skipIf(skip !== undefined)(`watch requests with hostile values, etcd and kvd side by side (seed ${seed})`, () => {
  const cases = requests(seed);
  let etcd: RunningServer;
  let kvd: RunningServer;

  beforeAll(async () => {
    [etcd, kvd] = await Promise.all([startServer('etcd'), startServer('kvd')]);
    // The same history on both: revisions 2..11, compacted at 5.
    for (const s of [etcd, kvd]) {
      const kv = new etcdserverpb.KVClient(s.endpoint, credentials.createInsecure());
      const call = <T>(f: (cb: (e: ServiceError | null, r?: T) => void) => void) =>
        new Promise<T>((res, rej) => f((e, r) => (e ? rej(e) : res(r!))));
      for (let i = 0; i < 10; i++)
        await call((cb) =>
          kv.put(etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(`w/${i % 3}`), value: Buffer.from(`v${i}`) }), cb),
        );
      await call((cb) => kv.compact({ revision: 5n, physical: true }, cb));
      kv.close();
    }
  }, 60_000);
  afterAll(async () => {
    await Promise.all([etcd?.stop(), kvd?.stop()]);
  });

  it('every watch request is taken by kvd as by etcd', { timeout: 600_000 }, async () => {
    const diffs: string[] = [];
    for (const [i, reqs] of cases.entries()) {
      const [e, k] = await Promise.all([answersOf(etcd.endpoint, reqs), answersOf(kvd.endpoint, reqs)]);
      if (e !== k) {
        const show = JSON.stringify(reqs, (_k, x) =>
          typeof x === 'bigint' ? `${x}n` : x?.type === 'Buffer' ? `<${x.data.length} bytes>` : x,
        );
        diffs.push(`#${i} ${show}\n   etcd: ${e}\n   kvd:  ${k}`);
      }
    }
    expect(diffs.slice(0, 10).join('\n'), `${diffs.length} of ${cases.length} differ (EXTREME_SEED=${seed})`).toBe('');
  });
});

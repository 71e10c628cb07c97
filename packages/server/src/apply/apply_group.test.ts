// The apply group commits whole groups or nothing: a request error is an answer, anything else
// (a bug, a failed backend read) rejects the group before its batch reaches the backend.
import { etcdserverpb } from '@kv/api';
import { Backend, KVStore, TxnWrite } from '@kv/mvcc';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Lessor } from '../lease/lessor.js';
import { AlarmStore } from './alarms.js';
import { AuthStore } from '../auth/store.js';
import { applyGroup, type GroupEntry } from './apply_group.js';
import { ApplyFault, Applier } from './applier.js';
import { RpcError } from '../errors.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kv-apply-'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await rm(dir, { recursive: true, force: true });
});

async function open() {
  const backend = await Backend.open(dir);
  const lessor = new Lessor({ now: () => 0, minTTL: 1n });
  const lease = [] as Buffer[];
  for await (const [, v] of backend.entries('lease')) lease.push(v);
  lessor.restore(lease);
  const store = await KVStore.open(backend, { leases: lessor });
  const alarms = new AlarmStore();
  const applier = new Applier({
    store,
    lessor,
    alarms,
    auth: new AuthStore(),
    header: (revision) => ({ clusterId: 1n, memberId: 1n, revision, raftTerm: 1n }),
  });
  const apply = (entries: GroupEntry[]) => applyGroup({ backend, store, applier, sync: false }, entries);
  const failures: unknown[] = [];
  /** As the member applies: published before the batch lands, a late failure reported. */
  const applyEarly = (entries: GroupEntry[]) =>
    applyGroup({ backend, store, applier, sync: false, onCommitFailed: (e) => failures.push(e) }, entries);
  return { backend, store, lessor, apply, applyEarly, failures, close: async () => (await store.close?.(), await backend.close()) };
}

const req = (r: Partial<etcdserverpb.InternalRaftRequest>) => etcdserverpb.InternalRaftRequest.fromPartial(r);
const put = (key: string, lease = 0n) =>
  req({ put: etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(key), value: Buffer.from('v'), lease }) });

async function keys(store: KVStore): Promise<string[]> {
  const r = await store.rangeAt(Buffer.from('k'), Buffer.from('l'), store.currentRev(), store.compactRev(), {});
  return r.kvs.map((kv) => kv.key.toString());
}

describe('applyGroup', () => {
  it('a request error is the entry’s answer and the rest of the group commits', async () => {
    const m = await open();
    const res = await m.apply([
      { index: 1n, req: put('k1') },
      { index: 2n, req: put('k2', 0x99n) }, // no such lease
      { index: 3n, req: put('k3') },
    ]);
    expect(res[0]?.err).toBeUndefined();
    expect((res[1]?.err as RpcError | undefined)?.message).toBe('etcdserver: requested lease not found');
    expect(res[2]?.err).toBeUndefined();
    expect(m.store.consistentIndex()).toBe(3n);
    expect(await keys(m.store)).toEqual(['k1', 'k3']);
    await m.close();
  });

  it('replay skips entries at or below the consistent index; empty entries move it on', async () => {
    const m = await open();
    await m.apply([
      { index: 1n, req: put('k1') },
      { index: 2n, req: put('k2') },
    ]);
    const rev = m.store.currentRev();
    // A restart replays the log from an older point: 1 and 2 are skipped, 3 (empty) and 4 apply.
    const res = await m.apply([{ index: 1n, req: put('k1') }, { index: 2n, req: put('k2') }, { index: 3n }, { index: 4n, req: put('k4') }]);
    expect(res.slice(0, 3)).toEqual([undefined, undefined, undefined]);
    expect(res[3]?.err).toBeUndefined();
    expect(m.store.currentRev()).toBe(rev + 1n);
    expect(m.store.consistentIndex()).toBe(4n);
    const k1 = await m.store.rangeAt(Buffer.from('k1'), undefined, m.store.currentRev(), 0n, {});
    expect(k1.kvs[0]?.version).toBe(1n); // not written twice
    // A group of empty entries only (a new leader's entry) still records its index.
    await m.apply([{ index: 5n }]);
    expect(m.store.consistentIndex()).toBe(5n);
    expect(await keys(m.store)).toEqual(['k1', 'k2', 'k4']);
    await m.close();
  });

  it('a fault in the middle of a lease revoke commits nothing of the group', async () => {
    const m = await open();
    await m.apply([
      { index: 1n, req: req({ leaseGrant: { ID: 7n, TTL: 60n } }) },
      { index: 2n, req: put('ka', 7n) },
      { index: 3n, req: put('kb', 7n) },
      { index: 4n, req: put('kc', 7n) },
    ]);
    expect(await keys(m.store)).toEqual(['ka', 'kb', 'kc']);
    // The backend fails under the revoke after it deleted the first key.
    const real = TxnWrite.prototype.deleteRange;
    let calls = 0;
    vi.spyOn(TxnWrite.prototype, 'deleteRange').mockImplementation(function (this: TxnWrite, key, end) {
      if (++calls === 2) return Promise.reject(new Error('IO error: read failed'));
      return real.call(this, key, end);
    });
    const applying = m.apply([
      { index: 5n, req: put('kd') },
      { index: 6n, req: req({ leaseRevoke: { ID: 7n } }) },
    ]);
    await expect(applying).rejects.toBeInstanceOf(ApplyFault);
    await expect(applying).rejects.toThrow(/apply of leaseRevoke entry 6 failed: IO error: read failed/);
    vi.restoreAllMocks();
    await m.close().catch(() => undefined);
    // On disk: nothing of entries 5 and 6 (the member stops here and replays them from its log).
    const again = await open();
    expect(again.store.consistentIndex()).toBe(4n);
    expect(await keys(again.store)).toEqual(['ka', 'kb', 'kc']);
    expect(again.lessor.lookup(7n)).toBeDefined();
    await again.close();
  });

  it('publishes a group before its batch lands; readers of the database wait for it', async () => {
    const m = await open();
    await m.applyEarly([{ index: 1n, req: put('k0') }]);
    await m.backend.settled();
    // Hold the next database write until released.
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const db = (m.backend as unknown as { db: { batch: (...a: unknown[]) => Promise<void> } }).db;
    const realBatch = db.batch.bind(db);
    vi.spyOn(db, 'batch').mockImplementation((...a: unknown[]) => held.then(() => realBatch(...a)));
    const res = await m.applyEarly([
      { index: 2n, req: put('k1') },
      { index: 3n, req: put('k2') },
    ]);
    vi.restoreAllMocks();
    expect(res.map((r) => r?.err)).toEqual([undefined, undefined]);
    // Answered and visible while the database does not have it yet: the values come from memory.
    expect(m.store.consistentIndex()).toBe(3n);
    expect(await keys(m.store)).toEqual(['k0', 'k1', 'k2']);
    expect(m.backend.commitsInFlight).toBe(1);
    // The history (watchers catching up) and the hash read the database: they wait for the batch.
    let historyDone = false;
    const history = (async () => {
      const revs: bigint[] = [];
      for await (const c of m.store.history(1n, m.store.currentRev())) revs.push(c.rev);
      historyDone = true;
      return revs;
    })();
    await new Promise((r) => setTimeout(r, 20));
    expect(historyDone).toBe(false);
    release();
    expect(await history).toEqual([2n, 3n, 4n]);
    expect(await keys(m.store)).toEqual(['k0', 'k1', 'k2']);
    expect(m.failures).toEqual([]);
    await m.close();
    // On disk after the close: all three.
    const again = await open();
    expect(again.store.consistentIndex()).toBe(3n);
    expect(await keys(again.store)).toEqual(['k0', 'k1', 'k2']);
    await again.close();
  });

  it('a batch that fails to land after it was published reports the failure (the member stops)', async () => {
    const m = await open();
    vi.spyOn(Backend.prototype, 'commit').mockImplementation(() => Promise.reject(new Error('IO error: disk gone')));
    await m.applyEarly([{ index: 1n, req: put('k1') }]);
    vi.restoreAllMocks();
    await new Promise((r) => setTimeout(r, 0));
    expect(m.failures.map((e) => (e as Error).message)).toEqual(['IO error: disk gone']);
    await m.close().catch(() => undefined);
  });

  it('a request error after writes is a fault, not an answer', async () => {
    const m = await open();
    // A txn whose request layer wrote and then failed would commit half of itself if answered.
    const realPut = TxnWrite.prototype.putNow;
    vi.spyOn(TxnWrite.prototype, 'putNow').mockImplementation(function (this: TxnWrite, k, v, l) {
      realPut.call(this, k, v, l);
      throw new RpcError('LeaseNotFound');
    });
    await expect(m.apply([{ index: 1n, req: put('k1') }])).rejects.toThrow(/request error after writes/);
    vi.restoreAllMocks();
    await m.close().catch(() => undefined);
  });
});

// The applier over a real backend: each kind of request's result (or request error) as etcd
// answers it, and the state it leaves — through applyGroup, as the raft loop applies entries.
import { etcdserverpb } from '@kv/api';
import { Backend, KVStore } from '@kv/mvcc';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Membership } from '../cluster/membership.js';
import { RpcError } from '../errors.js';
import { Lessor } from '../lease/lessor.js';
import { AlarmStore } from './alarms.js';
import { AuthStore } from '../auth/store.js';
import { applyGroup } from './apply_group.js';
import { Applier, type ApplyResult } from './applier.js';

let dir: string;
let close: () => Promise<void>;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'kv-applier-'));
});
afterEach(async () => {
  await close?.();
  await rm(dir, { recursive: true, force: true });
});

const b = (s: string) => Buffer.from(s);
const R = etcdserverpb.InternalRaftRequest.fromPartial;
const NOSPACE = etcdserverpb.AlarmType.NOSPACE;
const { ACTIVATE, DEACTIVATE, GET } = etcdserverpb.AlarmRequest_AlarmAction;

async function open() {
  const backend = await Backend.open(dir);
  const lessor = new Lessor({ now: () => 0, minTTL: 5n });
  const store = await KVStore.open(backend, { leases: lessor });
  const alarms = new AlarmStore();
  const membership = new Membership();
  const applier = new Applier({
    store,
    lessor,
    alarms,
    membership,
    auth: new AuthStore(),
    header: (revision) => ({ clusterId: 1n, memberId: 2n, revision, raftTerm: 3n }),
  });
  let index = 0n;
  /** Applies one request as the next log entry. */
  const apply = async (req: etcdserverpb.InternalRaftRequest): Promise<ApplyResult> => {
    const [r] = await applyGroup({ backend, store, applier, sync: false }, [{ index: ++index, req }]);
    return r ?? {};
  };
  /** The request error's name: RpcError's etcd name, or mvcc's KvError name. */
  const errName = (r: ApplyResult) =>
    r.err instanceof RpcError ? r.err.etcdName : r.err === undefined ? undefined : (r.err as Error).name;
  const get = async (key: string) => (await store.rangeAt(b(key), undefined, store.currentRev(), store.compactRev(), {})).kvs;
  close = async () => {
    await store.close?.();
    await backend.close();
  };
  return { store, lessor, alarms, membership, apply, errName, get };
}

describe('Applier', () => {
  it('put: the new revision in an etcd header, prev kv on request, an unknown lease refused', async () => {
    const m = await open();
    const r1 = await m.apply(R({ put: { key: b('k'), value: b('v1') } }));
    expect(r1.resp?.header).toEqual({ clusterId: 1n, memberId: 2n, revision: 2n, raftTerm: 3n });
    const r2 = await m.apply(R({ put: { key: b('k'), value: b('v2'), prevKv: true } }));
    expect((r2.resp as etcdserverpb.PutResponse).prevKv?.value.toString()).toBe('v1');
    expect(r2.resp?.header?.revision).toBe(3n);
    const r3 = await m.apply(R({ put: { key: b('x'), value: b('v'), lease: 99n } }));
    expect(m.errName(r3)).toBe('LeaseNotFound');
    expect(m.store.currentRev()).toBe(3n); // the refused put took no revision
    expect((await m.get('k'))[0]?.version).toBe(2n);
  });

  it('delete: counts and prev kvs; deleting nothing keeps the revision', async () => {
    const m = await open();
    await m.apply(R({ put: { key: b('a'), value: b('1') } }));
    await m.apply(R({ put: { key: b('b'), value: b('2') } }));
    const d = (await m.apply(R({ deleteRange: { key: b('a'), rangeEnd: b('c'), prevKv: true } }))).resp as etcdserverpb.DeleteRangeResponse;
    expect(d.deleted).toBe(2n);
    expect(d.prevKvs.map((kv) => kv.key.toString())).toEqual(['a', 'b']);
    expect(d.header?.revision).toBe(4n);
    const none = (await m.apply(R({ deleteRange: { key: b('a'), rangeEnd: b('c') } }))).resp as etcdserverpb.DeleteRangeResponse;
    expect([none.deleted, none.header?.revision]).toEqual([0n, 4n]);
  });

  it('txn: the compare picks the branch, all of its writes share one revision', async () => {
    const m = await open();
    await m.apply(R({ put: { key: b('k'), value: b('v') } }));
    const txn = (value: string) =>
      R({
        txn: {
          compare: [
            {
              key: b('k'),
              target: etcdserverpb.Compare_CompareTarget.VALUE,
              result: etcdserverpb.Compare_CompareResult.EQUAL,
              value: b(value),
            },
          ],
          success: [{ requestPut: { key: b('s1'), value: b('1') } }, { requestPut: { key: b('s2'), value: b('2') } }],
          failure: [{ requestRange: { key: b('k') } }],
        },
      });
    const ok = (await m.apply(txn('v'))).resp as etcdserverpb.TxnResponse;
    expect(ok.succeeded).toBe(true);
    expect(ok.header?.revision).toBe(3n);
    expect([(await m.get('s1'))[0]?.modRevision, (await m.get('s2'))[0]?.modRevision]).toEqual([3n, 3n]);
    const no = (await m.apply(txn('other'))).resp as etcdserverpb.TxnResponse;
    expect(no.succeeded).toBe(false);
    expect(no.responses[0]?.responseRange?.kvs[0]?.value.toString()).toBe('v');
    expect(no.header?.revision).toBe(3n);
  });

  it('leases: grant raises the TTL to the minimum, a duplicate is refused, revoke deletes the keys, checkpoint records', async () => {
    const m = await open();
    const g = (await m.apply(R({ leaseGrant: { ID: 7n, TTL: 1n } }))).resp as etcdserverpb.LeaseGrantResponse;
    expect([g.ID, g.TTL]).toEqual([7n, 5n]);
    expect(m.errName(await m.apply(R({ leaseGrant: { ID: 7n, TTL: 10n } })))).toBe('LeaseExist');
    expect(m.errName(await m.apply(R({ leaseGrant: { ID: 8n, TTL: 9_000_000_001n } })))).toBe('LeaseTTLTooLarge');
    await m.apply(R({ put: { key: b('k1'), value: b('v'), lease: 7n } }));
    await m.apply(R({ put: { key: b('k2'), value: b('v'), lease: 7n } }));
    await m.apply(R({ leaseCheckpoint: { checkpoints: [{ ID: 7n, remainingTTL: 3n }] } }));
    expect(m.lessor.lookup(7n)?.remainingTTL).toBe(3n);
    const rev = m.store.currentRev();
    await m.apply(R({ leaseRevoke: { ID: 7n } }));
    expect(m.store.currentRev()).toBe(rev + 1n); // both keys in one revision
    expect([await m.get('k1'), await m.get('k2')]).toEqual([[], []]);
    expect(m.lessor.lookup(7n)).toBeUndefined();
    expect(m.errName(await m.apply(R({ leaseRevoke: { ID: 7n } })))).toBe('LeaseNotFound');
  });

  it('alarms: NOSPACE refuses puts and grants but not deletes, until disarmed', async () => {
    const m = await open();
    const on = (await m.apply(R({ alarm: { action: ACTIVATE, memberID: 2n, alarm: NOSPACE } }))).resp as etcdserverpb.AlarmResponse;
    expect(on.alarms).toEqual([{ memberID: 2n, alarm: NOSPACE }]);
    const list = (await m.apply(R({ alarm: { action: GET, memberID: 0n, alarm: etcdserverpb.AlarmType.NONE } })))
      .resp as etcdserverpb.AlarmResponse;
    expect(list.alarms).toEqual([{ memberID: 2n, alarm: NOSPACE }]);
    expect(m.errName(await m.apply(R({ put: { key: b('k'), value: b('v') } })))).toBe('NoSpace');
    expect(m.errName(await m.apply(R({ leaseGrant: { ID: 1n, TTL: 10n } })))).toBe('NoSpace');
    expect(m.errName(await m.apply(R({ deleteRange: { key: b('k') } })))).toBeUndefined();
    await m.apply(R({ alarm: { action: DEACTIVATE, memberID: 2n, alarm: NOSPACE } }));
    expect(m.errName(await m.apply(R({ put: { key: b('k'), value: b('v') } })))).toBeUndefined();
  });

  it('compaction: compacts to a revision, refuses a compacted or future one', async () => {
    const m = await open();
    for (let i = 0; i < 4; i++) await m.apply(R({ put: { key: b('k'), value: b(`v${i}`) } }));
    const c = await m.apply(R({ compaction: { revision: 3n, physical: true } }));
    expect(c.err).toBeUndefined();
    await c.compacted;
    expect(m.store.compactRev()).toBe(3n);
    expect(m.errName(await m.apply(R({ compaction: { revision: 2n } })))).toMatch(/compacted/i);
    expect(m.errName(await m.apply(R({ compaction: { revision: 99n } })))).toMatch(/future/i);
  });

  it('member attributes from the log; other v2 requests are not served', async () => {
    const m = await open();
    const path = '/0/members/2/attributes';
    await m.apply(R({ v2: { Method: 'PUT', Path: path, Val: JSON.stringify({ name: 'n2', clientURLs: ['http://127.0.0.1:2379'] }) } }));
    expect(m.membership.get(2n)).toBeUndefined(); // attributes of an unknown member are not a member
    expect(m.errName(await m.apply(R({ v2: { Method: 'GET', Path: path } })))).toBe('NotCapable');
    expect(m.errName(await m.apply(R({})))).toBe('NotCapable');
  });
});

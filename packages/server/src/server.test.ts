// End-to-end tests of one in-process member over real gRPC on loopback.
import { etcdserverpb, ErrorText } from '@kv/api';
import { status, type ServiceError } from '@grpc/grpc-js';
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startHarness, until, type Harness } from './testutil/harness.js';

const b = (s: string) => Buffer.from(s);

async function expectRpcError(p: Promise<unknown>, code: status, text: string): Promise<void> {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as ServiceError | undefined;
  expect(err, `expected error ${text}`).toBeDefined();
  expect(err!.code).toBe(code);
  expect(err!.details).toBe(text);
}

describe('kv member', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ maxRequestBytes: 64 * 1024, maxTxnOps: 4 });
  });
  afterAll(async () => {
    await h?.close();
  });

  const put = (key: string, value: string, extra: Partial<etcdserverpb.PutRequest> = {}) =>
    call<etcdserverpb.PutRequest, etcdserverpb.PutResponse>(
      h.kv,
      'put',
      etcdserverpb.PutRequest.fromPartial({ key: b(key), value: b(value), ...extra }),
    );
  const range = (key: string, extra: Partial<etcdserverpb.RangeRequest> = {}) =>
    call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
      h.kv,
      'range',
      etcdserverpb.RangeRequest.fromPartial({ key: b(key), ...extra }),
    );

  it('puts and gets with etcd headers and revisions', async () => {
    const p1 = await put('a', '1');
    const p2 = await put('a', '2', { prevKv: true });
    expect(p2.header!.revision).toBe(p1.header!.revision + 1n);
    expect(p2.prevKv!.value.toString()).toBe('1');
    const r = await range('a');
    expect(r.kvs).toHaveLength(1);
    expect(r.kvs[0].value.toString()).toBe('2');
    expect(r.kvs[0].version).toBe(2n);
    expect(r.kvs[0].createRevision).toBe(p1.header!.revision);
    expect(r.header!.memberId).toBe(h.server.member.memberId);
    expect(r.header!.clusterId).toBe(h.server.member.clusterId);
  });

  it('rejects bad input with etcd errors and keeps serving', async () => {
    await expectRpcError(put('', 'x'), status.INVALID_ARGUMENT, ErrorText.EmptyKey);
    await expectRpcError(range(''), status.INVALID_ARGUMENT, ErrorText.EmptyKey);
    await expectRpcError(put('k', 'x', { lease: 12345n }), status.NOT_FOUND, ErrorText.LeaseNotFound);
    await expectRpcError(put('k', 'x', { ignoreValue: true }), status.INVALID_ARGUMENT, ErrorText.ValueProvided);
    await expectRpcError(put('k', 'x'.repeat(70 * 1024)), status.INVALID_ARGUMENT, ErrorText.RequestTooLarge);
    const rev = (await range('a')).header!.revision;
    await expectRpcError(range('a', { revision: rev + 10n }), status.OUT_OF_RANGE, ErrorText.FutureRev);
    const ops = Array.from({ length: 5 }, (_, i) => ({ requestPut: etcdserverpb.PutRequest.fromPartial({ key: b(`t${i}`) }) }));
    await expectRpcError(
      call(h.kv, 'txn', etcdserverpb.TxnRequest.fromPartial({ success: ops })),
      status.INVALID_ARGUMENT,
      ErrorText.TooManyOps,
    );
    expect((await put('still', 'ok')).header!.revision).toBeGreaterThan(rev);
  });

  it('survives garbage bytes on the client port', async () => {
    const [host, port] = h.endpoint.split(':');
    await new Promise<void>((resolve) => {
      const s = connect(Number(port), host, () => s.write(Buffer.from('\x16\x03\x01garbage\r\n\r\n\x00\xff'.repeat(10), 'latin1')));
      s.on('close', () => resolve());
      s.on('error', () => resolve());
      s.setTimeout(5000, () => s.destroy());
    });
    expect((await range('a')).kvs).toHaveLength(1);
  });

  it('serves /health and /version over HTTP on the client port', async () => {
    const health = await fetch(`http://${h.endpoint}/health`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ health: 'true', reason: '' });
    const version = (await (await fetch(`http://${h.endpoint}/version`)).json()) as Record<string, string>;
    expect(version.etcdserver).toMatch(/^3\.4\./);
    // etcd 3.5's probes: /livez (local read) and /readyz (no CORRUPT, local and quorum reads).
    const readyz = await fetch(`http://${h.endpoint}/readyz?verbose`);
    expect([readyz.status, await readyz.text()]).toEqual([
      200,
      '[+]data_corruption ok\n[+]serializable_read ok\n[+]linearizable_read ok\nok\n',
    ]);
    const livez = await fetch(`http://${h.endpoint}/livez`);
    expect([livez.status, await livez.text()]).toEqual([200, 'ok\n']);
    const post = await fetch(`http://${h.endpoint}/health`, { method: 'POST' });
    expect([post.status, post.headers.get('allow')]).toEqual([405, 'GET']);
    expect(version.etcdcluster).toBe('3.4.0');
  });

  it('runs txns with compares and branches', async () => {
    await put('tx', 'v1');
    const txn = (value: string) =>
      call<etcdserverpb.TxnRequest, etcdserverpb.TxnResponse>(
        h.kv,
        'txn',
        etcdserverpb.TxnRequest.fromPartial({
          compare: [
            {
              key: b('tx'),
              target: etcdserverpb.Compare_CompareTarget.VALUE,
              result: etcdserverpb.Compare_CompareResult.EQUAL,
              value: b(value),
            },
          ],
          success: [{ requestPut: { key: b('tx'), value: b('v2') } }],
          failure: [{ requestRange: { key: b('tx') } }],
        }),
      );
    const ok = await txn('v1');
    expect(ok.succeeded).toBe(true);
    const no = await txn('v1');
    expect(no.succeeded).toBe(false);
    expect(no.responses[0].responseRange!.kvs[0].value.toString()).toBe('v2');
  });

  it("serves read-only txns without the log, at one revision, with etcd's errors", async () => {
    await put('ro1', 'a');
    const last = await put('ro2', 'b');
    const member = h.server.member;
    const before = member.consensus.commitIndex();
    const ro = (r: etcdserverpb.TxnRequest) => call<etcdserverpb.TxnRequest, etcdserverpb.TxnResponse>(h.kv, 'txn', r);
    const T = etcdserverpb.TxnRequest.fromPartial;
    const res = await ro(
      T({
        compare: [
          {
            key: b('ro1'),
            target: etcdserverpb.Compare_CompareTarget.VALUE,
            result: etcdserverpb.Compare_CompareResult.EQUAL,
            value: b('a'),
          },
        ],
        success: [{ requestRange: { key: b('ro1') } }, { requestRange: { key: b('ro'), rangeEnd: b('rp') } }],
        failure: [{ requestRange: { key: b('ro2') } }],
      }),
    );
    expect(res.succeeded).toBe(true);
    expect(res.header!.revision).toBe(last.header!.revision);
    expect(res.responses[0]!.responseRange!.kvs[0]!.value.toString()).toBe('a');
    expect(res.responses[1]!.responseRange!.kvs.map((kv) => kv.key.toString())).toEqual(['ro1', 'ro2']);
    const ser = await ro(T({ success: [{ requestRange: { key: b('ro2'), serializable: true } }] }));
    expect(ser.responses[0]!.responseRange!.kvs[0]!.value.toString()).toBe('b');
    // Neither took a log slot (a write txn does).
    expect(member.consensus.commitIndex()).toBe(before);
    await expectRpcError(
      ro(T({ success: [{ requestRange: { key: b('ro1'), revision: last.header!.revision + 5n } }] })),
      status.OUT_OF_RANGE,
      ErrorText.FutureRev,
    );
    await ro(T({ success: [{ requestPut: { key: b('ro3'), value: b('c') } }] }));
    expect(member.consensus.commitIndex()).toBeGreaterThan(before);
  });

  it('compacts, then refuses compacted revisions', async () => {
    const p = await put('c', '1');
    await put('c', '2');
    await call(h.kv, 'compact', { revision: p.header!.revision, physical: true });
    await expectRpcError(range('c', { revision: p.header!.revision - 1n }), status.OUT_OF_RANGE, ErrorText.Compacted);
    await expectRpcError(
      call(h.kv, 'compact', { revision: p.header!.revision, physical: false }),
      status.OUT_OF_RANGE,
      ErrorText.Compacted,
    );
    expect((await range('c', { revision: p.header!.revision })).kvs[0].value.toString()).toBe('1');
  });

  it('watches: created, events, cancel', async () => {
    const stream = h.watch.watch();
    const got: etcdserverpb.WatchResponse[] = [];
    stream.on('data', (r: etcdserverpb.WatchResponse) => got.push(r));
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b('w'), prevKv: true } }));
    await until('watch created', async () => (got.some((r) => r.created) ? true : undefined));
    await put('w', 'x');
    await put('w', 'y');
    await until('two events', async () => (got.flatMap((r) => r.events).length >= 2 ? true : undefined));
    const evs = got.flatMap((r) => r.events);
    expect(evs.map((e) => e.kv!.value.toString())).toEqual(['x', 'y']);
    expect(evs[1].prevKv!.value.toString()).toBe('x');
    stream.write(etcdserverpb.WatchRequest.fromPartial({ cancelRequest: { watchId: got[0].watchId } }));
    await until('cancel response', async () => (got.some((r) => r.canceled) ? true : undefined));
    stream.end();
  });

  it('cancels a watch from a compacted revision with the compact revision', async () => {
    const stream = h.watch.watch();
    const got: etcdserverpb.WatchResponse[] = [];
    stream.on('data', (r: etcdserverpb.WatchResponse) => got.push(r));
    stream.write(etcdserverpb.WatchRequest.fromPartial({ createRequest: { key: b('c'), startRevision: 1n } }));
    const canceled = await until('compacted cancel', async () => got.find((r) => r.canceled));
    expect(got[0].created).toBe(true);
    expect(canceled.compactRevision).toBe(h.server.member.store.compactRev());
    stream.end();
  });

  it('leases: grant, attach, time-to-live, revoke deletes keys', async () => {
    const g = await call<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(h.lease, 'leaseGrant', { TTL: 60n, ID: 0n });
    expect(g.ID).toBeGreaterThan(0n);
    expect(g.TTL).toBe(60n);
    await put('leased', 'v', { lease: g.ID });
    const ttl = await call<etcdserverpb.LeaseTimeToLiveRequest, etcdserverpb.LeaseTimeToLiveResponse>(h.lease, 'leaseTimeToLive', {
      ID: g.ID,
      keys: true,
    });
    expect(ttl.grantedTTL).toBe(60n);
    expect(ttl.keys.map((k) => k.toString())).toEqual(['leased']);
    await call(h.lease, 'leaseRevoke', { ID: g.ID });
    expect((await range('leased')).kvs).toHaveLength(0);
    await expectRpcError(call(h.lease, 'leaseRevoke', { ID: g.ID }), status.NOT_FOUND, ErrorText.LeaseNotFound);
    const gone = await call<etcdserverpb.LeaseTimeToLiveRequest, etcdserverpb.LeaseTimeToLiveResponse>(h.lease, 'leaseTimeToLive', {
      ID: g.ID,
      keys: true,
    });
    expect(gone.TTL).toBe(-1n);
  });

  it('expires leases and deletes their keys', async () => {
    const g = await call<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(h.lease, 'leaseGrant', { TTL: 1n, ID: 0n });
    expect(g.TTL).toBe(2n); // raised to the minimum TTL, as etcd does
    await put('short', 'v', { lease: g.ID });
    await until('lease keys deleted', async () => ((await range('short')).kvs.length === 0 ? true : undefined), 20_000);
  });

  it('keeps everything across a restart', async () => {
    const g = await call<etcdserverpb.LeaseGrantRequest, etcdserverpb.LeaseGrantResponse>(h.lease, 'leaseGrant', { TTL: 600n, ID: 0n });
    await put('persist', 'yes', { lease: g.ID });
    const before = await range('\0', { rangeEnd: b('\0') });
    const hashBefore = await call<etcdserverpb.HashKVRequest, etcdserverpb.HashKVResponse>(h.maint, 'hashKv', { revision: 0n });
    await h.restart();
    const after = await range('\0', { rangeEnd: b('\0') });
    expect(after.header!.revision).toBe(before.header!.revision);
    expect(after.kvs).toEqual(before.kvs);
    const hashAfter = await call<etcdserverpb.HashKVRequest, etcdserverpb.HashKVResponse>(h.maint, 'hashKv', { revision: 0n });
    expect(hashAfter.hash).toBe(hashBefore.hash);
    const ttl = await call<etcdserverpb.LeaseTimeToLiveRequest, etcdserverpb.LeaseTimeToLiveResponse>(h.lease, 'leaseTimeToLive', {
      ID: g.ID,
      keys: true,
    });
    expect(ttl.TTL).toBeGreaterThan(500n);
    expect(ttl.TTL).toBeLessThanOrEqual(601n);
    expect(ttl.keys.map((k) => k.toString())).toEqual(['persist']);
    expect(h.server.member.store.compactRev()).toBeGreaterThan(0n);
  });

  it('answers status, member list, alarms and snapshot', async () => {
    const st = await call<etcdserverpb.StatusRequest, etcdserverpb.StatusResponse>(h.maint, 'status', {});
    expect(st.leader).toBe(h.server.member.memberId);
    expect(st.raftIndex).toBeGreaterThan(0n);
    expect(st.dbSize).toBeGreaterThan(0n);
    const ml = await call<etcdserverpb.MemberListRequest, etcdserverpb.MemberListResponse>(h.cluster, 'memberList', {
      linearizable: false,
    });
    expect(ml.members).toHaveLength(1);
    expect(ml.members[0].name).toBe('t');
    const al = await call<etcdserverpb.AlarmRequest, etcdserverpb.AlarmResponse>(h.maint, 'alarm', { action: 0, memberID: 0n, alarm: 0 });
    expect(al.alarms).toEqual([]);
    const chunks: etcdserverpb.SnapshotResponse[] = [];
    await new Promise<void>((resolve, reject) => {
      const s = h.maint.snapshot({});
      s.on('data', (c: etcdserverpb.SnapshotResponse) => chunks.push(c));
      s.on('end', () => resolve());
      s.on('error', reject);
    });
    expect(chunks.length).toBeGreaterThan(1);
    expect(chunks.at(-1)!.remainingBytes).toBe(0n);
    expect(chunks.at(-1)!.blob.length).toBe(32);
  });
});

describe('data dir', () => {
  it('refuses a second member on the same data dir', async () => {
    const h = await startHarness();
    await expect(startHarness({}, h.dataDir)).rejects.toThrow(/in use by another process|lock/);
    await h.close();
  });
});

// --quota-backend-bytes is checked against the backend's exact size: NOSPACE comes near the
// quota (etcd 3.4 on the same fill: 6.0 MiB accepted under 8 MiB), and after delete, compact,
// defragment and disarm, puts are accepted at once, without a restart.
import { ErrorText, etcdserverpb } from '@kv/api';
import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { call, startHarness, type Harness } from './testutil/harness.js';
import { fillWithPuts } from './testutil/space.js';

const MiB = 1024 * 1024;
const NOSPACE = etcdserverpb.AlarmType.NOSPACE;

describe('backend quota', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ quotaBackendBytes: 8 * MiB });
  });
  afterAll(async () => {
    await h?.close();
  });

  const alarms = async () =>
    (
      await call<etcdserverpb.AlarmRequest, etcdserverpb.AlarmResponse>(
        h.maint,
        'alarm',
        etcdserverpb.AlarmRequest.fromPartial({ action: etcdserverpb.AlarmRequest_AlarmAction.GET }),
      )
    ).alarms;

  it('refuses puts near the quota, and accepts them again at once after delete, compact, defrag and disarm', {
    timeout: 120_000,
  }, async () => {
    const fill = await fillWithPuts(h, 'q/', 32 * MiB);
    expect(fill.err, `accepted ${fill.accepted} bytes without NOSPACE`).toBeDefined();
    expect(fill.err!.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(fill.err!.details).toBe(ErrorText.NoSpace);
    // Not far past the quota: what was in flight at the last check at most.
    expect(fill.accepted).toBeGreaterThan(4 * MiB);
    expect(fill.accepted).toBeLessThan(10 * MiB);
    const ours = (await alarms()).filter((a) => a.alarm === NOSPACE && a.memberID === h.server.member.memberId);
    expect(ours).toHaveLength(1);

    const del = await call<etcdserverpb.DeleteRangeRequest, etcdserverpb.DeleteRangeResponse>(
      h.kv,
      'deleteRange',
      etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.from('q/'), rangeEnd: Buffer.from('q0') }),
    );
    expect(del.deleted).toBeGreaterThan(0n);
    await call(h.kv, 'compact', etcdserverpb.CompactionRequest.fromPartial({ revision: del.header!.revision, physical: true }));
    await call(h.maint, 'defragment', {});
    await call(
      h.maint,
      'alarm',
      etcdserverpb.AlarmRequest.fromPartial({
        action: etcdserverpb.AlarmRequest_AlarmAction.DEACTIVATE,
        memberID: h.server.member.memberId,
        alarm: NOSPACE,
      }),
    );
    expect(await alarms()).toEqual([]);
    // At once: no size refresh to wait for.
    const r = await call<etcdserverpb.PutRequest, etcdserverpb.PutResponse>(
      h.kv,
      'put',
      etcdserverpb.PutRequest.fromPartial({ key: Buffer.from('after'), value: Buffer.alloc(1024, 1) }),
    );
    expect(r.header!.revision).toBeGreaterThan(del.header!.revision);
  });
});

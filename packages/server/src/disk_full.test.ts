// A member on a small or full file system (a tmpfs mounted for the test; needs root, skipped with
// the reason otherwise): it starts on 20 MiB leaving nothing partial, refuses writes with NOSPACE
// before the disk is full, refuses everything when someone else filled it, keeps serving reads,
// and takes writes again once space is back and the alarm is disarmed; a WAL write refused for
// lack of space waits (the member refusing requests and serving reads) and then goes through.
import { ErrorText, etcdserverpb } from '@kv/api';
import { status, type ServiceError } from '@grpc/grpc-js';
import { statfsSync } from 'node:fs';
import { open, readdir, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { call, startHarness, until, type Harness } from './testutil/harness.js';
import { fillUp, mountSmallFs, type SmallFs } from '@kv/testkit';
import { fillWithPuts } from './testutil/space.js';

const MiB = 1024 * 1024;
const NOSPACE = etcdserverpb.AlarmType.NOSPACE;
const { GET, DEACTIVATE } = etcdserverpb.AlarmRequest_AlarmAction;

const mounts: SmallFs[] = [];
const harnesses: Harness[] = [];
afterAll(async () => {
  for (const h of harnesses.splice(0)) await h.close().catch(() => undefined);
  for (const m of mounts.splice(0)) m.unmount();
});

const probe = mountSmallFs(1);
const skip = typeof probe === 'string' ? probe : undefined;
if (typeof probe !== 'string') probe.unmount();
const skipNote = skip ? ` (skipped: ${skip})` : '';

async function smallFsHarness(mib: number): Promise<{ m: SmallFs; h: Harness }> {
  const m = mountSmallFs(mib) as SmallFs;
  mounts.push(m);
  // Real fsyncs: the WAL then preallocates, or decides not to, as in production.
  const h = await startHarness({ unsafeNoFsync: false }, join(m.dir, 'data'));
  harnesses.push(h);
  return { m, h };
}

async function filesUnder(dir: string): Promise<{ path: string; size: number }[]> {
  const out: { path: string; size: number }[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (!e.isFile()) continue;
    const path = join(e.path, e.name);
    out.push({ path, size: (await stat(path)).size });
  }
  return out;
}

const put = (h: Harness, key: string, value = Buffer.alloc(16, 7)) =>
  call<etcdserverpb.PutRequest, etcdserverpb.PutResponse>(
    h.kv,
    'put',
    etcdserverpb.PutRequest.fromPartial({ key: Buffer.from(key), value }),
  );
const get = (h: Harness, key: string, serializable: boolean) =>
  call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(
    h.kv,
    'range',
    etcdserverpb.RangeRequest.fromPartial({ key: Buffer.from(key), serializable }),
  );
const alarmList = async (h: Harness) =>
  (
    await call<etcdserverpb.AlarmRequest, etcdserverpb.AlarmResponse>(
      h.maint,
      'alarm',
      etcdserverpb.AlarmRequest.fromPartial({ action: GET }),
    )
  ).alarms;
const statusOf = (h: Harness) => call<etcdserverpb.StatusRequest, etcdserverpb.StatusResponse>(h.maint, 'status', {});

/** Whether the member's WAL waits for space (read loosely, so that the test runs on older code). */
const walWaiting = (h: Harness) => (h.server.member as unknown as { space?: { walWaiting: boolean } }).space?.walWaiting === true;

async function expectNoSpace(p: Promise<unknown>): Promise<void> {
  const err = (await p.then(
    () => undefined,
    (e: unknown) => e,
  )) as ServiceError | undefined;
  expect(err, 'expected NOSPACE').toBeDefined();
  expect(err!.code).toBe(status.RESOURCE_EXHAUSTED);
  expect(err!.details).toBe(ErrorText.NoSpace);
}

describe('a full disk', () => {
  it.skipIf(skip !== undefined)(`starts on a 20 MiB file system and leaves no partial file${skipNote}`, { timeout: 60_000 }, async () => {
    const { m, h } = await smallFsHarness(20);
    await put(h, 'k', Buffer.alloc(1024, 1));
    expect((await get(h, 'k', false)).kvs).toHaveLength(1);
    await h.close();
    harnesses.splice(harnesses.indexOf(h), 1);
    const files = await filesUnder(m.dir);
    expect(files.filter((f) => f.path.endsWith('.tmp'))).toEqual([]);
    // No 64 MB segment cut short at the size of the disk: the WAL did not preallocate.
    const total = files.reduce((n, f) => n + f.size, 0);
    expect(total).toBeLessThan(4 * MiB);
  });

  it.skipIf(skip !== undefined)(
    `on 100 MiB: refuses writes before the disk is full, serves reads, refuses all when full, recovers${skipNote}`,
    { timeout: 120_000 },
    async () => {
      const { m, h } = await smallFsHarness(100);
      await put(h, 'before', Buffer.from('v'));
      // Leave about 16 MiB free, then fill with puts: refused with NOSPACE before the disk fills.
      await fillUp(join(m.dir, 'filler-1'));
      await rm(join(m.dir, 'filler-1'));
      const free = statfsSync(m.dir).bavail * statfsSync(m.dir).bsize;
      await fillUp(join(m.dir, 'filler-2')); // all of it
      await rm(join(m.dir, 'filler-2'));
      const keep = 16 * MiB;
      const filler = await open(join(m.dir, 'filler-3'), 'w');
      const chunk = Buffer.alloc(MiB, 0x5a);
      for (let i = 0; i < Math.floor((free - keep) / MiB); i++) await filler.write(chunk, 0, chunk.length, i * MiB);
      await filler.close();
      const fill = await fillWithPuts(h, 'f/', 64 * MiB);
      expect(fill.err, `accepted ${fill.accepted} bytes without NOSPACE`).toBeDefined();
      expect(fill.err!.details).toBe(ErrorText.NoSpace);
      expect(fill.accepted).toBeGreaterThan(0);
      await until('NOSPACE alarm raised', async () => ((await alarmList(h)).some((a) => a.alarm === NOSPACE) ? true : undefined));
      expect((await get(h, 'before', false)).kvs[0]!.value.toString()).toBe('v');

      // Now the disk fills completely (someone else's file): every write is refused, deletes
      // too (a LevelDB commit must not meet a full disk); the member stays up and serves reads.
      await fillUp(join(m.dir, 'filler-4'));
      await expectNoSpace(put(h, 'refused'));
      await expectNoSpace(call(h.kv, 'deleteRange', etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.from('before') })));
      expect((await get(h, 'before', true)).kvs).toHaveLength(1);
      expect((await get(h, 'before', false)).kvs).toHaveLength(1);
      const st = await statusOf(h);
      expect(st.errors.join('\n')).toMatch(/alarm:NOSPACE/);
      expect(walWaiting(h)).toBe(false);

      // Space returns: deletes go through at once.
      for (const f of ['filler-3', 'filler-4']) await rm(join(m.dir, f));
      const r = await call<etcdserverpb.DeleteRangeRequest, etcdserverpb.DeleteRangeResponse>(
        h.kv,
        'deleteRange',
        etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.from('f/'), rangeEnd: Buffer.from('f0') }),
      );
      expect(r.deleted).toBeGreaterThan(0n);
      // The alarm is replicated; the operator disarms it, as in etcd, and writes work again.
      await until('NOSPACE alarm in the log', async () => ((await alarmList(h)).some((a) => a.alarm === NOSPACE) ? true : undefined));
      await expectNoSpace(put(h, 'still-armed'));
      await call(
        h.maint,
        'alarm',
        etcdserverpb.AlarmRequest.fromPartial({ action: DEACTIVATE, memberID: h.server.member.memberId, alarm: NOSPACE }),
      );
      expect(await alarmList(h)).toEqual([]);
      const p = await put(h, 'after', Buffer.alloc(1024, 2));
      expect(p.header!.revision).toBeGreaterThan(r.header!.revision);
      expect((await get(h, 'after', false)).kvs).toHaveLength(1);
    },
  );

  it.skipIf(skip !== undefined)(
    `a WAL write refused for lack of space: the member waits, refuses requests, serves reads, then carries on${skipNote}`,
    { timeout: 120_000 },
    async () => {
      const { m, h } = await smallFsHarness(40);
      await put(h, 'before', Buffer.from('v'));
      // Leave about 1.2 MiB free (above the 1 MiB floor), then send a delete whose WAL record
      // (a 1.4 MiB key) does not fit: the request passes the checks, the WAL write does not.
      const gap = await open(join(m.dir, 'gap'), 'w');
      await gap.write(Buffer.alloc(1200 * 1024, 1), 0, 1200 * 1024, 0);
      await gap.close();
      await fillUp(join(m.dir, 'filler'));
      await rm(join(m.dir, 'gap'));
      let answered = false;
      const del = call<etcdserverpb.DeleteRangeRequest, etcdserverpb.DeleteRangeResponse>(
        h.kv,
        'deleteRange',
        etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.alloc(1400 * 1024, 0x61) }),
      ).finally(() => (answered = true));
      del.catch(() => undefined);
      await until('the WAL waits for space', async () => (walWaiting(h) ? true : undefined), 30_000);
      expect(answered).toBe(false);
      await expectNoSpace(put(h, 'refused'));
      await expectNoSpace(call(h.kv, 'deleteRange', etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.from('before') })));
      expect((await get(h, 'before', true)).kvs).toHaveLength(1);
      expect((await get(h, 'before', false)).kvs).toHaveLength(1); // one member: from its applied state
      expect((await statusOf(h)).errors.join('\n')).toMatch(/alarm:NOSPACE/);
      expect((await alarmList(h)).some((a) => a.alarm === NOSPACE && a.memberID === h.server.member.memberId)).toBe(true);
      expect(answered).toBe(false);

      await rm(join(m.dir, 'filler'));
      const r = await del;
      expect(r.deleted).toBe(0n);
      expect(walWaiting(h)).toBe(false);
      await until('NOSPACE alarm in the log', async () => ((await alarmList(h)).some((a) => a.alarm === NOSPACE) ? true : undefined));
      await call(
        h.maint,
        'alarm',
        etcdserverpb.AlarmRequest.fromPartial({ action: DEACTIVATE, memberID: h.server.member.memberId, alarm: NOSPACE }),
      );
      const p = await put(h, 'after', Buffer.from('w'));
      expect(p.header!.revision).toBeGreaterThan(r.header!.revision);
      expect((await get(h, 'before', false)).kvs).toHaveLength(1);
    },
  );

  it.skipIf(skip !== undefined)(
    `stops cleanly while the WAL waits for space, and restarts once there is space${skipNote}`,
    { timeout: 120_000 },
    async () => {
      const { m, h } = await smallFsHarness(40);
      await put(h, 'before', Buffer.from('v'));
      const gap = await open(join(m.dir, 'gap'), 'w');
      await gap.write(Buffer.alloc(1200 * 1024, 1), 0, 1200 * 1024, 0);
      await gap.close();
      await fillUp(join(m.dir, 'filler'));
      await rm(join(m.dir, 'gap'));
      const del = call(h.kv, 'deleteRange', etcdserverpb.DeleteRangeRequest.fromPartial({ key: Buffer.alloc(1400 * 1024, 0x61) }));
      del.catch(() => undefined);
      await until('the WAL waits for space', async () => (walWaiting(h) ? true : undefined), 30_000);
      await h.close(); // must not wait for space (nor exit the process)
      harnesses.splice(harnesses.indexOf(h), 1);
      await expect(del).rejects.toBeDefined(); // never acknowledged
      await rm(join(m.dir, 'filler'));
      const again = await startHarness({ unsafeNoFsync: false }, join(m.dir, 'data'));
      harnesses.push(again);
      expect((await get(again, 'before', false)).kvs[0]!.value.toString()).toBe('v');
      const p = await put(again, 'after', Buffer.from('w'));
      expect(p.header!.revision).toBeGreaterThan(1n);
    },
  );
});

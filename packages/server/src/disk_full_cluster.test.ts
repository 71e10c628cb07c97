// A three-member cluster (in one process) where one member's file system runs low (a tmpfs
// mounted for the test; needs root, skipped with the reason otherwise): that member refuses
// writes and raises NOSPACE through the log, so every member refuses them; reads go on
// everywhere; after space is freed and the alarm disarmed, writes work through every member.
import { ErrorText, etcdserverpb } from '@kv/api';
import { credentials, status, type ServiceError } from '@grpc/grpc-js';
import { mkdtempSync, rmSync, statfsSync } from 'node:fs';
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveConfig } from './config.js';
import type { KvServer } from './server.js';
import { call, startTestServers, until } from './testutil/harness.js';
import { mountSmallFs, type SmallFs } from '@kv/testkit';

const b = (s: string) => Buffer.from(s);
const MiB = 1024 * 1024;
const NOSPACE = etcdserverpb.AlarmType.NOSPACE;
const { GET, DEACTIVATE } = etcdserverpb.AlarmRequest_AlarmAction;

const probe = mountSmallFs(1);
const skip = typeof probe === 'string' ? probe : undefined;
if (typeof probe !== 'string') probe.unmount();

describe('three-member cluster, one member short of space', () => {
  const dir = mkdtempSync(join(tmpdir(), 'kv-cluster-space-'));
  const servers: (KvServer | undefined)[] = [];
  let small: SmallFs | undefined;
  afterAll(async () => {
    await Promise.all(servers.map((s) => s?.stop().catch(() => undefined)));
    small?.unmount();
    rmSync(dir, { recursive: true, force: true });
  });
  const kv = (i: number) => new etcdserverpb.KVClient(`127.0.0.1:${servers[i]!.clientPorts[0]}`, credentials.createInsecure());
  const maint = (i: number) => new etcdserverpb.MaintenanceClient(`127.0.0.1:${servers[i]!.clientPorts[0]}`, credentials.createInsecure());
  const put = (i: number, key: string) =>
    call(kv(i), 'put', etcdserverpb.PutRequest.fromPartial({ key: b(key), value: Buffer.alloc(64, 1) }));
  const get = (i: number, key: string) =>
    call<etcdserverpb.RangeRequest, etcdserverpb.RangeResponse>(kv(i), 'range', etcdserverpb.RangeRequest.fromPartial({ key: b(key) }));
  const alarms = async (i: number) =>
    (
      await call<etcdserverpb.AlarmRequest, etcdserverpb.AlarmResponse>(
        maint(i),
        'alarm',
        etcdserverpb.AlarmRequest.fromPartial({ action: GET }),
      )
    ).alarms;
  const refusal = (p: Promise<unknown>) =>
    p.then(
      () => undefined,
      (e: unknown) => e as ServiceError,
    );

  it.skipIf(skip !== undefined)(
    `raises NOSPACE for the member short of space, refuses writes everywhere, recovers${skip ? ` (skipped: ${skip})` : ''}`,
    { timeout: 120_000 },
    async () => {
      small = mountSmallFs(40) as SmallFs;
      const names = ['n1', 'n2', 'n3'];
      const started = await startTestServers(names, (name, i, { clientUrl, peerUrl, initialCluster }) =>
        resolveConfig({
          name,
          dataDir: i === 2 ? join(small!.dir, name) : join(dir, name),
          listenClientUrls: [clientUrl],
          advertiseClientUrls: [clientUrl],
          listenPeerUrls: [peerUrl],
          initialAdvertisePeerUrls: [peerUrl],
          initialCluster,
          initialClusterToken: 'space-cluster',
          unsafeNoFsync: true,
        }),
      );
      servers.push(...started);
      for (let i = 0; i < 3; i++) await until('put', () => put(i, `k${i}`));

      // Leave n3 about 4 MiB: under the 8 MiB reserve, above the 1 MiB floor.
      const st = statfsSync(small.dir);
      const fill = await open(join(small.dir, 'filler'), 'w');
      const chunk = Buffer.alloc(MiB, 0x5a);
      for (let off = 0; off < st.bavail * st.bsize - 4 * MiB; off += MiB) await fill.write(chunk, 0, MiB, off);
      await fill.close();

      const e3 = await refusal(put(2, 'refused'));
      expect(e3?.code).toBe(status.RESOURCE_EXHAUSTED);
      expect(e3?.details).toBe(ErrorText.NoSpace);
      const n3 = servers[2]!.member.memberId;
      await until('NOSPACE of n3 replicated', async () =>
        (await alarms(0)).some((a) => a.alarm === NOSPACE && a.memberID === n3) ? true : undefined,
      );
      // The alarm is in everyone's state: n1, with space, refuses puts too (as etcd's members do).
      await until('n1 refuses puts', async () =>
        (await refusal(put(0, 'refused-too')))?.details === ErrorText.NoSpace ? true : undefined,
      );
      for (let i = 0; i < 3; i++) expect((await get(i, 'k0')).kvs).toHaveLength(1);

      await rm(join(small.dir, 'filler'));
      await call(maint(0), 'alarm', etcdserverpb.AlarmRequest.fromPartial({ action: DEACTIVATE, memberID: n3, alarm: NOSPACE }));
      for (let i = 0; i < 3; i++) await until(`put via n${i + 1}`, () => put(i, `after${i}`));
      expect((await get(2, 'after0')).kvs).toHaveLength(1);
    },
  );
});
